"""End to end on a real X server: the agent fills and submits the real Qt form from a CSV.

The scripted policy server (tests/support/policy_server.py) answers in Qwen3-VL's exact format,
with clicks computed from the form's real widget geometry; the engine client, queue, parser,
coordinate mapping, executor (pyautogui) and trajectory store are the product's own. The test
reads the submissions back from the form application.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from qwen3vl_agent.agents.form_fill import BatchOptions, run_batch
from qwen3vl_agent.agents.loop import AgentLoop
from qwen3vl_agent.agents.wiring import AgentKit, Target, open_store
from qwen3vl_agent.config import Settings
from qwen3vl_agent.runtime import build_runtime
from tests.support.form_app_fixture import FormApp
from tests.support.policy_server import PolicyServer, form_planner

pytestmark = [pytest.mark.xvfb, pytest.mark.slow]

ROWS = [
    {"name": "Ada Lovelace", "city": "London", "country": "France", "subscribe": "yes"},
    {"name": "Jürgen Groß", "city": "Zürich", "country": "Switzerland", "subscribe": "no"},
    {"name": "Kenji Sato", "city": "東京", "country": "Japan", "subscribe": "yes"},
]


def write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    cols = list(rows[0])
    lines = [",".join(cols)] + [",".join(r[c] for c in cols) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def monitor_rect(form_app: FormApp) -> tuple[int, int, int, int]:
    m = form_app.monitor
    return (m.left, m.top, m.width, m.height)


def expected(row: dict[str, str]) -> dict[str, object]:
    return {
        "name": row["name"],
        "city": row["city"],
        "country": row["country"],
        "subscribe": row["subscribe"] == "yes",
    }


def settings_for(server: PolicyServer, mode: str = "auto", **safety: object) -> Settings:
    return Settings(
        **server.settings_overrides(),
        safety={"mode": mode, "step_limit": 25, **safety},
        cache={"enabled": False},
    )


async def test_fill_three_rows_through_the_api(
    form_app: FormApp, policy_server: PolicyServer, tmp_path: Path
) -> None:
    policy_server.planner = form_planner(form_app.widget_rect, monitor_rect(form_app))
    data = write_csv(tmp_path / "people.csv", ROWS)
    settings = settings_for(policy_server)
    store = open_store()
    kit = AgentKit(settings, Target(monitor=form_app.monitor.index), "auto")
    runtime = await build_runtime(settings)
    try:

        async def run_row(task: str, row, batch_id: int):  # type: ignore[no-untyped-def]
            loop = AgentLoop(
                task,
                observer=kit.observer,
                model=runtime.service,
                mapper=kit.mapper,
                actor=kit.actor,
                store=store,
                parse=kit.parse,
                config=kit.loop_config(on_stuck="stop"),
                data_row=row.values,
                batch_id=batch_id,
                row_index=row.index,
            )
            kit.watch_stop(loop.stop)
            return await loop.run()

        summary = await run_batch(BatchOptions("Fill in the registration form", data), store, run_row)
    finally:
        await runtime.close()
        kit.close()
    assert summary.counts == {"done": 3}, summary
    submissions = form_app.submissions()
    assert [{k: s[k] for k in ("name", "city", "country", "subscribe")} for s in submissions] == [
        expected(r) for r in ROWS
    ]
    runs = store.list_runs()
    assert len(runs) == 3 and all(r.status == "finished" and r.outcome == "success" for r in runs)
    steps = store.steps(runs[0].id)
    assert steps and all(s.screenshot_path and Path(s.screenshot_path).exists() for s in steps)
    clicks = [s for s in steps if s.action and s.action["action"] == "left_click"]
    assert clicks and all(s.point is not None and s.outcome == "executed" for s in clicks)
    store.close()
