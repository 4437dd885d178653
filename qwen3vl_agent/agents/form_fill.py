"""Form filling from data: one agent episode per row of a CSV/JSON file, resumable.

Each row's status (pending -> running -> done / failed / needs-attention) is written to the
trajectory store BEFORE and AFTER its episode, so a batch killed at any point resumes at the
first unfinished row and never re-runs (re-submits) a row marked done. A row interrupted while
running runs again only if its episode had not acted on the screen yet; one that had (it may
already be submitted) is marked needs-attention, for a person to check (`retry_failed` reruns it).
Rows stream from the file (10,000 rows cost no memory). With read-back, a row becomes done only
after its values were seen on screen by the CPU OCR engine. A row whose run ended because the
engine kept failing (errors, garbage, silence) is marked failed with that reason; after
`ENGINE_FAILED_ROWS_STOP` such rows in a row the batch stops instead of asking a broken engine
about every remaining row (it resumes where it stopped).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from qwen3vl_agent.agents.data_rows import DataRow, check_columns, open_data, render_task
from qwen3vl_agent.agents.loop import RunResult
from qwen3vl_agent.storage.trajectories import FINISHED_ROW_STATUSES, TrajectoryStore, hash_row


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

RunRow = Callable[[str, DataRow, int], Awaitable[RunResult]]  # (task, row, batch_id) -> result
ReadBack = Callable[[DataRow, RunResult], Awaitable[ReadBackResult]]


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


@dataclass
class BatchSummary:
    batch_id: int
    resumed: bool
    counts: dict[str, int]
    ran: list[int] = field(default_factory=list)
    skipped_done: int = 0
    stopped: bool = False
    warnings: list[str] = field(default_factory=list)


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
    on_event: Callable[[BatchEvent], None] | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> BatchSummary:
    """Run the unfinished rows of the file, in order; see the module docstring."""
    emit = on_event or (lambda _e: None)
    source = open_data(options.data_path)
    check_columns(source, options.task, options.required_columns)
    data_path = str(options.data_path.resolve())
    data_hash = await asyncio.to_thread(source.content_hash)
    batch, resumed = store.find_or_create_batch(data_path, options.task, data_hash, restart=options.restart)
    summary = BatchSummary(batch.id, resumed, {}, warnings=list(source.warnings))
    for warning in source.warnings:
        emit(BatchNotice(batch.id, warning))
    states = store.rows(batch.id)
    if resumed:
        done = sum(1 for s in states.values() if s.status == "done")
        emit(BatchNotice(batch.id, f"resuming batch {batch.id}: {done} row(s) already done"))
    store.set_batch_status(batch.id, "running")
    redo = {"failed", "needs-attention"} if options.retry_failed else set()
    engine_failed_rows = 0
    for row in source.rows():
        if row.index < options.first_row:
            continue
        if options.last_row is not None and row.index >= options.last_row:
            break
        if should_stop():
            summary.stopped = True
            break
        row_hash = hash_row(row.values)
        state = states.get(row.index)
        interrupted = state is not None and state.status == "running"
        if state is not None and state.status in FINISHED_ROW_STATUSES and state.status not in redo:
            if state.row_hash in (None, row_hash):
                summary.skipped_done += state.status == "done"
                continue
            emit(
                BatchNotice(
                    batch.id, f"row {row.index + 1} changed in the file since it ran; running it again"
                )
            )
        if interrupted:
            acted = store.row_actions(batch.id, row.index)
            if acted and not options.retry_failed:
                # it may have been submitted already: a person must look before it runs again
                message = (
                    f"row {row.index + 1} was interrupted after {acted} action(s) on screen;"
                    " check the form, then run with --retry-failed"
                )
                store.set_row(batch.id, row.index, "needs-attention", message=message)
                emit(RowFinished(batch.id, row.index, "needs-attention", None, message))
                continue
            emit(
                BatchNotice(batch.id, f"row {row.index + 1} was interrupted while running; running it again")
            )
        if row.problem:
            message = f"row {row.index + 1}" + (f" (line {row.line})" if row.line else "") + f" {row.problem}"
            store.set_row(batch.id, row.index, "needs-attention", row_hash=row_hash, message=message)
            emit(RowFinished(batch.id, row.index, "needs-attention", None, message))
            continue
        store.set_row(batch.id, row.index, "running", row_hash=row_hash, message=None)
        emit(RowStarted(batch.id, row.index, row.values, interrupted))
        summary.ran.append(row.index)
        try:
            result = await run_row(render_task(options.task, row.values), row, batch.id)
        except BaseException:
            store.set_row(batch.id, row.index, "pending", message="interrupted")
            raise
        status, message = row_status(result), result.message
        if status == "done" and read_back is not None:
            check = await read_back(row, result)
            if not check.ok:
                status, message = "needs-attention", f"read-back: {check.message}"
            else:
                message = f"{message}; read-back: {check.message}"
        store.set_row(batch.id, row.index, status, run_id=result.run_id, message=message)
        emit(RowFinished(batch.id, row.index, status, result.run_id, message))
        if status == "pending":  # the user stopped the episode: stop the batch
            summary.stopped = True
            break
        engine_failed_rows = engine_failed_rows + 1 if result.outcome == "engine-error" else 0
        if engine_failed_rows >= ENGINE_FAILED_ROWS_STOP:
            notice = f"stopping: the engine failed on {engine_failed_rows} rows in a row ({message})"
            summary.warnings.append(notice)
            emit(BatchNotice(batch.id, notice))
            summary.stopped = True
            break
        if status != "done" and options.stop_on_failure:
            summary.stopped = True
            break
    summary.counts = store.row_counts(batch.id)
    unfinished = summary.stopped or summary.counts.get("pending", 0) or summary.counts.get("running", 0)
    store.set_batch_status(batch.id, "stopped" if unfinished else "finished")
    return summary
