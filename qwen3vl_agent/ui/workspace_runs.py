"""Agent runs in workspaces for the Agent pane: the core's `WorkspacePool` on the runner's worker loop.

`run_in_workspaces` starts N workspaces with the `--launch`-style command the user typed, runs the
task once (one workspace) or the data file's rows on all of them (`run_parallel_batch`), and
forwards what happens to the pane: `WorkspacesStarted` (names and displays, for the grid),
every run event wrapped in a `LaneEvent` (which workspace it came from), and the batch's row
events unwrapped (the rows table). `LaneControl` lets the grid pause / resume / stop whatever
run is going in a workspace now (a batch starts one run per row).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qwen3vl_agent.errors import UserFacingError


@dataclass(frozen=True)
class WorkspacesStarted:
    """The workspaces are up: (name, display, control) for each."""

    entries: tuple[tuple[str, str, Any], ...]


@dataclass(frozen=True)
class LaneEvent:
    """A core agent event from the run in workspace `lane`."""

    lane: str
    event: Any


class LaneControl:
    """pause / resume / stop of the run going in one workspace now (thread-safe, as the loop's are)."""

    def __init__(self, lane: Any) -> None:
        self.lane = lane

    def pause(self) -> None:
        if self.lane.current is not None:
            self.lane.current.pause()

    def resume(self) -> None:
        if self.lane.current is not None:
            self.lane.current.resume()

    def stop(self) -> None:
        self.lane.stop()


async def run_in_workspaces(
    settings: Any,
    service: Any,
    store: Any,
    *,
    task: str,
    mode: str,
    step_limit: int,
    count: int,
    launch: str,
    data_file: Path | None,
    emit: Any,
    on_pool: Any,
) -> Any:
    """The run or batch; `on_pool(pool)` hands the pool to the runner (so Stop reaches it)."""
    from qwen3vl_agent.agents.form_fill import BatchOptions
    from qwen3vl_agent.agents.parallel_batch import OnLane, run_parallel_batch
    from qwen3vl_agent.agents.workspace_lanes import WorkspacePool
    from qwen3vl_agent.workspace import WorkspaceSpec

    if mode == "confirm":
        raise UserFacingError(
            "Workspaces run without asking before each action", "choose Auto or Dry run as the safety mode"
        )
    spec = WorkspaceSpec(launch=launch)

    def lane_event(lane: str, event: Any) -> None:
        emit(LaneEvent(lane, event))

    def batch_event(event: Any) -> None:
        emit(event.event if isinstance(event, OnLane) else event)

    pool = WorkspacePool(
        count if data_file is not None else 1,
        spec,
        settings,
        model=service,
        store=store,
        mode=mode,
        on_event=lane_event,
        loop_overrides={"step_limit": step_limit, "on_handoff": "end" if data_file else "wait"},
    )
    on_pool(pool)
    async with pool:
        emit(
            WorkspacesStarted(
                tuple((lane.name, lane.workspace.display, LaneControl(lane)) for lane in pool.lanes)
            )
        )
        if data_file is None:
            return await pool.lanes[0].new_loop(task).run()
        return await run_parallel_batch(
            BatchOptions(task=task, data_path=data_file),
            store,
            pool.lanes,
            on_event=batch_event,
            should_stop=lambda: pool.stopped,
        )
