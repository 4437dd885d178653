"""On a (simulated) Wayland session the live desktop is refused with one clear line, the
override lets X11 capture through, and workspaces (their own X display) are not refused.

The Wayland session is simulated: a real Unix socket named by WAYLAND_DISPLAY in a temporary
XDG_RUNTIME_DIR and XDG_SESSION_TYPE=wayland, with DISPLAY at the tests' Xvfb standing in for
XWayland. No compositor runs: nothing here talks Wayland, the point is what the app decides."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from qwen3vl_agent.cli.main import cli
from qwen3vl_agent.config import load_settings
from qwen3vl_agent.screen.capture import CaptureTarget, ScreenCapturer
from qwen3vl_agent.screen.session import WaylandSessionError, current_session
from tests.cli.test_chat_cmd import free_port, use_endpoint
from tests.support.xvfb import XvfbDisplay

pytestmark = pytest.mark.xvfb


@pytest.fixture
def wayland(xvfb: XvfbDisplay, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[XvfbDisplay]:
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(runtime / "wayland-0"))
        monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
        monkeypatch.setenv("WAYLAND_DISPLAY", "wayland-0")
        monkeypatch.setenv("XDG_SESSION_TYPE", "wayland")
        monkeypatch.setenv("XDG_CURRENT_DESKTOP", "GNOME")
        monkeypatch.delenv("QWEN3VL_AGENT_SCREEN__ALLOW_XWAYLAND", raising=False)
        use_endpoint(monkeypatch, f"http://127.0.0.1:{free_port()}/v1")  # nothing listens there
        assert current_session().kind == "wayland+xwayland"
        yield xvfb


def _one_wayland_line(output: str) -> None:
    lines = output.strip().splitlines()
    assert len(lines) == 1, output
    assert lines[0].startswith("error: ") and "Traceback" not in output
    assert "Wayland + XWayland (GNOME)" in lines[0] and "xdg-desktop-portal" in lines[0]
    assert "--workspace" in lines[0] and "allow_xwayland" in lines[0]


@pytest.mark.parametrize(
    "args",
    [
        ["chat", "what is on screen?", "--screen"],
        ["agent", "run", "open the menu", "--max-steps", "1"],
        ["ocr", "--screen-region", "0,0,200,100", "--engine", "cpu", "--no-progress"],
    ],
    ids=["chat-screen", "agent-run", "ocr-screen-region"],
)
def test_live_desktop_on_wayland_is_one_clear_line(wayland: XvfbDisplay, args: list[str]) -> None:
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, result.output
    _one_wayland_line(result.output)


@pytest.mark.parametrize(
    "args",
    [["chat", "what is on screen?", "--screen"], ["agent", "run", "open the menu", "--max-steps", "1"]],
    ids=["chat-screen", "agent-run"],
)
def test_the_override_proceeds_to_the_engine(
    wayland: XvfbDisplay, monkeypatch: pytest.MonkeyPatch, args: list[str]
) -> None:
    """With the override the screen is captured / the kit built; what stops it now is the engine
    that is not there (a different, engine error)."""
    monkeypatch.setenv("QWEN3VL_AGENT_SCREEN__ALLOW_XWAYLAND", "1")
    result = CliRunner().invoke(cli, args)
    assert "Wayland" not in result.output, result.output
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "127.0.0.1" in result.output or "engine" in result.output.lower(), result.output


def test_agent_run_in_a_workspace_is_not_refused(wayland: XvfbDisplay) -> None:
    """`agent run --workspace` builds no live-desktop kit: it gets past the session check and
    stops only at the engine that is not there."""
    args = ["agent", "run", "open the menu", "--max-steps", "1", "--mode", "auto"]
    result = CliRunner().invoke(cli, [*args, "--workspace", "--launch", "xterm"])
    assert "Wayland" not in result.output, result.output
    assert result.exit_code == 2 and "127.0.0.1" in result.output, result.output


def test_override_captures_xwayland_pixels(wayland: XvfbDisplay, monkeypatch: pytest.MonkeyPatch) -> None:
    with ScreenCapturer.from_settings(load_settings()) as c, pytest.raises(WaylandSessionError):
        c.capture(CaptureTarget.monitor(1))
    monkeypatch.setenv("QWEN3VL_AGENT_SCREEN__ALLOW_XWAYLAND", "1")
    settings = load_settings()
    assert settings.screen.allow_xwayland
    with ScreenCapturer.from_settings(settings) as c:
        assert c.capture(CaptureTarget.monitor(1)).size[0] > 0


def test_a_workspace_target_is_not_refused(wayland: XvfbDisplay) -> None:
    """Target.display set (an agent workspace's own X server): built and captured on Wayland."""
    from qwen3vl_agent.agents.wiring import AgentKit, Target

    settings = load_settings()
    with pytest.raises(WaylandSessionError):
        AgentKit(settings, Target(), "auto")
    kit = AgentKit(settings, Target(display=wayland.name), "auto")
    try:
        shot = kit.observer.capturer.capture(kit.observer.capture_target)
        assert shot.size[0] > 0
    finally:
        kit.close()


def test_config_show_and_engine_status_name_the_session(wayland: XvfbDisplay) -> None:
    shown = CliRunner().invoke(cli, ["config", "show"])
    assert shown.exit_code == 0 and shown.output.startswith("# desktop session: Wayland + XWayland (GNOME)")
    status = CliRunner().invoke(cli, ["engine", "status", "--json"])
    assert '"kind": "wayland+xwayland"' in status.output
