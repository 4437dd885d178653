"""Safety of agent runs on a real X server: dry-run moves nothing, confirm waits for a yes,
the stop hotkey ends a run (while an action runs and while the model thinks), and the engine
going away pauses the run with a clear state until it is back."""

from __future__ import annotations

import asyncio
import time

import pytest

from qwen3vl_agent.agents import events as ev
from tests.agents.agent_harness import Harness, policy_settings
from tests.agents.test_agent_fill_e2e import ROWS, expected, monitor_rect
from tests.support.agent_runs import press_stop_hotkey
from tests.support.form_app_fixture import FormApp
from tests.support.policy_server import PolicyServer, form_planner, tool_call

pytestmark = [pytest.mark.xvfb, pytest.mark.slow]


def task_for(row: dict[str, str]) -> str:
    from qwen3vl_agent.agents.data_rows import render_task

    return render_task("Register this person", row)


def pointer(display: str) -> tuple[int, int]:
    from Xlib import display as xdisplay

    d = xdisplay.Display(display)
    try:
        p = d.screen().root.query_pointer()
        return (p.root_x, p.root_y)
    finally:
        d.close()


async def test_dry_run_moves_nothing(form_app: FormApp, policy_server: PolicyServer) -> None:
    policy_server.planner = form_planner(form_app.widget_rect, monitor_rect(form_app))
    where = pointer(form_app.display.name)
    before = form_app.state()
    h = Harness(
        policy_settings(policy_server, mode="dry-run", safety={"step_limit": 30}), form_app.monitor.index
    )
    result = await h.run(task_for(ROWS[0]))
    assert result.status == "finished"  # the scripted model believes it is done
    outcomes = {e.outcome for e in h.of(ev.ActionExecuted)}
    assert outcomes == {"dry-run"} and len(h.of(ev.ActionExecuted)) >= 10
    assert pointer(form_app.display.name) == where
    assert form_app.clicks() == [] and form_app.submissions() == []
    after = form_app.state()
    assert {k: after[k] for k in ("name", "city", "subscribe", "country")} == {
        k: before[k] for k in ("name", "city", "subscribe", "country")
    }
    assert {
        s.outcome for s in h.store.steps(result.run_id) if s.action and s.action["action"] != "terminate"
    } == {"dry-run"}


async def test_confirm_mode_blocks_until_approved(form_app: FormApp, policy_server: PolicyServer) -> None:
    left, top, _w, height = form_app.widget_rect("subscribe")
    box = [
        round((left + 9 - form_app.monitor.left) / form_app.monitor.width * 1000),
        round((top + height / 2 - form_app.monitor.top) / form_app.monitor.height * 1000),
    ]
    answers = iter(
        [
            tool_call({"action": "left_click", "coordinate": box}),
            tool_call({"action": "terminate", "status": "success"}),
        ]
    )
    policy_server.planner = lambda ctx: next(answers)
    asked = asyncio.Event()
    approve = asyncio.Event()

    async def confirm(request) -> bool:  # type: ignore[no-untyped-def]
        asked.set()
        await approve.wait()
        return True

    h = Harness(policy_settings(policy_server, mode="confirm"), form_app.monitor.index, confirm=confirm)
    run = asyncio.create_task(h.run("Tick the newsletter box"))
    await asyncio.wait_for(asked.wait(), 60)
    assert h.of(ev.AwaitingConfirmation) and not h.of(ev.ActionExecuted)
    await asyncio.sleep(0.5)  # the run is blocked: still nothing executed, nothing clicked
    assert not h.of(ev.ActionExecuted) and form_app.clicks() == []
    assert not form_app.state()["subscribe"] and not run.done()
    approve.set()
    result = await asyncio.wait_for(run, 60)
    assert result.outcome == "success"
    assert [e.outcome for e in h.of(ev.ActionExecuted)] == ["executed"]
    assert form_app.wait_for(lambda s: s["subscribe"] is True)


async def test_stop_hotkey_ends_a_run_during_a_long_action(
    form_app: FormApp, policy_server: PolicyServer
) -> None:
    policy_server.planner = lambda ctx: tool_call({"action": "wait", "time": 30}, "Wait for it.", "wait")
    h = Harness(policy_settings(policy_server), form_app.monitor.index)
    stop_at: list[float] = []

    def on_event(event: object) -> None:
        if isinstance(event, ev.ActionProposed):
            loop = asyncio.get_running_loop()
            loop.call_later(
                0.3, lambda: (stop_at.append(time.monotonic()), press_stop_hotkey(form_app.display.name))
            )

    h.listeners.append(on_event)
    started = time.monotonic()
    result = await h.run("Wait forever")
    ended = time.monotonic()
    assert (result.status, result.outcome) == ("stopped", "stopped")
    assert stop_at and ended - started < 10  # the 30 s wait was cut short by the hotkey
    # functional check: ended long before the action would have; the latency itself (~90 ms on
    # an idle box, target 200 ms) is measured in benchmarks/agent_step.py, not asserted here
    print(f"stop hotkey -> run finished: {(ended - stop_at[0]) * 1000:.0f} ms")
    assert h.of(ev.RunFinished)[0].message.startswith("stopped by the user")


async def test_stop_hotkey_ends_a_run_while_the_model_thinks(
    form_app: FormApp, policy_server: PolicyServer
) -> None:
    policy_server.planner = lambda ctx: tool_call({"action": "terminate", "status": "success"})
    policy_server.delay_s = 20
    h = Harness(policy_settings(policy_server, mode="dry-run"), form_app.monitor.index)
    stop_at: list[float] = []

    def on_event(event: object) -> None:
        if isinstance(event, ev.StepStarted):
            asyncio.get_running_loop().call_later(
                0.5, lambda: (stop_at.append(time.monotonic()), press_stop_hotkey(form_app.display.name))
            )

    h.listeners.append(on_event)
    result = await h.run("Think long")
    latency = time.monotonic() - stop_at[0]
    assert (result.status, result.outcome) == ("stopped", "stopped")
    print(f"stop hotkey while thinking -> run finished: {latency * 1000:.0f} ms")
    assert latency < 10  # the model would have thought for 20 s: the stop did not wait for it


