"""The trajectory store on a real SQLite file: runs, steps with screenshot files, batches and rows."""

from __future__ import annotations

from pathlib import Path

import pytest

from qwen3vl_agent.actions.model import Action, ActionType
from qwen3vl_agent.storage.trajectories import StepRecord, TrajectoryStore, hash_row


@pytest.fixture
def store(tmp_path: Path) -> TrajectoryStore:
    s = TrajectoryStore(tmp_path / "db.sqlite3", tmp_path / "images")
    yield s
    s.close()


def test_run_and_steps_round_trip(store: TrajectoryStore) -> None:
    run_id = store.create_run("fill the form", "dry-run", target={"monitor": 2}, data_row={"name": "Zoë"})
    path = store.save_screenshot(run_id, 1, b"\x89PNG fake bytes", "image/png")
    assert path.read_bytes() == b"\x89PNG fake bytes" and path.suffix == ".png"
    action = Action(ActionType.LEFT_CLICK, coordinate=(500.0, 250.0))
    step_id = store.add_step(
        StepRecord(
            run_id=run_id,
            step_index=1,
            screenshot_path=str(path),
            raw_text="Thought: click\n<tool_call>…",
            thought="click",
            action=action.to_json(),
            point=(2560, 432),
            outcome="proposed",
            capture_s=0.002,
            prompt_tokens=1200,
        )
    )
    store.update_step(step_id, outcome="executed", execution_s=0.01)
    store.set_run_status(run_id, "finished", outcome="success", message="done", finished=True)

    run = store.get_run(run_id)
    assert run is not None
    assert (run.status, run.outcome, run.step_count, run.data_row) == (
        "finished",
        "success",
        1,
        {"name": "Zoë"},
    )
    assert run.target == {"monitor": 2} and run.finished_at is not None
    [step] = store.steps(run_id)
    assert Action.from_json(step.action or {}) == action
    assert step.point == (2560, 432) and step.outcome == "executed" and step.execution_s == 0.01
    assert step.prompt_tokens == 1200 and step.screenshot_path == str(path)
    assert [r.id for r in store.list_runs()] == [run_id]

    store.delete_run(run_id)
    assert store.get_run(run_id) is None and not path.exists()


def test_unknown_statuses_are_refused(store: TrajectoryStore) -> None:
    run_id = store.create_run("t", "auto")
    with pytest.raises(ValueError):
        store.set_run_status(run_id, "exploded")
    with pytest.raises(ValueError):
        store.update_step(1, thought="not updatable")


def test_batch_is_found_again_by_file_and_task(store: TrajectoryStore) -> None:
    batch, resumed = store.find_or_create_batch("/data/rows.csv", "fill", "hash1")
    assert not resumed
    store.set_row(batch.id, 0, "running", row_hash=hash_row({"a": "1"}))
    store.set_row(batch.id, 0, "done", run_id=7, message="ok")
    store.set_row(batch.id, 1, "failed", message="step limit")
    again, resumed = store.find_or_create_batch("/data/rows.csv", "fill", "hash2")  # rows appended
    assert resumed and again.id == batch.id
    rows = store.rows(batch.id)
    assert rows[0].status == "done" and rows[0].run_id == 7 and rows[0].row_hash == hash_row({"a": "1"})
    assert store.row_counts(batch.id) == {"done": 1, "failed": 1}
    other, resumed = store.find_or_create_batch("/data/rows.csv", "another task", "hash2")
    assert not resumed and other.id != batch.id
    fresh, resumed = store.find_or_create_batch("/data/rows.csv", "fill", "hash2", restart=True)
    assert not resumed and fresh.id not in (batch.id, other.id)


def test_store_survives_reopening(tmp_path: Path) -> None:
    first = TrajectoryStore(tmp_path / "db.sqlite3", tmp_path / "images")
    run_id = first.create_run("t", "auto")
    first.close()
    second = TrajectoryStore(tmp_path / "db.sqlite3", tmp_path / "images")
    assert second.get_run(run_id) is not None
    second.close()
