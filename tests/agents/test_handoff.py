"""The agent hands off to the user: `terminate` with failure (and its reason) or an `answer` that
asks a question pauses the run as "waiting for you" (the user acts, hands back, and the run goes on
from a fresh screenshot), or, where nobody can answer (a batch row), ends it needs-attention with
the reason instead of failing it. Real loop, real form on the test X server, the policy server.
"""

from __future__ import annotations

import pytest

from qwen3vl_agent.agents import events as ev
from qwen3vl_agent.agents.loop import asks_the_user
from tests.agents.agent_harness import Harness, policy_settings
from tests.support.form_app_fixture import FormApp
from tests.support.policy_server import PolicyContext, PolicyServer, tool_call

pytestmark = [pytest.mark.xvfb]

CAPTCHA = "A captcha blocks the form; please solve it, then hand back."


async def test_terminate_failure_waits_for_the_user_then_goes_on(
    form_app: FormApp, policy_server: PolicyServer
) -> None:
    def planner(ctx: PolicyContext) -> str:
        if ctx.last_feedback and "handed back" in ctx.last_feedback:
            return tool_call({"action": "terminate", "status": "success"}, "Solved by the user.", "done")
        return tool_call({"action": "terminate", "status": "failure"}, CAPTCHA, "ask the user")

    policy_server.planner = planner
    h = Harness(policy_settings(policy_server), form_app.monitor.index)
    seen_status: list[str] = []

    def hand_back(event: object) -> None:
        if isinstance(event, ev.RunPaused) and event.reason == "waiting-for-you":
            run = h.store.get_run(event.run_id)
            assert run is not None
            seen_status.append(f"{run.status}: {run.message}")
            assert h.loop is not None
            h.loop.resume()  # the user solved it and hands back

    h.listeners.append(hand_back)
    result = await h.run("Register Ada", on_handoff="wait")
    [paused] = h.of(ev.RunPaused)
    assert paused.reason == "waiting-for-you" and paused.message == CAPTCHA
    assert seen_status == [f"paused: waiting-for-you: {CAPTCHA}"]
    assert h.of(ev.RunResumed)
    assert (result.status, result.outcome) == ("finished", "success")
    # the step after the hand-back was decided on a new screenshot
    assert policy_server.chat_requests == 2 and len(policy_server.contexts[-1].image_sizes) >= 1


async def test_a_question_ends_the_run_as_waiting_for_you_where_nobody_answers(
    form_app: FormApp, policy_server: PolicyServer
) -> None:
    question = "Which date of birth should I enter for Ada?"
    policy_server.planner = lambda ctx: tool_call({"action": "answer", "text": question}, "I need the date.")
    h = Harness(policy_settings(policy_server), form_app.monitor.index)
    result = await h.run("Register Ada", on_handoff="end")
    assert (result.status, result.outcome) == ("needs-attention", "waiting-for-you")
    assert result.message == f"waiting for you: {question}"
    assert h.store.get_run(result.run_id).status == "needs-attention"  # type: ignore[union-attr]


def test_which_answers_ask() -> None:
    assert asks_the_user("Which date should I use?")
    assert asks_the_user("Quelle date ?")
    assert asks_the_user('He asked "why?"') is True  # a quoted question still ends with one
    assert not asks_the_user("The title is 'Settings'.")
    assert not asks_the_user("")
    assert not asks_the_user(None)
