"""Deleting agent runs, by age (the `privacy.keep_runs_days` setting) and by id (`agent runs
--delete`): the database rows AND the screenshot files and reports go; runs an unfinished batch
still needs stay."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from qwen3vl_agent.agents.retention import (
    RunInUseError,
    UnknownRunError,
    apply_retention,
    delete_runs,
    report_path,
)
from qwen3vl_agent.storage.trajectories import StepRecord, TrajectoryStore

DAY = 86400.0


def _store(home: Path) -> TrajectoryStore:
    data = home / "data"
    return TrajectoryStore(data / "qwen3vl-agent.sqlite3", data / "trajectories")


def _run(store: TrajectoryStore, task: str, age_days: float, reports: Path, **kw: object) -> int:
    run_id = store.create_run(task, "auto", **kw)  # type: ignore[arg-type]
    path = store.save_screenshot(run_id, 0, b"\x89PNG screenshot", "image/png")
    store.add_step(StepRecord(run_id=run_id, step_index=0, screenshot_path=str(path), outcome="executed"))
    store.set_run_status(run_id, "finished", outcome="success", finished=True)
    store.db.execute(
        "UPDATE agent_runs SET started_at = ? WHERE id = ?", [time.time() - age_days * DAY, run_id]
    )
    store.db.conn.commit()
    reports.mkdir(parents=True, exist_ok=True)
    report_path(reports, run_id).write_text("<html>report</html>")
    return run_id


def _counts(store: TrajectoryStore, run_id: int) -> tuple[int, int]:
    runs = store.db.execute("SELECT count(*) FROM agent_runs WHERE id = ?", [run_id]).fetchone()[0]
    steps = store.db.execute("SELECT count(*) FROM agent_steps WHERE run_id = ?", [run_id]).fetchone()[0]
    return runs, steps


def test_retention_deletes_old_runs_with_their_files_and_keeps_what_a_batch_needs(tmp_path: Path) -> None:
    store = _store(tmp_path)
    reports = tmp_path / "data" / "reports"
    old = _run(store, "old one", 40, reports)
    recent = _run(store, "recent one", 2, reports)
    batch, _ = store.find_or_create_batch("people.csv", "Register", "h")
    unfinished = _run(store, "row 0", 40, reports, batch_id=batch.id, row_index=0, data_row={"name": "A"})
    store.set_row(batch.id, 0, "running", run_id=unfinished)
    finished_row = _run(store, "row 1", 40, reports, batch_id=batch.id, row_index=1, data_row={"name": "B"})
    store.set_row(batch.id, 1, "done", run_id=finished_row)

    assert apply_retention(store, None, reports).deleted == []  # the default: keep everything
    result = apply_retention(store, 30, reports)

    assert sorted(result.deleted) == [old, finished_row]
    assert unfinished in result.kept and "batch" in result.kept[unfinished]
    for gone in (old, finished_row):
        assert _counts(store, gone) == (0, 0)
        assert not store.run_dir(gone).exists()
        assert not report_path(reports, gone).exists()
    for kept in (recent, unfinished):
        assert _counts(store, kept) == (1, 1)
        assert any(store.run_dir(kept).iterdir()) and report_path(reports, kept).exists()
    store.close()


def test_delete_by_id_is_all_or_nothing(tmp_path: Path) -> None:
    store = _store(tmp_path)
    reports = tmp_path / "reports"
    a = _run(store, "a", 1, reports)
    b = _run(store, "b", 1, reports)
    with pytest.raises(UnknownRunError) as unknown:
        delete_runs(store, [a, 999], reports)
    assert unknown.value.run_ids == [999] and _counts(store, a) == (1, 1)
    live = store.create_run("live", "auto")
    with pytest.raises(RunInUseError) as in_use:
        delete_runs(store, [b, live], reports)
    assert in_use.value.run_id == live and _counts(store, b) == (1, 1)
    assert delete_runs(store, [a, b], reports).deleted == [a, b]
    assert _counts(store, a) == _counts(store, b) == (0, 0)
    assert not store.run_dir(a).exists() and not report_path(reports, b).exists()
    store.close()


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "qwen3vl_agent", "agent", "runs", *args],
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_agent_runs_delete_and_older_than_on_the_command_line(app_home: Path) -> None:
    store = _store(app_home)
    reports = app_home / "data" / "reports"
    keep = _run(store, "keep me", 1, reports)
    by_id = _run(store, "delete me by id", 1, reports)
    by_age = _run(store, "delete me by age", 10, reports)
    store.close()

    listed = _cli()
    assert listed.returncode == 0 and listed.stdout.count("finished") == 3

    bad = _cli("--delete", str(by_id), "4242")
    assert bad.returncode == 2 and "no agent run 4242" in bad.stderr and "Traceback" not in bad.stderr
    assert "delete me by id" in _cli().stdout  # nothing was deleted
    assert _cli("--delete").returncode == 2  # ids are required
    assert _cli(str(by_id)).returncode == 2  # ids without --delete are not a listing filter

    done = _cli("--delete", str(by_id), "--older-than", "5")
    assert done.returncode == 0, done.stderr
    assert f"deleted 2 agent runs: {by_id}, {by_age}" in done.stdout
    after = _cli().stdout
    assert "keep me" in after and "delete me" not in after
    store = _store(app_home)
    assert _counts(store, by_age) == (0, 0) and _counts(store, keep) == (1, 1)
    assert not store.run_dir(by_id).exists() and store.run_dir(keep).exists()
    store.close()
