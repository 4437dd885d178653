"""Bad model output, on a real X server with the real form: nothing unsafe happens, runs end cleanly.

A model that never emits a tool call, emits garbage, clicks outside the screen, asks for a
forbidden or closing key combo, or repeats one action on an unchanged screen.
"""

from __future__ import annotations

import pytest

from qwen3vl_agent.agents import events as ev
from tests.agents.agent_harness import Harness, policy_settings
from tests.agents.test_agent_fill_e2e import monitor_rect
from tests.support.form_app_fixture import FormApp
from tests.support.policy_server import PolicyContext, PolicyServer, to_grid, tool_call

pytestmark = [pytest.mark.xvfb, pytest.mark.slow]


@pytest.mark.parametrize(
    "answer",
    [
        "Thought: I should click the Submit button.\nAction: click Submit",  # no tool call at all
        '<tool_call>\n{"name": "computer_use", "arguments": {"action": "left_click", "coordinate": [5\n</tool_call>',
        '<tool_call>{"name": "computer_use", "arguments": {"action": "fly", "coordinate": [1, 2]}}</tool_call>',
        '<tool_call>{"name": "computer_use", "arguments": {"action": "left_click", "coordinate": ["a", "b"]}}</tool_call>',
        "\x00\x01 ���� }{ <tool_call>",
    ],
    ids=["no-tool-call", "truncated-json", "unknown-action", "non-numeric-coordinate", "binary-garbage"],
)
async def test_unusable_answers_go_back_as_feedback_then_stop(
    answer: str, form_app: FormApp, policy_server: PolicyServer
) -> None:
    policy_server.planner = lambda ctx: answer
    h = Harness(policy_settings(policy_server, agent={"max_feedback": 3}), form_app.monitor.index)
    result = await h.run("Fill in the form")
    assert (result.status, result.outcome) == ("needs-attention", "unusable-output")
    assert policy_server.chat_requests == 3  # bounded: three tries, then ask a person
    feedback = [c.last_feedback for c in policy_server.contexts]
    assert feedback[0] is None and all(f and "could not be used" in f for f in feedback[1:])
    assert len(h.of(ev.RunError)) >= 3 and not h.of(ev.ActionExecuted)
    assert form_app.clicks() == [] and form_app.submissions() == []
    steps = h.store.steps(result.run_id)
    assert [s.outcome for s in steps] == ["parse-error"] * 3 and all(s.raw_text == answer for s in steps)


async def test_click_outside_the_screen_is_clamped_or_refused(
    form_app: FormApp, policy_server: PolicyServer
) -> None:
    answers = iter(
        [
            tool_call({"action": "left_click", "coordinate": [1030, 990]}),  # a little beyond: clamped
            tool_call({"action": "left_click", "coordinate": [5000, -400]}),  # far outside: refused
            tool_call({"action": "terminate", "status": "failure"}),
        ]
    )
    policy_server.planner = lambda ctx: next(answers)
    h = Harness(policy_settings(policy_server), form_app.monitor.index)
    result = await h.run("Click somewhere")
    assert (result.status, result.outcome) == ("failed", "failure")
    m = form_app.monitor
    [executed] = h.of(ev.ActionExecuted)
    x, y = executed.resolved.point
    assert m.left <= x < m.left + m.width and m.top <= y < m.top + m.height  # never off the monitor
    assert x == m.left + m.width - 1
    errors = [e.message for e in h.of(ev.RunError)]
    assert len(errors) == 1 and "could not be used" in errors[0]
    assert "could not be used" in (policy_server.contexts[2].last_feedback or "")


