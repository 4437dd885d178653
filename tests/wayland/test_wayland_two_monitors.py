"""Two monitors on a real headless GNOME session (1280x800 and 1024x768 side by side): the layout
comes from the compositor, the desktop is composed from both streams, and the executor refuses a
point that lies on no monitor (the strip under the smaller one)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from qwen3vl_agent.actions.model import Action, ActionType, ResolvedAction
from qwen3vl_agent.config import ExecutorSettings, SafetySettings
from qwen3vl_agent.executor import ActionExecutor, MonitorGoneError
from qwen3vl_agent.executor.wayland_backend import MutterBackend
from qwen3vl_agent.screen.capture import CaptureTarget, ScreenCapturer
from qwen3vl_agent.screen.geometry import Rect
from tests.support.wayland_session import (
    WaylandSession,
    _enter,
    missing_programs,
    start_wayland,
    stop_wayland,
)

pytestmark = [pytest.mark.wayland, pytest.mark.timeout(180)]


@pytest.fixture(scope="module")
def two_monitor_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WaylandSession]:
    missing = missing_programs()
    if missing:
        pytest.skip(f"a headless Wayland session needs {', '.join(missing)}")
    session = start_wayland(
        Path(tmp_path_factory.mktemp("wayland-2")), portals=False, extra_monitors=((1024, 768),)
    )
    try:
        yield session
    finally:
        stop_wayland(session)


@pytest.fixture
def two_monitors(two_monitor_session: WaylandSession, monkeypatch: pytest.MonkeyPatch) -> WaylandSession:
    return _enter(two_monitor_session, monkeypatch)


def test_layout_and_composed_desktop(two_monitors: WaylandSession) -> None:
    with ScreenCapturer() as capturer:
        monitors = capturer.list_monitors()
        desktop = capturer.capture()
        second = capturer.capture(CaptureTarget.monitor(2))
        strip = capturer.capture(CaptureTarget.region(Rect(1200, 700, 200, 100)))
    assert [m.rect for m in monitors] == [
        Rect(0, 0, 2304, 800),
        Rect(0, 0, 1280, 800),
        Rect(1280, 0, 1024, 768),
    ]
    assert [m.name for m in monitors[1:]] == ["Meta-0", "Meta-1"] and monitors[1].is_primary
    assert desktop.size == (2304, 800) and second.size == (1024, 768)
    assert second.geometry.origin_points == (1280, 0)
    # the region spans both monitors and the strip under the second, which no monitor shows
    assert strip.size == (200, 100)
    assert strip.image.getpixel((150, 90)) == (0, 0, 0)  # (1350, 790): on no monitor
    assert strip.image.getpixel((150, 10)) != (0, 0, 0)  # (1350, 710): monitor 2's background


def test_a_point_on_no_monitor_is_refused(two_monitors: WaylandSession) -> None:
    executor = ActionExecutor(
        SafetySettings(mode="auto"), ExecutorSettings(stop_hotkey_enabled=False), backend=MutterBackend()
    )
    try:
        assert executor._backend.monitors() == [(0, 0, 1280, 800), (1280, 0, 1024, 768)]
        executor.execute_sync(
            ResolvedAction(Action(ActionType.MOUSE_MOVE), point=(1400, 700))
        )  # on monitor 2
        with pytest.raises(MonitorGoneError):
            executor.execute_sync(ResolvedAction(Action(ActionType.MOUSE_MOVE), point=(1400, 790)))
    finally:
        executor.close()
