"""End to end on a real headless GNOME Wayland session: the agent fills and submits the real Qt
form, running natively on Wayland, from a CSV, through the Wayland capture (Mutter screen-cast
stream) and input (Mutter remote-desktop session) paths that the app picks by itself.

The scripted policy server answers in Qwen3-VL's format with clicks computed from the form's
real widget geometry; everything else (engine client, queue, parser, mapping, executor, store)
is the product's own. Submissions are read back from the form application.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from qwen3vl_agent.agents.form_fill import BatchOptions, run_batch
from qwen3vl_agent.agents.wiring import open_store
from qwen3vl_agent.executor.wayland_backend import MutterBackend
from tests.agents.test_agent_fill_e2e import ROWS, expected, settings_for, write_csv
from tests.support.agent_runs import agent_session
from tests.support.form_app_fixture import FormApp
from tests.support.policy_server import PolicyServer, form_planner
from tests.support.wayland_session import WaylandSession

pytestmark = [pytest.mark.wayland, pytest.mark.slow, pytest.mark.timeout(300)]


async def test_fill_three_rows_on_wayland(
    wayland_form: FormApp, wayland: WaylandSession, policy_server: PolicyServer, tmp_path: Path
) -> None:
    policy_server.planner = form_planner(wayland_form.widget_rect, (0, 0, *wayland.size))
    data = write_csv(tmp_path / "people.csv", ROWS)  # ASCII, German and Japanese rows
    store = open_store()
    async with agent_session(settings_for(policy_server), 1, store) as session:
        assert isinstance(session.kit.executor._backend, MutterBackend)  # picked, not configured
        summary = await run_batch(BatchOptions("Fill in the registration form", data), store, session.run_row)
    assert summary.counts == {"done": 3}, summary
    submissions = wayland_form.submissions()
    assert [{k: s[k] for k in ("name", "city", "country", "subscribe")} for s in submissions] == [
        expected(r) for r in ROWS
    ]
    runs = store.list_runs()
    steps = store.steps(runs[0].id)
    clicks = [s for s in steps if s.action and s.action["action"] == "left_click"]
    assert clicks and all(s.execution and s.execution["point"] == list(s.point or ()) for s in clicks)
    shot = steps[0].screenshot_path
    assert shot and Path(shot).exists()
    store.close()
