"""Form filling from data: one agent episode per row of a CSV/JSON file, exactly once, resumable.

Exactly once: the batch holds an exclusive lock on the data file and on the desktop (a second
`agent fill` is refused, naming the holder); each row's state is read when its turn comes and the
row is claimed with a compare-and-set (`pending`/... -> `running`), so no row runs twice. Every
action is recorded as "executing" BEFORE it happens, so any unfinished row (stopped with the
hotkey or Ctrl+C, crashed, killed) can be asked "did it already act?": one that acted becomes
needs-attention (it may be submitted; `retry_failed` reruns it), never silently re-run.

Half-filled forms: a row that acted and did not finish leaves the target dirty. Before the next
row, the batch runs the reset the user configured (`target_reset.py`); without one it stops and
says why (once: the next run carries on, the person has been told to look). With read-back, a
row is done only when its values were seen on screen (before Submit too, see `read_back.py`).

Storage: the first failed write stops the batch (`TrajectoryWriteError`, one clear line); the
reserve file is freed so the run and row end in a truthful state, never `running`.
Engine failures: a row whose run ended because the engine kept failing (errors, garbage,
silence) is marked failed with that reason; after `ENGINE_FAILED_ROWS_STOP` such rows in a row
the batch stops instead of asking a broken engine about every remaining row (it resumes there).
Rows stream from the file (10,000 rows cost no memory).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qwen3vl_agent.agents.data_rows import DataRow, check_columns, open_data, render_task
from qwen3vl_agent.agents.loop import RunResult
from qwen3vl_agent.agents.target_reset import ResetFailed
from qwen3vl_agent.errors import StorageError
from qwen3vl_agent.storage.locks import batch_lock, desktop_lock
from qwen3vl_agent.storage.trajectories import (
    FINISHED_ROW_STATUSES,
    UNFINISHED_ROW_STATUSES,
    BatchRecord,
    TrajectoryStore,
    hash_row,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RowStarted:
    batch_id: int
    row_index: int
    values: dict[str, str]
    rerun_after_interrupt: bool = False


@dataclass(frozen=True)
class RowFinished:
    batch_id: int
    row_index: int
    status: str  # done | failed | needs-attention | pending (stopped: runs again next time)
    run_id: int | None
    message: str


@dataclass(frozen=True)
class BatchNotice:
    """A warning or information line (encoding fallback, resumed batch, skipped rows)."""

    batch_id: int
    message: str


BatchEvent = RowStarted | RowFinished | BatchNotice


@dataclass(frozen=True)
class ReadBackResult:
    ok: bool
    message: str


ENGINE_FAILED_ROWS_STOP = 3

# (task, row, batch_id) -> result; the row's values show secrets masked, `row.secrets` has them
RunRow = Callable[[str, DataRow, int], Awaitable[RunResult]]
ReadBack = Callable[[DataRow, RunResult], Awaitable[ReadBackResult]]
Reset = Callable[[], Awaitable[str]]  # puts the target back in a known state; says what it did


@dataclass
class BatchOptions:
    task: str
    data_path: Path
    required_columns: list[str] = field(default_factory=list)
    first_row: int = 0  # 0-based, inclusive
    last_row: int | None = None  # 0-based, exclusive
    retry_failed: bool = False  # run failed / needs-attention rows again
    restart: bool = False  # ignore an earlier batch for this file and task
    stop_on_failure: bool = False
    secret_columns: list[str] = field(default_factory=list)  # typed, never shown or sent to the model
    desktop: str | None = None  # the desktop lock's name (None: this process's display)

    def chosen(self, rows: Iterable[DataRow]) -> Iterator[DataRow]:
        """The rows from `first_row` up to (not including) `last_row`, read no further."""
        for row in rows:
            if self.last_row is not None and row.index >= self.last_row:
                return
            if row.index >= self.first_row:
                yield row


@dataclass
class BatchSummary:
    batch_id: int
    resumed: bool
    counts: dict[str, int]
    ran: list[int] = field(default_factory=list)
    skipped_done: int = 0
    stopped: bool = False
    warnings: list[str] = field(default_factory=list)
    stop_reason: str | None = None


def row_status(result: RunResult) -> str:
    if result.status == "finished":
        return "done"
    if result.status == "stopped":
        return "pending"
    if result.status == "needs-attention":
        return "needs-attention"
    return "failed"


async def run_batch(
    options: BatchOptions,
    store: TrajectoryStore,
    run_row: RunRow,
    *,
    read_back: ReadBack | None = None,
    reset: Reset | None = None,
    on_event: Callable[[BatchEvent], None] | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> BatchSummary:
    """Run the unfinished rows of the file, in order; see the module docstring."""
    source = open_data(options.data_path)
    check_columns(source, options.task, options.required_columns)
    data_path = str(options.data_path.resolve())
    with batch_lock(store.lock_dir, data_path), desktop_lock(store.lock_dir, options.desktop):
        batch_run = _BatchRun(options, store, run_row, read_back, reset, on_event, should_stop)
        return await batch_run.run(source, data_path)


@dataclass
class _BatchRun:
    options: BatchOptions
    store: TrajectoryStore
    run_row: RunRow
    read_back: ReadBack | None
    reset: Reset | None
    on_event: Callable[[BatchEvent], None] | None
    should_stop: Callable[[], bool]
    batch: BatchRecord = field(init=False)
    summary: BatchSummary = field(init=False)
    reset_due: str | None = field(default=None, init=False)
    engine_failed_rows: int = field(default=0, init=False)  # rows in a row the engine failed on

    def emit(self, event: BatchEvent) -> None:
        if self.on_event is not None:
            self.on_event(event)

    def notice(self, message: str) -> None:
        self.emit(BatchNotice(self.batch.id, message))

    async def run(self, source: Any, data_path: str) -> BatchSummary:
        store, options = self.store, self.options
        data_hash = await asyncio.to_thread(source.content_hash)
        self.batch, resumed = store.find_or_create_batch(
            data_path, options.task, data_hash, restart=options.restart
        )
        self.summary = BatchSummary(self.batch.id, resumed, {}, warnings=list(source.warnings))
        self.reset_due = self.batch.reset_due
        for warning in source.warnings:
            self.notice(warning)
        if resumed:
            done = store.row_counts(self.batch.id).get("done", 0)
            self.notice(f"resuming batch {self.batch.id}: {done} row(s) already done")
        store.ensure_reserve()
        store.set_batch_status(self.batch.id, "running")
        try:
            for row in options.chosen(source.rows()):
                if self.should_stop():
                    self.summary.stopped = True
                    break
                if not await self._row(row):
                    self.summary.stopped = True
                    break
        except StorageError:
            self._end_after_storage_error()
            raise
        summary = self.summary
        if self.reset_due and self.reset is None and summary.stopped:
            # the batch stops here: say why the next row was not started, once
            summary.stop_reason = summary.stop_reason or self._dirty_message(None)
            self.notice(summary.stop_reason)
            store.set_reset_due(self.batch.id, None)
        summary.counts = store.row_counts(self.batch.id)
        unfinished = summary.stopped or summary.counts.get("pending", 0) or summary.counts.get("running", 0)
        store.set_batch_status(self.batch.id, "stopped" if unfinished else "finished")
        return summary

    def _dirty_message(self, row: DataRow | None) -> str:
        before = f"not starting row {row.index + 1}: " if row is not None else ""
        return (
            f"{before}{self.reset_due}, so the form may still hold what it left."
            " Check the target (or give a reset step, e.g. --reset-command or --reset-keys,"
            " so the batch resets it), then run again"
        )

    def _mark_dirty(self, why: str) -> None:
        self.reset_due = why
        self.store.set_reset_due(self.batch.id, why)

    async def _row(self, row: DataRow) -> bool:
        """Handle one row; False stops the batch."""
        store, options, batch_id = self.store, self.options, self.batch.id
        number = row.index + 1
        row_hash = hash_row(row.values)
        state = store.row_state(batch_id, row.index)  # now, not at the start: others may write
        redo = {"failed", "needs-attention"} if options.retry_failed else set()
        if state is not None and state.status in FINISHED_ROW_STATUSES and state.status not in redo:
            if state.row_hash in (None, row_hash):
                self.summary.skipped_done += state.status == "done"
                return True
            self.notice(f"row {number} changed in the file since it ran; running it again")
        if state is not None and state.status in UNFINISHED_ROW_STATUSES:
            acted = store.row_actions(batch_id, row.index)
            if acted:
                self._mark_dirty(f"row {number} was interrupted after {acted} action(s) on screen")
                await self._release_stuck_input(number)
                if not options.retry_failed:
                    # it may have been submitted already: a person must look before it runs again
                    message = (
                        f"row {number} was interrupted after {acted} action(s) on screen;"
                        " check the form, then run with --retry-failed"
                    )
                    store.set_row(batch_id, row.index, "needs-attention", message=message)
                    self.emit(RowFinished(batch_id, row.index, "needs-attention", None, message))
                    return True
            elif state.status == "running":
                self.notice(f"row {number} was interrupted while running; running it again")
        if row.problem:
            message = f"row {number}" + (f" (line {row.line})" if row.line else "") + f" {row.problem}"
            store.set_row(batch_id, row.index, "needs-attention", row_hash=row_hash, message=message)
            self.emit(RowFinished(batch_id, row.index, "needs-attention", None, message))
            return True
        if self.reset_due and not await self._reset_before(row):
            return False
        if not store.claim_row(batch_id, row.index, row_hash, {state.status} if state else ()):
            self.notice(f"row {number} was taken by another run meanwhile; not running it here")
            return True
        shown = row.with_secrets_hidden(options.secret_columns)
        self.emit(
            RowStarted(batch_id, row.index, shown.values, state is not None and state.status == "running")
        )
        self.summary.ran.append(row.index)
        task = render_task(options.task, row.values, options.secret_columns)
        try:
            result = await self.run_row(task, shown, batch_id)
        except StorageError:
            raise
        except BaseException:
            self._end_interrupted(row)
            raise
        status, message = row_status(result), result.message
        if status == "done" and self.read_back is not None:
            check = await self.read_back(shown, result)
            if not check.ok:
                status, message = "needs-attention", f"read-back: {check.message}"
            else:
                message = f"{message}; read-back: {check.message}"
        if status != "done":
            acted = store.row_actions(batch_id, row.index)
            if acted:
                if status == "pending":  # stopped after acting: it may be half-filled or submitted
                    status = "needs-attention"
                    message = f"{message}; it had acted {acted} time(s) on screen: check the form"
                self._mark_dirty(f"row {number} ended {status} after {acted} action(s) on screen")
        store.set_row(batch_id, row.index, status, run_id=result.run_id, message=message)
        self.emit(RowFinished(batch_id, row.index, status, result.run_id, message))
        if result.status == "stopped":  # the user stopped the episode: stop the batch
            return False
        self.engine_failed_rows = self.engine_failed_rows + 1 if result.outcome == "engine-error" else 0
        if self.engine_failed_rows >= ENGINE_FAILED_ROWS_STOP:
            notice = f"stopping: the engine failed on {self.engine_failed_rows} rows in a row ({message})"
            self.summary.warnings.append(notice)
            self.notice(notice)
            return False
        return not (status != "done" and options.stop_on_failure)

    async def _release_stuck_input(self, number: int) -> None:
        """A process killed mid-action may have left a key or button down in the X server."""
        if self.options.desktop is not None:  # not this process's display: not ours to touch
            return
        from qwen3vl_agent.executor.stuck_input import release_stuck_input

        released = await asyncio.to_thread(release_stuck_input)
        if released:
            self.notice(f"released {', '.join(released)} left pressed when row {number} was interrupted")

    async def _reset_before(self, row: DataRow) -> bool:
        """Reset the target before `row` (False: no reset configured, or it failed: stop)."""
        if self.reset is None:
            self.summary.stop_reason = self._dirty_message(row)
            self.notice(self.summary.stop_reason)
            self.store.set_reset_due(self.batch.id, None)  # told once; the person checks the form
            self.reset_due = None
            return False
        try:
            what = await self.reset()
        except ResetFailed as exc:
            self.summary.stop_reason = f"not starting row {row.index + 1}: the reset failed: {exc}"
            self.notice(self.summary.stop_reason)
            return False
        self.notice(f"reset the target before row {row.index + 1} ({self.reset_due}): {what}")
        self.reset_due = None
        self.store.set_reset_due(self.batch.id, None)
        return True

    def _end_interrupted(self, row: DataRow) -> None:
        """Ctrl+C / cancel inside a row: leave it truthful (acted: needs-attention, else pending)."""
        try:
            acted = self.store.row_actions(self.batch.id, row.index)
            if acted:
                message = f"interrupted after {acted} action(s) on screen; check the form"
                self.store.set_row(self.batch.id, row.index, "needs-attention", message=message)
                self.store.set_reset_due(self.batch.id, f"row {row.index + 1} was interrupted part-way")
            else:
                self.store.set_row(self.batch.id, row.index, "pending", message="interrupted")
            self.store.set_batch_status(self.batch.id, "stopped")
        except StorageError as exc:
            log.error("batch %s: could not record the interruption: %s", self.batch.id, exc)

    def _end_after_storage_error(self) -> None:
        """After a failed write: free the reserve, then record what is true (best effort)."""
        store = self.store
        store.free_reserve()
        try:
            for index, state in store.rows(self.batch.id).items():
                if state.status == "running":
                    acted = store.row_actions(self.batch.id, index)
                    status = "needs-attention" if acted else "pending"
                    message = "stopped by a storage error" + (
                        f" after {acted} action(s) on screen; check the form" if acted else ""
                    )
                    store.set_row(self.batch.id, index, status, message=message)
            store.set_batch_status(self.batch.id, "stopped")
        except StorageError as exc:
            log.error("batch %s: its end could not be recorded either: %s", self.batch.id, exc)
