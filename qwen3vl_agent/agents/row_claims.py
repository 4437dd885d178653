"""Claiming a batch row atomically, so that concurrent workers (workspaces) run each row once.

A worker may run a row only after it moved the row's status from one it may take (`pending`, or
a finished status when the user asked to retry) to `running` in ONE transaction; a second worker
or a second process sees the row `running` and leaves it. SQLite serialises the writers (WAL,
`BEGIN IMMEDIATE`), so the UPDATE's `WHERE status IN (...)` is the arbiter.
"""

from __future__ import annotations

from collections.abc import Iterable

from qwen3vl_agent.storage.trajectories import TrajectoryStore


def claim_row(
    store: TrajectoryStore,
    batch_id: int,
    row_index: int,
    row_hash: str,
    takeable: Iterable[str] = ("pending",),
) -> bool:
    """Set the row `running` if its status is one of `takeable` (a new row counts as pending);
    `TrajectoryStore.claim_row` (one transaction; a failed write is a `TrajectoryWriteError`)."""
    return store.claim_row(batch_id, row_index, row_hash, takeable)


def row_started(store: TrajectoryStore, batch_id: int, row_index: int) -> bool:
    """Whether an episode of this row ever began (a run record is written before its first step).

    After a `kill -9` the step records of the last moments may be missing (they are written in
    the background), so "it began" is the safe test for "it may have acted".
    """
    row = store.db.execute(
        "SELECT count(*) FROM agent_runs WHERE batch_id = ? AND row_index = ?", [batch_id, row_index]
    ).fetchone()
    return bool(row and row[0])
