"""Deleting agent runs: by id (`agent runs --delete`) or by age (the `privacy.keep_runs_days`
setting, applied when the app or an agent command starts and after each run).

A run takes its steps, its screenshot folder and its default HTML report with it. Runs that an
unfinished form-fill batch still needs (a resume asks them whether the row already acted) are
never deleted: that check is what keeps a row from being submitted twice.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from qwen3vl_agent.errors import UserFacingError
from qwen3vl_agent.storage.trajectories import TrajectoryStore

log = logging.getLogger(__name__)

DAY_S = 86400.0
LIVE_RUN_WINDOW_S = DAY_S  # a 'running' run younger than this may be live in another process


class UnknownRunError(UserFacingError):
    """Runs asked for by id do not exist."""

    def __init__(self, run_ids: list[int]) -> None:
        self.run_ids = run_ids
        ids = ", ".join(str(i) for i in run_ids)
        super().__init__(
            f"There is no agent run {ids}; nothing was deleted", "list runs with: qwen3vl-agent agent runs"
        )


class RunInUseError(UserFacingError):
    """A run asked for by id is still needed (a live run, or a row of an unfinished batch)."""

    def __init__(self, run_id: int, reason: str) -> None:
        self.run_id = run_id
        self.reason = reason
        super().__init__(f"Agent run {run_id} cannot be deleted: {reason}; nothing was deleted")


@dataclass
class DeletedRuns:
    deleted: list[int] = field(default_factory=list)
    kept: dict[int, str] = field(default_factory=dict)  # run id -> why it stays


def report_path(reports_dir: Path, run_id: int) -> Path:
    """Where `agent report` writes a run's report by default."""
    return reports_dir / f"run-{run_id}.html"


def _delete(store: TrajectoryStore, run_ids: Iterable[int], reports_dir: Path | None) -> list[int]:
    done: list[int] = []
    for run_id in run_ids:
        store.delete_run(run_id)
        if reports_dir is not None:
            report_path(reports_dir, run_id).unlink(missing_ok=True)
        done.append(run_id)
    return done


def delete_runs(store: TrajectoryStore, run_ids: list[int], reports_dir: Path | None) -> DeletedRuns:
    """Delete the given runs, or none of them (an unknown id, or a run still in use)."""
    wanted = sorted(set(run_ids))
    runs = {i: store.get_run(i) for i in wanted}
    missing = [i for i, r in runs.items() if r is None]
    if missing:
        raise UnknownRunError(missing)
    for run_id, batch_id in sorted(store.runs_needed_by_batches(wanted).items()):
        raise RunInUseError(
            run_id, f"batch {batch_id} has not finished this row (its resume checks what the run did)"
        )
    now = time.time()
    for run_id, run in runs.items():
        assert run is not None
        if run.status == "running" and now - run.started_at < LIVE_RUN_WINDOW_S:
            raise RunInUseError(run_id, "it may still be running (stop it first)")
    return DeletedRuns(deleted=_delete(store, wanted, reports_dir))


def delete_runs_older_than(
    store: TrajectoryStore, days: float, reports_dir: Path | None, *, now: float | None = None
) -> DeletedRuns:
    """Delete every run started more than `days` ago, except those a batch still needs."""
    cutoff = (time.time() if now is None else now) - days * DAY_S
    old = store.run_ids_started_before(cutoff)
    needed = store.runs_needed_by_batches(old)
    kept = {i: f"batch {b} has not finished this row" for i, b in needed.items()}
    deleted = _delete(store, [i for i in old if i not in needed], reports_dir)
    if deleted:
        log.info("retention: deleted %d agent runs older than %g days", len(deleted), days)
    return DeletedRuns(deleted=deleted, kept=kept)


def apply_retention(store: TrajectoryStore, keep_days: float | None, reports_dir: Path | None) -> DeletedRuns:
    """The `privacy.keep_runs_days` setting (None: keep everything)."""
    if keep_days is None:
        return DeletedRuns()
    return delete_runs_older_than(store, keep_days, reports_dir)


def retention_pass(store: TrajectoryStore, keep_days: float | None, reports_dir: Path | None) -> DeletedRuns:
    """`apply_retention` that never breaks the run or start-up it is part of (a failure is logged)."""
    try:
        return apply_retention(store, keep_days, reports_dir)
    except (UserFacingError, OSError, sqlite3.Error) as exc:
        log.warning("retention: old agent runs were not deleted: %s", exc)
        return DeletedRuns()


def prune_app_runs(keep_days: float | None) -> DeletedRuns:
    """Apply the retention setting to the app's own store (blocking: call off the UI thread)."""
    if keep_days is None:
        return DeletedRuns()
    from qwen3vl_agent.agents.wiring import data_dir_for_reports, open_store

    store = open_store()
    try:
        return retention_pass(store, keep_days, data_dir_for_reports())
    finally:
        store.close()