async def test_unknown_key_is_refused_and_closing_combo_needs_a_yes(
    form_app: FormApp, policy_server: PolicyServer
) -> None:
    answers = iter(
        [
            tool_call(
                {"action": "key", "keys": ["ctrl", "alt", "delete"]}
            ),  # session key: refused, never asked
            tool_call({"action": "key", "keys": ["alt", "f4"]}),  # closes the window: asks the user
            tool_call({"action": "terminate", "status": "failure"}),
        ]
    )
    policy_server.planner = lambda ctx: next(answers)
    asked: list[str] = []

    def confirm(request) -> bool:  # type: ignore[no-untyped-def]
        asked.append(request.description)
        assert request.risk.risky
        return False  # the user says no

    settings = policy_settings(policy_server, mode="confirm", safety={"confirm_only_risky": True})
    h = Harness(settings, form_app.monitor.index, confirm=confirm)
    result = await h.run("Close everything")
    assert result.outcome == "failure"
    assert asked == ["press alt+f4"]
    assert [e.outcome for e in h.of(ev.ActionExecuted)] == ["declined"]
    assert "session-level shortcut" in (policy_server.contexts[1].last_feedback or "")
    assert "declined" in (policy_server.contexts[2].last_feedback or "")
    assert [s.outcome for s in h.store.steps(result.run_id)][:2] == ["refused", "declined"]
    assert form_app.process.poll() is None  # the form is still open
    assert form_app.records("shortcut") == []


async def test_unknown_key_name_is_refused_before_anything_is_pressed(
    form_app: FormApp, policy_server: PolicyServer
) -> None:
    answers = iter(
        [
            '<tool_call>{"name": "computer_use", "arguments": {"action": "key", "keys": ["ctrl", "hyperdrive"]}}</tool_call>',
            tool_call({"action": "terminate", "status": "failure"}),
        ]
    )
    policy_server.planner = lambda ctx: next(answers)
    h = Harness(policy_settings(policy_server), form_app.monitor.index)
    result = await h.run("Press a key")
    assert result.outcome == "failure"
    assert not h.of(ev.ActionExecuted)
    assert "hyperdrive" in (policy_server.contexts[1].last_feedback or "")
    assert form_app.records("shortcut") == []


async def test_same_action_on_an_unchanged_screen_stops_as_no_progress(
    form_app: FormApp, policy_server: PolicyServer
) -> None:
    form_app.send("focus", widget="submit")  # no blinking text cursor: the screen is truly still
    left, top, width, height = form_app.widget_rect("submitted_label")
    spot = to_grid((left + width + 120, top + height / 2), monitor_rect(form_app))  # empty form area
    policy_server.planner = lambda ctx: tool_call(
        {"action": "left_click", "coordinate": spot}, "Click it.", "click"
    )
    h = Harness(policy_settings(policy_server, safety={"no_progress_repeats": 3}), form_app.monitor.index)
    result = await h.run("Click the empty area until something happens")
    assert (result.status, result.outcome) == ("needs-attention", "no-progress")
    executed = h.of(ev.ActionExecuted)
    # the first click changes the "Last click" label; then two clicks change nothing -> stop
    assert len(executed) <= 3 and result.steps < 12
    outcomes = [s.outcome for s in h.store.steps(result.run_id)]
    assert outcomes[-1] == "no-progress"


async def test_no_progress_pauses_and_asks_when_a_person_is_there(
    form_app: FormApp, policy_server: PolicyServer
) -> None:
    form_app.send("focus", widget="submit")
    left, top, width, height = form_app.widget_rect("submitted_label")
    spot = to_grid((left + width + 120, top + height / 2), monitor_rect(form_app))

    def planner(ctx: PolicyContext) -> str:
        if ctx.last_feedback and "no visible effect" in ctx.last_feedback:
            return tool_call({"action": "terminate", "status": "failure"}, "I am stuck.", "give up")
        return tool_call({"action": "left_click", "coordinate": spot})

    policy_server.planner = planner
    h = Harness(policy_settings(policy_server), form_app.monitor.index)

    def resume_when_paused(event: object) -> None:
        if isinstance(event, ev.RunPaused) and event.reason == "no-progress":
            assert h.loop is not None
            assert h.store.get_run(event.run_id).status == "paused"  # type: ignore[union-attr]
            h.loop.resume()  # the person says: go on

    h.listeners.append(resume_when_paused)
    result = await h.run("Click the empty area", on_stuck="wait")
    assert [e.reason for e in h.of(ev.RunPaused)] == ["no-progress"] and h.of(ev.RunResumed)
    assert (result.status, result.outcome) == ("failed", "failure")  # the model was told and gave up
