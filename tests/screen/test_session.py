"""Desktop session detection over a table of environments, and the live-desktop refusal."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from qwen3vl_agent.screen.session import (
    DesktopSession,
    WaylandSessionError,
    detect_session,
    require_x11_live_desktop,
)

RUN = "/run/user/1000"


def only(*paths: str):  # type: ignore[no-untyped-def]
    """An `exists` that sees exactly these paths (the Wayland sockets of the case)."""
    return lambda p: p in paths


CASES = [
    # env, sockets present, kind, compositor
    ({}, (), "none", None),
    ({"DISPLAY": ":0", "XDG_SESSION_TYPE": "x11", "XDG_CURRENT_DESKTOP": "XFCE"}, (), "x11", "Xfce"),
    (
        {
            "DISPLAY": ":0",
            "WAYLAND_DISPLAY": "wayland-0",
            "XDG_RUNTIME_DIR": RUN,
            "XDG_SESSION_TYPE": "wayland",
            "XDG_CURRENT_DESKTOP": "ubuntu:GNOME",
        },
        (f"{RUN}/wayland-0",),
        "wayland+xwayland",
        "GNOME",
    ),
    (
        {"WAYLAND_DISPLAY": "wayland-1", "XDG_RUNTIME_DIR": RUN, "XDG_CURRENT_DESKTOP": "KDE"},
        (f"{RUN}/wayland-1",),
        "wayland",
        "KDE Plasma",
    ),
    (
        {"WAYLAND_DISPLAY": "wayland-1", "XDG_RUNTIME_DIR": RUN, "SWAYSOCK": "/x", "DISPLAY": ":1"},
        (f"{RUN}/wayland-1",),
        "wayland+xwayland",
        "sway",
    ),
    (
        {"WAYLAND_DISPLAY": "wayland-1", "XDG_RUNTIME_DIR": RUN, "HYPRLAND_INSTANCE_SIGNATURE": "abc"},
        (f"{RUN}/wayland-1",),
        "wayland",
        "Hyprland",
    ),
    (
        {"WAYLAND_DISPLAY": "/tmp/w/sock", "DESKTOP_SESSION": "plasmawayland"},
        ("/tmp/w/sock",),
        "wayland",
        "KDE Plasma",
    ),
    # a stale WAYLAND_DISPLAY (no socket, session type not wayland) on an X11 session: X11
    ({"DISPLAY": ":0", "WAYLAND_DISPLAY": "wayland-0", "XDG_RUNTIME_DIR": RUN}, (), "x11", None),
    # no runtime dir to look in, but the session type says Wayland
    (
        {"DISPLAY": ":0", "WAYLAND_DISPLAY": "wayland-0", "XDG_SESSION_TYPE": "wayland"},
        (),
        "wayland+xwayland",
        None,
    ),
    # an X11 session inside a Wayland login (ssh -X style DISPLAY only)
    ({"DISPLAY": "localhost:10.0", "XDG_SESSION_TYPE": "tty"}, (), "x11", None),
]


@pytest.mark.parametrize(("env", "sockets", "kind", "compositor"), CASES)
def test_detect_session(
    env: dict[str, str], sockets: tuple[str, ...], kind: str, compositor: str | None
) -> None:
    s = detect_session(env, platform="linux", exists=only(*sockets))
    assert s.kind == kind
    assert s.compositor == compositor
    assert s.is_wayland == kind.startswith("wayland")
    assert s.has_x11 == bool(env.get("DISPLAY"))


def test_compositor_from_wlroots_and_descriptions() -> None:
    s = detect_session(
        {"WAYLAND_DISPLAY": "w", "XDG_RUNTIME_DIR": RUN, "XDG_CURRENT_DESKTOP": "wlroots"},
        platform="linux",
        exists=only(f"{RUN}/w"),
    )
    assert s.compositor == "wlroots" and s.describe() == "Wayland only (wlroots)"
    assert DesktopSession("x11").describe() == "X11"
    assert DesktopSession("none").describe() == "no desktop session"


def test_a_real_socket_file_is_found(tmp_path: Path) -> None:
    """The default `exists` looks at the file system: a listening Unix socket counts."""
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(tmp_path / "wayland-7"))
        env = {"WAYLAND_DISPLAY": "wayland-7", "XDG_RUNTIME_DIR": str(tmp_path), "DISPLAY": ":5"}
        assert detect_session(env, platform="linux").kind == "wayland+xwayland"
    assert (
        detect_session(
            {"WAYLAND_DISPLAY": "wayland-8", "XDG_RUNTIME_DIR": str(tmp_path)}, platform="linux"
        ).kind
        == "none"
    )


def test_other_platforms_are_never_wayland() -> None:
    assert (
        detect_session({"WAYLAND_DISPLAY": "w", "XDG_SESSION_TYPE": "wayland"}, platform="darwin").kind
        == "none"
    )


def test_refusal_and_override() -> None:
    xwayland = DesktopSession("wayland+xwayland", "GNOME", ":0", "wayland-0")
    with pytest.raises(WaylandSessionError) as info:
        require_x11_live_desktop("capture the screen", allow_xwayland=False, session=xwayland)
    text = str(info.value)
    assert "Wayland + XWayland (GNOME)" in text and "xdg-desktop-portal" in text
    assert "--workspace" in text and "allow_xwayland" in text
    assert info.value.session is xwayland
    require_x11_live_desktop("capture the screen", allow_xwayland=True, session=xwayland)  # proceeds
    # Wayland only: no XWayland to fall back to, so the override does not apply nor is offered
    bare = DesktopSession("wayland", None, None, "wayland-0")
    with pytest.raises(WaylandSessionError) as info:
        require_x11_live_desktop("capture the screen", allow_xwayland=True, session=bare)
    assert "allow_xwayland" not in str(info.value)
    for fine in (DesktopSession("x11", None, ":0"), DesktopSession("none")):
        require_x11_live_desktop("capture the screen", allow_xwayland=False, session=fine)
