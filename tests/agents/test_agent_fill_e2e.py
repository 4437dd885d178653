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
from qwen3vl_agent.agents.wiring import open_store
from qwen3vl_agent.config import Settings
from tests.support.agent_runs import agent_session
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
    async with agent_session(settings, form_app.monitor.index, store) as session:
        summary = await run_batch(BatchOptions("Fill in the registration form", data), store, session.run_row)
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
    assert all(
        s.execution and s.execution["status"] == "executed" and s.execution["primitives"] for s in clicks
    )
    assert all(s.execution and s.execution["point"] == list(s.point or ()) for s in clicks)
    store.close()


async def test_read_back_marks_a_mistyped_row_for_attention(
    form_app: FormApp, policy_server: PolicyServer, tmp_path: Path
) -> None:
    """Read-back OCRs the screen/screenshots: a row the model typed wrong is not marked done."""
    from qwen3vl_agent.agents.form_fill import ReadBackResult
    from qwen3vl_agent.agents.read_back import check_read_back
    from tests.support.policy_server import PolicyContext

    rows = [{"name": "Grace Hopper", "city": "Arlington"}, {"name": "Alan Turing", "city": "Manchester"}]
    honest = form_planner(form_app.widget_rect, monitor_rect(form_app))

    def sloppy(ctx: PolicyContext) -> str:
        if ctx.values.get("city") == "Manchester":  # the model mistypes the second row's city
            ctx = PolicyContext(**{**ctx.__dict__, "values": {**ctx.values, "city": "Birmingham"}})
        return honest(ctx)

    policy_server.planner = sloppy
    data = write_csv(tmp_path / "people.csv", rows)
    settings = settings_for(policy_server)
    store = open_store()
    async with agent_session(settings, form_app.monitor.index, store) as session:

        async def read_back(row, result) -> ReadBackResult:  # type: ignore[no-untyped-def]
            report = await check_read_back(session.kit, store, result.run_id, row.values)
            return ReadBackResult(report.ok, report.message)

        summary = await run_batch(
            BatchOptions("Register this person", data), store, session.run_row, read_back=read_back
        )
    states = store.rows(summary.batch_id)
    assert states[0].status == "done", states[0].message
    assert "all values seen" in (states[0].message or "")
    assert states[1].status == "needs-attention"
    assert "Manchester" in (states[1].message or "") and "Alan Turing" not in (states[1].message or "")
    assert len(form_app.submissions()) == 2  # it was submitted; a person must look at it
    store.close()


async def test_absolute_pixel_mode_clicks_the_right_widget(
    form_app: FormApp, policy_server: PolicyServer
) -> None:
    """Qwen2.5-VL style: coordinates in pixels of the image the model was sent (not 0..1000)."""
    from qwen3vl_agent.agents import events as ev
    from tests.agents.agent_harness import Harness, policy_settings
    from tests.support.policy_server import PolicyContext, tool_call

    left, top, _w, height = form_app.widget_rect("subscribe")
    m = form_app.monitor

    def planner(ctx: PolicyContext) -> str:
        if ctx.step:
            return tool_call({"action": "terminate", "status": "success"})
        w, h = ctx.image_sizes[-1]  # the resized screenshot the model saw
        x = round((left + 9 - m.left) / m.width * w)
        y = round((top + height / 2 - m.top) / m.height * h)
        assert f"resolution is {w}x{h}" in ctx.body["messages"][0]["content"]
        return tool_call({"action": "left_click", "coordinate": [x, y]})

    policy_server.planner = planner
    settings = policy_settings(policy_server, screen={"coordinate_mode": "absolute"})
    h = Harness(settings, m.index)
    result = await h.run("Tick the newsletter box")
    assert result.outcome == "success", result
    [executed] = h.of(ev.ActionExecuted)
    assert executed.outcome == "executed"
    form_app.wait_for(lambda s: s["subscribe"] is True)
