"""The Agent pane on the real core and a real X server: a dry-run step against the scripted
policy server shows the screenshot, the proposed action and the model's thought, moves
nothing, and writes a report; in confirm mode Approve / Reject answer the executor."""

from __future__ import annotations

from typing import Any

import pytest

from qwen3vl_agent.config import Settings
from tests.support.policy_server import PolicyContext, tool_call


def click_then_finish(ctx: PolicyContext) -> str:
    if ctx.step == 0:
        return tool_call(
            {"action": "left_click", "coordinate": [500, 250]},
            "The Submit button is in the middle.",
            "click Submit",
        )
    return tool_call({"action": "terminate", "status": "success"}, "Done.", "finish")


def agent_settings(url: str) -> Settings:
    return Settings.model_validate(
        {
            "engine": {"mode": "endpoints", "endpoints": [{"url": url}]},
            "executor": {"stop_hotkey_enabled": False},
        }
    )


def start_run(window: Any, qloop: Any, mode: str) -> Any:
    qloop.wait_until(
        lambda: window.ctx.core.engine_ready.is_set() or window.ctx.core.engine_error, 30, "the engine"
    )
    assert window.ctx.core.engine_error is None
    pane = window.agent
    qloop.wait_until(lambda: pane.target.count() > 0, 10, "monitors")
    pane.task.setPlainText("Press the Submit button")
    pane.safety.setCurrentIndex(pane.safety.findData(mode))
    pane.step_limit.setValue(5)
    pane.primary_action()
    return pane


@pytest.mark.xvfb
def test_dry_run_step_shows_action_and_moves_nothing(
    make_window: Any, qloop: Any, xvfb: Any, policy_server: Any
) -> None:
    import pyautogui

    from qwen3vl_agent.agents import events as ev
    from qwen3vl_agent.ui.agent_runner import ScreenshotTaken, write_report

    policy_server.planner = click_then_finish
    pyautogui.moveTo(10, 10)
    window = make_window(agent_settings(policy_server.url))
    pane = start_run(window, qloop, "dry-run")
    assert pane.stop_button.isEnabled() or pane.busy
    qloop.wait_until(lambda: not pane.busy and pane._run_task is not None, 60, "the run")

    kinds = [type(e).__name__ for e in pane.events]
    assert "ScreenshotTaken" in kinds and "ActionProposed" in kinds and "RunFinished" in kinds, kinds
    shots = [e for e in pane.events if isinstance(e, ScreenshotTaken)]
    assert shots[0].width > 0 and pane.view.image is not None and not pane.view.image.isNull()
    proposed = next(e for e in pane.events if isinstance(e, ev.ActionProposed))
    assert proposed.action.action.value == "left_click" and proposed.thought
    executed = next(e for e in pane.events if isinstance(e, ev.ActionExecuted))
    assert executed.outcome == "dry-run"
    finished = next(e for e in pane.events if isinstance(e, ev.RunFinished))
    assert finished.outcome == "success", finished
    assert pyautogui.position() == (10, 10)  # dry-run moved nothing

    first = pane.steps.topLevelItem(0)
    assert "left_click" in first.text(1) and first.text(2) == "dry-run"
    assert "Submit button" in first.child(0).text(1)  # the model's thought
    assert pane.view.action is not None  # drawn on the last screenshot
    assert "Finished" in pane.state_label.text()
    assert pane.report_button.isEnabled()
    report = qloop.run(window.ctx.tasks.run_io(write_report, pane.run_id))
    html = report.read_text()
    assert "Press the Submit button" in html and "data:image" in html


@pytest.mark.xvfb
def test_confirm_mode_waits_for_the_user(make_window: Any, qloop: Any, xvfb: Any, policy_server: Any) -> None:
    from qwen3vl_agent.agents import events as ev

    policy_server.planner = click_then_finish
    window = make_window(agent_settings(policy_server.url))
    pane = start_run(window, qloop, "confirm")
    try:
        qloop.wait_until(lambda: pane.confirm_bar.isVisible(), 60, "the confirmation request")
    except AssertionError:
        raise AssertionError(f"{[repr(e)[:300] for e in pane.events]} {pane.state_label.text()}") from None
    assert "left_click" in pane.confirm_text.text()
    assert policy_server.chat_requests == 1  # the run waits: no further step was asked for
    pane.reject_button.click()
    qloop.wait_until(lambda: not pane.busy, 60, "the run to end")
    executed = [e for e in pane.events if isinstance(e, ev.ActionExecuted)]
    assert executed and executed[0].outcome == "declined"
    assert not pane.confirm_bar.isVisible()


@pytest.mark.xvfb
def test_form_fill_batch_shows_per_row_progress(
    make_window: Any, qloop: Any, xvfb: Any, policy_server: Any, tmp_path: Any
) -> None:
    from tests.support.policy_server import terminate_planner

    policy_server.planner = terminate_planner
    data = tmp_path / "rows.csv"
    data.write_text("name,city\nAda,Zürich\nGrace,Tokyo\n", encoding="utf-8")
    window = make_window(agent_settings(policy_server.url))
    qloop.wait_until(
        lambda: window.ctx.core.engine_ready.is_set() or window.ctx.core.engine_error, 30, "the engine"
    )
    pane = window.agent
    qloop.wait_until(lambda: pane.target.count() > 0, 10, "monitors")
    pane.task.setPlainText("Fill the form with name {name} and city {city}")
    pane.data_file.setText(str(data))
    pane.safety.setCurrentIndex(pane.safety.findData("dry-run"))
    pane.primary_action()
    qloop.wait_until(lambda: pane._run_task is not None and not pane.busy, 60, "the batch")
    assert pane.rows.rowCount() == 2
    assert [pane.rows.item(r, 1).text() for r in range(2)] == ["done", "done"]
    assert pane.batch_progress.isVisible() or not pane.isVisible()
    assert pane.batch_progress.value() == pane.batch_progress.maximum() == 2
    assert pane.batch_progress.format().endswith(" rows/min")  # this run's pace beside the count


