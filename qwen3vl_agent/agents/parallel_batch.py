"""Form filling on several lanes at once (one lane = one workspace with its own app), each row once.

Rows stream from the file into a small queue; each lane takes the next row, CLAIMS it in the
store (`TrajectoryStore.claim_row`: an atomic `pending -> running`), runs its episode and records the
row's end. So every row runs exactly once however many lanes or processes share the batch:

* a row left `running` by a killed batch never runs again by itself if it had acted on screen
  (an "executing" step is recorded before each action; it may have submitted): it becomes
  needs-attention, for a person to check (`--retry-failed`); one that had not acted runs again;
* a row the user stopped after it acted likewise; one stopped before acting is pending again;
* a row that ends not done (failed, needs-attention, waiting for the user) leaves its lane's app
  in an unknown state: the lane is reset (its app relaunched) before it takes the next row;
* needs-attention rows are never re-run unless `retry_failed`.

All lanes share the one inference service (its priority queue), so chat still goes first.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from qwen3vl_agent.agents.data_rows import DataRow, check_columns, open_data, render_task
from qwen3vl_agent.agents.form_fill import (
    BatchEvent,
    BatchNotice,
    BatchOptions,
    BatchSummary,
    ReadBackResult,
    RowFinished,
    RowStarted,
    row_status,
)
from qwen3vl_agent.agents.loop import RunResult
from qwen3vl_agent.storage.locks import batch_lock
from qwen3vl_agent.storage.trajectories import FINISHED_ROW_STATUSES, RowState, TrajectoryStore, hash_row


class Lane(Protocol):
    """One place rows run in (a workspace): runs a row's episode, and resets its app."""

    name: str

    async def run_row(self, task: str, row: DataRow, batch_id: int) -> RunResult: ...

    async def reset(self) -> None:
        """Give the next row a clean target (relaunch the app)."""
        ...


@dataclass(frozen=True)
class OnLane:
    """A row event, with the lane it happened on."""

    lane: str
    event: BatchEvent


LaneReadBack = Callable[[Lane, DataRow, RunResult], Awaitable[ReadBackResult]]


def _triage(
    store: TrajectoryStore, batch_id: int, row: DataRow, state: RowState | None, options: BatchOptions
) -> tuple[str, str]:
    """("run" | "skip" | "attention", message) for a row as the batch (re)starts."""
    redo = {"failed", "needs-attention"} if options.retry_failed else set()
    row_hash = hash_row(row.values)
    if state is not None and state.status in FINISHED_ROW_STATUSES and state.status not in redo:
        if state.row_hash in (None, row_hash):
            return "skip", ""
        return "run", f"row {row.index + 1} changed in the file since it ran; running it again"
    if state is not None and state.status == "running" and not options.retry_failed:
        acted = store.row_actions(batch_id, row.index)  # "executing" is recorded before each action
        if acted:
            return "attention", (
                f"row {row.index + 1} was interrupted after {acted} action(s) on screen (it may have"
                " submitted); check the target, then run with --retry-failed"
            )
        return "run", f"row {row.index + 1} was interrupted before it acted; running it again"
    if row.problem:
        where = f" (line {row.line})" if row.line else ""
        return "attention", f"row {row.index + 1}{where} {row.problem}"
    return "run", ""


