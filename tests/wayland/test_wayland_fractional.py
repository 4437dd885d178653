"""A FRACTIONAL scale (1.25) on a real headless GNOME session: 1600x1000 monitor pixels, 1280x800
points. The screenshot has the pixels, the clicks go to points, and they must meet exactly at
the real Qt form (its geometry is in points, as the compositor's)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from qwen3vl_agent.actions.model import Action, ActionType, ResolvedAction
from qwen3vl_agent.agents.form_fill import BatchOptions, run_batch
from qwen3vl_agent.agents.wiring import open_store
from qwen3vl_agent.config import ExecutorSettings, SafetySettings
from qwen3vl_agent.executor import ActionExecutor
from qwen3vl_agent.executor.wayland_backend import MutterBackend
from qwen3vl_agent.screen.capture import CaptureTarget, ScreenCapturer
from qwen3vl_agent.screen.geometry import Rect
from tests.agents.test_agent_fill_e2e import ROWS, expected, settings_for, write_csv
from tests.support.agent_runs import agent_session
from tests.support.form_app_fixture import FormApp
from tests.support.policy_server import PolicyServer, form_planner
from tests.support.wayland_session import WaylandSession
from tests.wayland.test_wayland_input import on

pytestmark = [pytest.mark.wayland, pytest.mark.timeout(300)]

A = ActionType
DRAG_PAD_RGB = (0xDD, 0xE8, 0xFF)


@pytest.fixture
def executor(wayland_scaled_form: FormApp) -> Iterator[ActionExecutor]:
    ex = ActionExecutor(
        SafetySettings(mode="auto"), ExecutorSettings(stop_hotkey_enabled=False), backend=MutterBackend()
    )
    yield ex
    ex.close()


def test_capture_has_the_pixels_and_maps_to_points(
    wayland_scaled_form: FormApp, wayland_scaled: WaylandSession
) -> None:
    assert wayland_scaled.points == (1280, 800)
    left, top, w, h = wayland_scaled_form.widget_rect("drag_pad")  # points
    with ScreenCapturer() as capturer:
        monitors = capturer.list_monitors()
        for _ in range(50):  # the window fades in after it is shown
            shot = capturer.capture(CaptureTarget.monitor(1))
            px = shot.image.getpixel((round((left + w / 2) * 1.25), round((top + h / 2) * 1.25)))
            if all(abs(a - b) <= 6 for a, b in zip(px, DRAG_PAD_RGB, strict=False)):
                break
            time.sleep(0.1)
    assert monitors[1].rect == Rect(0, 0, 1600, 1000) and monitors[1].scale == 1.25
    assert shot.size == (1600, 1000) and shot.geometry.size_points == (1280, 800)
    assert all(abs(a - b) <= 6 for a, b in zip(px, DRAG_PAD_RGB, strict=False)), px


def test_clicks_land_on_the_exact_point(wayland_scaled_form: FormApp, executor: ActionExecutor) -> None:
    with ScreenCapturer() as capturer:
        geometry = capturer.capture(CaptureTarget.monitor(1)).geometry
    for widget, dx in (("subscribe", 40), ("name", None), ("drag_pad", None)):
        action = on(wayland_scaled_form, geometry, A.LEFT_CLICK, widget, dx=dx)
        executor.execute_sync(action)
        click = wayland_scaled_form.wait_for(lambda s, w=widget: (s["last_click"] or {}).get("widget") == w)[
            "last_click"
        ]
        assert (click["x"], click["y"]) == action.point, widget
    executor.execute_sync(on(wayland_scaled_form, geometry, A.LEFT_CLICK, "city"))
    executor.execute_sync(ResolvedAction(Action(A.TYPE, text="Genève")))
    wayland_scaled_form.wait_for(lambda s: s["city"] == "Genève" and s["subscribe"] is True)


async def test_fill_three_rows_at_a_fractional_scale(
    wayland_scaled_form: FormApp, wayland_scaled: WaylandSession, policy_server: PolicyServer, tmp_path: Path
) -> None:
    policy_server.planner = form_planner(wayland_scaled_form.widget_rect, (0, 0, *wayland_scaled.points))
    data = write_csv(tmp_path / "people.csv", ROWS)
    store = open_store()
    async with agent_session(settings_for(policy_server), 1, store) as session:
        summary = await run_batch(BatchOptions("Fill in the registration form", data), store, session.run_row)
    assert summary.counts == {"done": 3}, summary
    got = [
        {k: s[k] for k in ("name", "city", "country", "subscribe")} for s in wayland_scaled_form.submissions()
    ]
    assert got == [expected(r) for r in ROWS]
    store.close()
