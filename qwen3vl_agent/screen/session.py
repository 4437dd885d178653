"""Which desktop session this process runs in: X11, Wayland with XWayland, Wayland only, or none.

The one place that reads DISPLAY / WAYLAND_DISPLAY / XDG_SESSION_TYPE to decide that. It matters
because on a Wayland session XWayland's root window holds only X11 clients' pixels (native
Wayland windows are black there) and XTest events reach only X11 clients: capturing or acting on
the live desktop through X11 there would leave the agent blind without saying so. The
compositor's screen-cast / remote-desktop API is used instead (`live_desktop_route`): GNOME's
own, or xdg-desktop-portal's (KDE Plasma, wlroots desktops). Agent
workspaces are their own X servers and work on any session.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from qwen3vl_agent.errors import UserFacingError

SessionKind = Literal["x11", "wayland+xwayland", "wayland", "none"]

# Desktop names as XDG_CURRENT_DESKTOP / DESKTOP_SESSION spell them (lower case) -> shown name.
_COMPOSITORS: tuple[tuple[str, str], ...] = (
    ("gnome", "GNOME"),
    ("ubuntu", "GNOME"),
    ("unity", "GNOME"),
    ("kde", "KDE Plasma"),
    ("plasma", "KDE Plasma"),
    ("hyprland", "Hyprland"),
    ("sway", "sway"),
    ("river", "river"),
    ("wayfire", "Wayfire"),
    ("labwc", "labwc"),
    ("cosmic", "COSMIC"),
    ("xfce", "Xfce"),
    ("lxqt", "LXQt"),
    ("mate", "MATE"),
    ("cinnamon", "Cinnamon"),
    ("x-cinnamon", "Cinnamon"),
    ("budgie", "Budgie"),
    ("weston", "Weston"),
)

ALLOW_XWAYLAND_ENV = "QWEN3VL_AGENT_SCREEN__ALLOW_XWAYLAND"


@dataclass(frozen=True)
class DesktopSession:
    """What the environment says about the desktop this process would capture and drive."""

    kind: SessionKind
    compositor: str | None = None  # "GNOME", "KDE Plasma", "sway", ... where it can be told
    x_display: str | None = None  # DISPLAY (XWayland's on a Wayland session)
    wayland_display: str | None = None  # WAYLAND_DISPLAY, only when its socket exists

    @property
    def is_wayland(self) -> bool:
        return self.kind in ("wayland", "wayland+xwayland")

    @property
    def has_x11(self) -> bool:
        return self.x_display is not None

    def describe(self) -> str:
        """One short line for the status bar and `engine status` / `config show`."""
        label = {
            "x11": "X11",
            "wayland+xwayland": "Wayland + XWayland",
            "wayland": "Wayland only",
            "none": "no desktop session",
        }[self.kind]
        return f"{label} ({self.compositor})" if self.compositor else label

    def to_json(self) -> dict[str, str | None]:
        return {
            "kind": self.kind,
            "compositor": self.compositor,
            "display": self.x_display,
            "wayland_display": self.wayland_display,
        }


def _compositor(env: Mapping[str, str]) -> str | None:
    names = [
        part.strip().lower()
        for key in ("XDG_CURRENT_DESKTOP", "XDG_SESSION_DESKTOP", "DESKTOP_SESSION")
        for part in env.get(key, "").split(":")
        if part.strip()
    ]
    if env.get("HYPRLAND_INSTANCE_SIGNATURE"):
        return "Hyprland"
    if env.get("SWAYSOCK"):
        return "sway"
    for name in names:
        for key, shown in _COMPOSITORS:
            if name.startswith(key) or name.endswith("-" + key):
                return shown
    if any("wlroots" in n for n in names):
        return "wlroots"
    return names[0] if names else None


def _wayland_socket(env: Mapping[str, str], exists: Callable[[str], bool]) -> str | None:
    """WAYLAND_DISPLAY when a compositor is listening there (a stale variable is not a session)."""
    name = env.get("WAYLAND_DISPLAY", "").strip()
    if not name:
        return None
    if name.startswith("/"):
        return name if exists(name) else None
    runtime = env.get("XDG_RUNTIME_DIR", "").strip()
    if not runtime:
        # No runtime dir to look in: trust the variable only if the session type agrees.
        return name if env.get("XDG_SESSION_TYPE", "").lower() == "wayland" else None
    return name if exists(str(Path(runtime) / name)) else None


def detect_session(
    env: Mapping[str, str],
    *,
    platform: str = sys.platform,
    exists: Callable[[str], bool] = os.path.exists,
) -> DesktopSession:
    """The session an environment describes (pure apart from `exists`, which looks for the socket)."""
    if not platform.startswith("linux"):
        return DesktopSession("x11" if env.get("DISPLAY") else "none", _compositor(env), env.get("DISPLAY"))
    x_display = env.get("DISPLAY", "").strip() or None
    wayland = _wayland_socket(env, exists)
    session_type = env.get("XDG_SESSION_TYPE", "").strip().lower()
    compositor = _compositor(env)
    if wayland is not None or (session_type == "wayland" and env.get("WAYLAND_DISPLAY")):
        kind: SessionKind = "wayland+xwayland" if x_display else "wayland"
        return DesktopSession(kind, compositor, x_display, wayland)
    if x_display:
        return DesktopSession("x11", compositor, x_display)
    return DesktopSession("none", compositor)


def current_session() -> DesktopSession:
    """The session of this process (read from os.environ on each call: tests change it)."""
    return detect_session(os.environ)


class WaylandSessionError(UserFacingError):
    """The live desktop is a Wayland session that cannot be captured or driven here: X11 would be
    blind there, and neither the portal's nor GNOME's screen-cast / remote-desktop API is usable."""

    def __init__(self, session: DesktopSession, action: str, problem: str | None = None) -> None:
        self.session = session
        self.action = action
        self.problem = problem
        hint = (
            "agent workspaces work regardless (`agent run --workspace`, `agent fill --workspaces N "
            "--launch ...`)"
        )
        if session.has_x11:
            hint += (
                "; to drive only X11 apps under XWayland set screen.allow_xwayland = true "
                f"or {ALLOW_XWAYLAND_ENV}=1"
            )
        why = f" ({problem})" if problem else ""
        super().__init__(
            f"Cannot {action} on this {session.describe()} session: through X11 the agent would see "
            "native Wayland windows as black and its input would reach only X11 apps, and Wayland "
            f"capture and input are not available here{why}. They need xdg-desktop-portal's ScreenCast "
            "and RemoteDesktop portals (KDE Plasma: xdg-desktop-portal-kde; wlroots: "
            "xdg-desktop-portal-wlr) or GNOME's own API (org.gnome.Mutter.ScreenCast / "
            "RemoteDesktop), with PipeWire and GStreamer's pipewiresrc (Debian/Ubuntu: "
            "gstreamer1.0-pipewire)",
            hint,
        )


def require_x11_live_desktop(
    action: str, *, allow_xwayland: bool, session: DesktopSession | None = None
) -> None:
    """Refuse to capture or drive the live desktop of a Wayland session through X11, unless
    overridden. The override (`screen.allow_xwayland`) applies only where XWayland is there to use."""
    session = session or current_session()
    if session.kind == "wayland" or (session.kind == "wayland+xwayland" and not allow_xwayland):
        raise WaylandSessionError(session, action)


LiveRoute = Literal["x11", "mutter", "portal"]
WaylandRoute = Literal["auto", "mutter", "portal"]


def live_desktop_route(
    action: str,
    *,
    allow_xwayland: bool,
    need_input: bool,
    session: DesktopSession | None = None,
    wayland_route: WaylandRoute = "auto",
    probe: Callable[[WaylandRoute, bool], tuple[LiveRoute | None, str | None]] | None = None,
) -> LiveRoute:
    """How to reach the live desktop: "x11" (an X11 session, or XWayland by the override),
    "mutter" (GNOME's screen-cast / remote-desktop API) or "portal" (xdg-desktop-portal), the
    Wayland one as `wayland_route` (screen.wayland_route) asks, "auto": Mutter's where it is there,
    else the portal. Raises `WaylandSessionError` saying what is missing when none works.
    `probe(wayland_route, need_input)` answers (route, problem) (default: ask the session bus)."""
    session = session or current_session()
    if not session.is_wayland or (session.kind == "wayland+xwayland" and allow_xwayland):
        return "x11"
    route: LiveRoute | None
    if probe is None:
        from qwen3vl_agent.wayland.probe import pick_route

        route, problem = pick_route(wayland_route, need_input=need_input)
    else:
        route, problem = probe(wayland_route, need_input)
    if route is not None:
        return route
    raise WaylandSessionError(session, action, problem)