async def test_engine_going_away_pauses_the_run_until_it_is_back(
    form_app: FormApp, policy_server: PolicyServer
) -> None:
    policy_server.planner = form_planner(form_app.widget_rect, monitor_rect(form_app))
    h = Harness(policy_settings(policy_server, safety={"step_limit": 30}), form_app.monitor.index)
    states: list[str] = []
    tasks: list[asyncio.Task[None]] = []

    async def outage() -> None:
        await asyncio.to_thread(policy_server.stop)
        await asyncio.sleep(0)  # let the next step hit the dead server

    def on_event(event: object) -> None:
        loop = asyncio.get_running_loop()
        if isinstance(event, ev.ActionExecuted) and event.step == 2 and policy_server.running:
            tasks.append(loop.create_task(outage()))
        elif isinstance(event, ev.RunPaused) and event.reason == "engine-unavailable":
            run = h.store.get_run(event.run_id)
            assert run is not None
            states.append(run.status)

            async def come_back() -> None:
                await asyncio.sleep(1.5)  # a few retries fail meanwhile
                await asyncio.to_thread(policy_server.start)

            tasks.append(loop.create_task(come_back()))

    h.listeners.append(on_event)
    result = await h.run(task_for(ROWS[1]))
    paused = h.of(ev.RunPaused)
    assert [p.reason for p in paused] == ["engine-unavailable"] and states == ["paused"]
    assert "not available" in paused[0].message
    assert h.of(ev.RunResumed)
    assert (result.status, result.outcome) == ("finished", "success")
    [submission] = form_app.submissions()
    assert {k: submission[k] for k in ("name", "city", "country", "subscribe")} == expected(ROWS[1])


async def test_pause_from_another_thread_holds_the_run_until_resume(
    form_app: FormApp, policy_server: PolicyServer
) -> None:
    """The UI's Pause/Resume (any thread): nothing runs while paused; the run then finishes."""
    import threading

    policy_server.planner = form_planner(form_app.widget_rect, monitor_rect(form_app))
    h = Harness(policy_settings(policy_server, safety={"step_limit": 30}), form_app.monitor.index)
    paused_at: list[int] = []

    def on_event(event: object) -> None:
        if isinstance(event, ev.ActionExecuted) and event.step == 3 and not paused_at:
            assert h.loop is not None
            threading.Thread(target=h.loop.pause).start()
        elif isinstance(event, ev.RunPaused):
            paused_at.append(len(form_app.clicks()))
            assert h.loop is not None
            asyncio.get_running_loop().call_later(0.8, lambda: threading.Thread(target=h.loop.resume).start())  # type: ignore[union-attr]

    h.listeners.append(on_event)
    result = await h.run(task_for(ROWS[2]))
    assert [p.reason for p in h.of(ev.RunPaused)] == ["user"] and len(h.of(ev.RunResumed)) == 1
    assert (result.status, result.outcome) == ("finished", "success")
    assert len(form_app.submissions()) == 1
    # events in order: nothing was executed between Paused and Resumed
    kinds = [type(e).__name__ for e in h.events]
    between = kinds[kinds.index("RunPaused") : kinds.index("RunResumed")]
    assert "ActionExecuted" not in between and "StepStarted" not in between


async def test_confirm_only_risky_asks_for_submit_and_password_only(
    form_app: FormApp, policy_server: PolicyServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The agent reads the text around each target (OCR) so the executor's risk rules see it."""
    from qwen3vl_agent.agents import target_text

    read: list[str] = []  # what was read, for the failure message (the real OCR still runs)
    real = target_text.text_around
    monkeypatch.setattr(target_text, "text_around", lambda obs, xy: read.append(real(obs, xy)) or read[-1])
    policy_server.planner = form_planner(form_app.widget_rect, monitor_rect(form_app))
    asked: list[tuple[str, tuple[str, ...]]] = []

    def confirm(request) -> bool:  # type: ignore[no-untyped-def]
        asked.append((request.description, request.risk.reasons))
        return True

    settings = policy_settings(
        policy_server, mode="confirm", safety={"confirm_only_risky": True, "step_limit": 30}
    )
    h = Harness(settings, form_app.monitor.index, confirm=confirm)
    row = {"name": "Ada Lovelace", "city": "London", "password": "hunter22"}
    result = await h.run(task_for(row))
    assert result.outcome == "success"
    descriptions = [d for d, _ in asked]
    assert descriptions == ["type 'hunter22'", descriptions[-1]], read
    assert descriptions[-1].startswith("left_click")
    assert "password" in asked[0][1][0] and "submit" in asked[1][1][0].lower()
    [submission] = form_app.submissions()
    assert (submission["name"], submission["password"]) == ("Ada Lovelace", "hunter22")


async def test_a_misspelled_loop_setting_is_refused_not_ignored(
    form_app: FormApp, policy_server: PolicyServer
) -> None:
    """A typo in an override (`step_limt`) must not pass silently as a new attribute while the
    real limit stays at its default: the run is refused before any request or input."""
    h = Harness(policy_settings(policy_server, safety={"step_limit": 30}), form_app.monitor.index)
    with pytest.raises(TypeError, match="step_limt"):
        await h.run(task_for(ROWS[1]), step_limt=3)
    assert policy_server.chat_requests == 0 and form_app.clicks() == []