@pytest.mark.xvfb
def test_batch_in_two_workspaces_with_take_over_and_hand_back(
    make_window: Any, qloop: Any, xvfb: Any, policy_server: Any, tmp_path: Any
) -> None:
    """The pane runs a data file in two workspaces (real Xvfb + the real form in each): the grid
    shows both, taking over one pauses its run while the other goes on, handing back resumes it,
    and every row is submitted once, in the workspaces' forms."""
    import json

    from qwen3vl_agent.agents import events as ev
    from qwen3vl_agent.ui.workspace_runs import LaneEvent
    from tests.support.policy_server import form_planner
    from tests.support.workspace_forms import geometry_reader, launch_command, submissions

    state_dir = tmp_path / "forms"
    state_dir.mkdir()
    policy_server.planner = form_planner(geometry_reader(state_dir), (0, 0, 1280, 800))
    policy_server.delay_s = 0.2  # model time: there is a moment to take over
    rows = [
        ("Ada Lovelace", "Zürich"),
        ("Kenji Sato", "東京"),
        ("Zoë Ñúñez", "São Paulo"),
        ("Grace Hopper", "Arlington"),
    ]
    data = tmp_path / "rows.csv"
    data.write_text("name,city\n" + "".join(f"{n},{c}\n" for n, c in rows), encoding="utf-8")
    window = make_window(agent_settings(policy_server.url))
    qloop.wait_until(
        lambda: window.ctx.core.engine_ready.is_set() or window.ctx.core.engine_error, 30, "engine"
    )
    pane = window.agent
    pane.task.setPlainText("Register this person")
    pane.data_file.setText(str(data))
    pane.safety.setCurrentIndex(pane.safety.findData("auto"))
    pane.workspaces.setValue(2)
    pane.launch.setText(launch_command(state_dir))
    pane.primary_action()

    def lane_events(lane: str, kind: type) -> list[Any]:
        return [
            e.event
            for e in pane.events
            if isinstance(e, LaneEvent) and e.lane == lane and isinstance(e.event, kind)
        ]

    qloop.wait_until(lambda: lane_events("ws1", ev.ActionProposed), 90, "the first step in ws1")
    assert not pane.grid.isHidden() and set(pane.grid.entries) == {"ws1", "ws2"}
    pane.grid.select("ws1")
    pane.grid.take_over()
    qloop.wait_until(lambda: lane_events("ws1", ev.RunPaused), 30, "ws1 paused")
    steps_ws2 = len(lane_events("ws2", ev.ActionProposed))
    qloop.wait_until(lambda: len(lane_events("ws2", ev.ActionProposed)) > steps_ws2 + 2, 30, "ws2 going on")
    paused_steps = len(lane_events("ws1", ev.ActionProposed))
    assert pane.grid.taken_over
    pane.grid.hand_back()
    qloop.wait_until(lambda: lane_events("ws1", ev.RunResumed), 30, "ws1 resumed")
    assert len(lane_events("ws1", ev.ActionProposed)) <= paused_steps + 1  # it waited while taken over
    qloop.wait_until(lambda: not pane.busy, 180, "the batch")
    assert [pane.rows.item(r, 1).text() for r in range(pane.rows.rowCount())] == ["done"] * 4
    got = sorted(json.dumps([v["name"], v["city"]]) for _, v in submissions(state_dir))
    assert got == sorted(json.dumps(list(r)) for r in rows)
    assert pane.grid.isHidden() and pane.grid.entries == {}


HIDDEN = 'hello<span style="font-size:1px;color:white">\nrm -rf ~\n</span>'


@pytest.mark.xvfb
def test_the_approval_prompt_shows_hidden_text_as_text(
    make_window: Any, qloop: Any, xvfb: Any, policy_server: Any
) -> None:
    """A `type` whose text hides a second line in a 1-px white <span> must not read as
    "approve type 'hello'?": the prompt is plain text with every character and line break shown."""
    from PySide6.QtCore import Qt

    from qwen3vl_agent.agents import events as ev

    policy_server.planner = lambda ctx: tool_call(
        {"action": "type", "text": HIDDEN}, 'Type <b style="font-size:1px">hello</b>.', "type hello"
    )
    window = make_window(agent_settings(policy_server.url))
    pane = start_run(window, qloop, "confirm")
    qloop.wait_until(lambda: pane.confirm_bar.isVisible(), 60, "the confirmation request")
    label = pane.confirm_text
    assert label.textFormat() == Qt.TextFormat.PlainText
    shown = label.text()
    assert '<span style="font-size:1px;color:white">⏎\nrm -rf ~⏎\n</span>' in shown  # every character
    assert f"type {len(HIDDEN)} character(s)" in shown  # the plan, not only the model's description
    # the step list and its tooltip show the thought as text too
    item = pane.steps.topLevelItem(0)
    assert "<b " in item.child(0).text(1) and "&lt;b " in item.toolTip(1)
    pane.reject_button.click()
    qloop.wait_until(lambda: not pane.busy or policy_server.chat_requests > 1, 60, "the answer")
    pane.stop_button.click()
    qloop.wait_until(lambda: not pane.busy, 60, "the run to end")
    executed = [e for e in pane.events if isinstance(e, ev.ActionExecuted)]
    assert executed and executed[0].outcome == "declined"
