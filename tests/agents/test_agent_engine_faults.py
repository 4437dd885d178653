"""Bounded failure: a server that answers with errors, garbage or silence cannot keep a run going.

Issue 12's table, row by row, with the scripted policy server misbehaving (a real engine cannot
be made to fail on demand) and the real form on Xvfb as the desktop: HTTP 500 on every request,
a stream dropped mid-answer every time, silence, and `Retry-After`. Each run ends (or pauses, as
the GUI's does) after a few requests, in bounded time, with its state written to the database
and nothing done on the desktop. Time bounds are generous ceilings on "it ended", not speeds.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from pathlib import Path
from typing import Any

import pytest

from qwen3vl_agent.agents import events as ev
from qwen3vl_agent.agents.form_fill import BatchNotice, BatchOptions, run_batch
from qwen3vl_agent.agents.wiring import open_store
from qwen3vl_agent.config import Settings
from tests.agents.agent_harness import Harness, policy_settings
from tests.agents.test_agent_fill_e2e import ROWS, write_csv
from tests.support.agent_runs import agent_session
from tests.support.form_app_fixture import FormApp
from tests.support.policy_server import Fault, PolicyServer, terminate_planner

pytestmark = [pytest.mark.xvfb, pytest.mark.slow]


def faulty_settings(server: PolicyServer, **agent: Any) -> Settings:
    """Three tries per step (the default policy), with short backoffs so the test is quick."""
    settings = policy_settings(server, agent=agent)
    settings.engine.max_retries = 2
    settings.engine.retry_backoff_s = 0.2
    return settings


def nothing_reached_the_desktop(h: Harness, form_app: FormApp) -> None:
    assert not h.of(ev.ActionExecuted) and form_app.clicks() == [] and form_app.submissions() == []


@pytest.mark.parametrize(
    ("fault", "reason"),
    [(Fault("status", status=500), "HTTP 500"), (Fault("drop-mid-answer"), "middle of the answer")],
    ids=["http-500", "stream-dropped-mid-answer"],
)
async def test_an_engine_that_keeps_failing_ends_the_run_after_a_few_tries(
    form_app: FormApp, policy_server: PolicyServer, fault: Fault, reason: str
) -> None:
    """Before: retried every 2 s forever (75 requests in 150 s; 39 in 70 s for dropped streams)."""
    policy_server.fault = fault
    h = Harness(faulty_settings(policy_server), form_app.monitor.index)
    started = time.monotonic()
    result = await h.run("Fill in the form")  # on_stuck="stop": a batch or a CLI run nobody watches
    took = time.monotonic() - started
    assert (result.status, result.outcome) == ("failed", "engine-error"), result
    assert reason in result.message and "3 tries" in result.message
    assert policy_server.chat_requests == 3  # the policy's three tries, client and loop together
    run = h.store.get_run(result.run_id)
    assert run is not None and run.status == "failed" and reason in (run.message or "")
    assert took < 60, took
    nothing_reached_the_desktop(h, form_app)


async def test_a_silent_server_fails_the_step_at_its_answer_deadline(
    form_app: FormApp, policy_server: PolicyServer
) -> None:
    """The server accepts and then says nothing for 120 s; the step's deadline is 2 s here."""
    policy_server.fault = Fault("silence", silence_s=120)
    h = Harness(faulty_settings(policy_server, answer_deadline_s=2.0), form_app.monitor.index)
    started = time.monotonic()
    result = await h.run("Fill in the form")
    took = time.monotonic() - started
    assert (result.status, result.outcome) == ("failed", "engine-error"), result
    assert "deadline of 2 s" in result.message
    assert policy_server.chat_requests == 1  # silence is not retried: the step waited its deadline
    run = h.store.get_run(result.run_id)
    assert run is not None and run.status == "failed"
    assert took < 40, took  # far below the 120 s of silence
    nothing_reached_the_desktop(h, form_app)


async def test_in_the_gui_a_failing_engine_pauses_the_run_until_the_user_resumes(
    form_app: FormApp, policy_server: PolicyServer
) -> None:
    """on_stuck="wait" (the GUI, an interactive terminal): the run pauses with the reason, sends
    nothing while paused, and tries the step again when resumed."""
    policy_server.fault = Fault("status", status=500, times=3)
    policy_server.planner = terminate_planner
    h = Harness(faulty_settings(policy_server), form_app.monitor.index)
    seen: list[tuple[str, int, str]] = []

    def on_event(event: object) -> None:
        if isinstance(event, ev.RunPaused):
            run = h.store.get_run(event.run_id)
            assert run is not None
            seen.append((run.status, policy_server.chat_requests, event.reason))
            assert h.loop is not None
            asyncio.get_running_loop().call_later(1.0, h.loop.resume)

    h.listeners.append(on_event)
    result = await h.run("Fill in the form", on_stuck="wait")
    assert seen == [("paused", 3, "engine-failed")]
    [paused] = h.of(ev.RunPaused)
    assert "HTTP 500" in paused.message
    assert (result.status, result.outcome) == ("finished", "success")
    assert policy_server.chat_requests == 4  # nothing while paused; one more after resuming
    nothing_reached_the_desktop(h, form_app)


async def test_retry_after_is_honoured_by_the_client_and_the_run(
    form_app: FormApp, policy_server: PolicyServer
) -> None:
    """503 with `Retry-After: 2` three times: the client waits 2 s between its tries, the run
    (which waits for an unavailable engine) waits 2 s too, not its 0.3 s retry interval."""
    policy_server.fault = Fault("status", status=503, retry_after="2", times=3)
    policy_server.planner = terminate_planner
    h = Harness(faulty_settings(policy_server), form_app.monitor.index)
    result = await h.run("Fill in the form")
    assert (result.status, result.outcome) == ("finished", "success")
    assert policy_server.chat_requests == 4
    gaps = [b - a for a, b in itertools.pairwise(policy_server.chat_times)]
    assert all(gap >= 1.9 for gap in gaps), gaps
    assert [p.reason for p in h.of(ev.RunPaused)] == ["engine-unavailable"]


async def test_a_batch_marks_each_row_and_stops_when_the_engine_keeps_failing(
    form_app: FormApp, policy_server: PolicyServer, tmp_path: Path
) -> None:
    policy_server.fault = Fault("status", status=500)
    data = write_csv(tmp_path / "people.csv", ROWS + ROWS)  # six rows
    store = open_store()
    notices: list[str] = []

    def on_event(event: object) -> None:
        if isinstance(event, BatchNotice):
            notices.append(event.message)

    started = time.monotonic()
    async with agent_session(faulty_settings(policy_server), form_app.monitor.index, store) as session:
        summary = await run_batch(
            BatchOptions("Fill in the registration form", data), store, session.run_row, on_event=on_event
        )
    took = time.monotonic() - started
    assert summary.stopped and summary.ran == [0, 1, 2]
    rows = store.rows(summary.batch_id)
    assert sorted(rows) == [0, 1, 2] and all(r.status == "failed" for r in rows.values())
    assert all(
        "engine failed" in (r.message or "") and "HTTP 500" in (r.message or "") for r in rows.values()
    )
    assert any("failed on 3 rows in a row" in n for n in notices)
    assert policy_server.chat_requests == 9  # three tries per row, three rows
    assert all(r.status == "failed" for r in store.list_runs())  # none left "running"
    assert took < 120, took
    assert form_app.clicks() == [] and form_app.submissions() == []