async def run_parallel_batch(
    options: BatchOptions,
    store: TrajectoryStore,
    lanes: Sequence[Lane],
    *,
    read_back: LaneReadBack | None = None,
    on_event: Callable[[BatchEvent | OnLane], None] | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> BatchSummary:
    """Run the unfinished rows of the file on `lanes` at once; see the module docstring.

    Holds the data file's batch lock (as `form_fill.run_batch` does): a row another process is
    running would look interrupted here. The lanes' own displays need no desktop lock.
    """
    with batch_lock(store.lock_dir, str(options.data_path.resolve())):
        return await _run_parallel_locked(
            options, store, lanes, read_back=read_back, on_event=on_event, should_stop=should_stop
        )


async def _run_parallel_locked(
    options: BatchOptions,
    store: TrajectoryStore,
    lanes: Sequence[Lane],
    *,
    read_back: LaneReadBack | None = None,
    on_event: Callable[[BatchEvent | OnLane], None] | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> BatchSummary:
    if not lanes:
        raise ValueError("a parallel batch needs at least one lane")
    emit = on_event or (lambda _e: None)
    source = open_data(options.data_path)
    check_columns(source, options.task, options.required_columns)
    data_hash = await asyncio.to_thread(source.content_hash)
    batch, resumed = store.find_or_create_batch(
        str(options.data_path.resolve()), options.task, data_hash, restart=options.restart
    )
    summary = BatchSummary(batch.id, resumed, {}, warnings=list(source.warnings))
    for warning in source.warnings:
        emit(BatchNotice(batch.id, warning))
    states = store.rows(batch.id)
    if resumed:
        done = sum(1 for s in states.values() if s.status == "done")
        emit(BatchNotice(batch.id, f"resuming batch {batch.id}: {done} row(s) already done"))
    store.set_batch_status(batch.id, "running")
    takeable = {"running", "failed", "needs-attention"} if options.retry_failed else {"running"}
    queue: asyncio.Queue[DataRow | None] = asyncio.Queue(maxsize=2 * len(lanes))
    halt = asyncio.Event()

    def stopping() -> bool:
        if should_stop():
            halt.set()
        return halt.is_set()

    async def produce() -> None:
        try:
            for row in options.chosen(source.rows()):
                if stopping():
                    summary.stopped = True
                    break
                verdict, message = _triage(store, batch.id, row, states.get(row.index), options)
                if verdict == "skip":
                    summary.skipped_done += states[row.index].status == "done"
                    continue
                if verdict == "attention":
                    store.set_row(
                        batch.id, row.index, "needs-attention", row_hash=hash_row(row.values), message=message
                    )
                    emit(RowFinished(batch.id, row.index, "needs-attention", None, message))
                    continue
                if message:
                    emit(BatchNotice(batch.id, message))
                await queue.put(row)
        finally:
            for _ in lanes:
                await queue.put(None)

    async def work(lane: Lane) -> None:
        while (row := await queue.get()) is not None:
            if stopping():
                summary.stopped = True
                continue  # drain: the producer must not block on a full queue
            if not store.claim_row(batch.id, row.index, hash_row(row.values), takeable):
                emit(BatchNotice(batch.id, f"row {row.index + 1} is taken by another run; leaving it"))
                continue
            shown = row.with_secrets_hidden(options.secret_columns)  # secrets: typed, never shown
            emit(OnLane(lane.name, RowStarted(batch.id, row.index, shown.values)))
            summary.ran.append(row.index)
            status, message, run_id = await _run_one(lane, row, batch.id)
            store.set_row(batch.id, row.index, status, run_id=run_id, message=message)
            emit(OnLane(lane.name, RowFinished(batch.id, row.index, status, run_id, message)))
            if status == "pending":  # stopped by the user
                summary.stopped = True
                halt.set()
                continue
            if status != "done":
                if options.stop_on_failure:
                    summary.stopped = True
                    halt.set()
                if not halt.is_set():
                    await lane.reset()

    async def _run_one(lane: Lane, row: DataRow, batch_id: int) -> tuple[str, str, int | None]:
        try:
            task = render_task(options.task, row.values, options.secret_columns)
            result = await lane.run_row(task, row.with_secrets_hidden(options.secret_columns), batch_id)
        except BaseException:
            store.set_row(
                batch_id, row.index, "needs-attention", message="interrupted while running; check it"
            )
            raise
        status, message = row_status(result), result.message
        if status == "pending" and store.row_actions(batch_id, row.index):
            status = "needs-attention"
            message = f"stopped after acting ({message}); check the target, then run with --retry-failed"
        if status == "done" and read_back is not None:  # the row as shown: secrets are not looked for
            check = await read_back(lane, row.with_secrets_hidden(options.secret_columns), result)
            status = "done" if check.ok else "needs-attention"
            message = f"{message}; read-back: {check.message}" if check.ok else f"read-back: {check.message}"
        return status, message, result.run_id

    try:
        async with asyncio.TaskGroup() as group:
            group.create_task(produce())
            for lane in lanes:
                group.create_task(work(lane))
    except BaseExceptionGroup as group_error:  # one lane failed (its app died...): say why, once
        raise _first_error(group_error) from None
    finally:
        summary.counts = store.row_counts(batch.id)
        unfinished = summary.stopped or summary.counts.get("pending", 0) or summary.counts.get("running", 0)
        store.set_batch_status(batch.id, "stopped" if unfinished else "finished")
    return summary


def _first_error(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The error to show: a user-facing one if any lane had one, else the first."""
    from qwen3vl_agent.errors import UserFacingError

    flat: list[BaseException] = []
    pending: list[BaseException] = [group]
    while pending:
        item = pending.pop(0)
        if isinstance(item, BaseExceptionGroup):
            pending.extend(item.exceptions)
        else:
            flat.append(item)
    return next((e for e in flat if isinstance(e, UserFacingError)), flat[0])
