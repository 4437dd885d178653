"""Workspaces as lanes of a parallel batch (or the one place of a single run): app, eyes and hands.

`WorkspacePool` starts N workspaces (each an X display of its own with the `--launch` app in it,
`qwen3vl_agent.workspace`), and for each an `AgentKit` whose capture and XTest input are bound to
that display. Runs on all of them share ONE inference service (the caller's runtime: one priority
queue), ONE stop hotkey on the user's desktop (it stops every run), and the store.

Read-back (`ReadBackSpec`) works per workspace as on the desktop: the check before a click on
Submit looks at that workspace's screenshot, and the check after a row (`lane_read_back`) captures
that workspace's display (then its run's screenshots): each form is read back from inside its own
display, never from the user's screen or another workspace.

Spawning happens on the calling (event-loop) thread, which lives as long as the pool: the
parent-death signal of each workspace's guards follows that thread (see `engine.guarded`).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from qwen3vl_agent.agents import events as ev
from qwen3vl_agent.agents.data_rows import DataRow
from qwen3vl_agent.agents.form_fill import ReadBackResult
from qwen3vl_agent.agents.loop import AgentLoop, RunResult
from qwen3vl_agent.agents.wiring import AgentKit, Confirm, Target
from qwen3vl_agent.config import Settings
from qwen3vl_agent.storage.trajectories import TrajectoryStore
from qwen3vl_agent.workspace import Workspace, WorkspaceSpec

if TYPE_CHECKING:
    from qwen3vl_agent.executor.stop import StopHotkey

log = logging.getLogger(__name__)

LaneEventCallback = Callable[[str, ev.AgentEvent], None]  # (lane name, event)


@dataclass(frozen=True)
class ReadBackSpec:
    """`--read-back` for workspace rows: which columns to check (None: the visible ones)."""

    fields: list[str] | None = None


@dataclass
class WorkspaceLane:
    """One workspace and the kit acting in it; runs one episode at a time."""

    name: str
    workspace: Workspace
    kit: AgentKit
    model: Any  # the shared inference service (ModelClient)
    store: TrajectoryStore
    on_event: LaneEventCallback | None = None
    loop_overrides: dict[str, Any] = field(default_factory=dict)
    read_back: ReadBackSpec | None = None
    current: AgentLoop | None = None

    def new_loop(self, task: str, **row: Any) -> AgentLoop:
        callback = self.on_event
        parse: Any = self.kit.parse  # (text, observation) -> ParsedResponse

        def forward(event: ev.AgentEvent) -> None:
            if callback is not None:
                callback(self.name, event)

        loop = AgentLoop(
            task,
            observer=self.kit.observer,
            model=self.model,
            mapper=self.kit.mapper,
            actor=self.kit.actor,
            store=self.store,
            parse=parse,
            config=self.kit.loop_config(**{"on_stuck": "stop", "on_handoff": "end", **self.loop_overrides}),
            on_event=forward,
            **row,
        )
        self.current = loop
        self.kit.executor.resume()  # a stop of an earlier run no longer blocks this one
        return loop

    async def run_row(self, task: str, row: DataRow, batch_id: int) -> RunResult:
        gate = None
        if self.read_back is not None:
            from qwen3vl_agent.agents.read_back import SubmitCheck

            gate = SubmitCheck(row.values, self.read_back.fields)  # this workspace's screenshots
        loop = self.new_loop(
            task, data_row=row.values, batch_id=batch_id, row_index=row.index, secrets=row.secrets, gate=gate
        )
        try:
            return await loop.run()
        finally:
            self.current = None

    async def check_row(self, row: DataRow, result: RunResult) -> ReadBackResult:
        """Read-back of a finished row: this workspace's display now, then the run's screenshots."""
        from qwen3vl_agent.agents.read_back import check_read_back

        fields = self.read_back.fields if self.read_back is not None else None
        report = await check_read_back(self.kit, self.store, result.run_id, row.values, fields)
        return ReadBackResult(report.ok, report.message)

    async def reset(self) -> None:
        """End the app and launch it again (the next row never starts on a half-filled form)."""
        await asyncio.to_thread(self.workspace.stop_app)
        self.workspace.launch()  # spawned on the loop's thread (parent-death signal)
        await asyncio.to_thread(self.workspace.wait_for_window)

    def stop(self) -> None:
        loop = self.current
        if loop is not None:
            loop.stop()
        self.kit.executor.stop("user")


class WorkspacePool:
    """N workspaces with their kits; `async with` starts them all and always ends them all."""

    def __init__(
        self,
        count: int,
        spec: WorkspaceSpec,
        settings: Settings,
        *,
        model: Any,
        store: TrajectoryStore,
        mode: str,
        confirm: Confirm | None = None,
        on_event: LaneEventCallback | None = None,
        loop_overrides: dict[str, Any] | None = None,
        read_back: ReadBackSpec | None = None,
    ) -> None:
        if count < 1:
            raise ValueError("at least one workspace is needed")
        self.count, self.spec, self.settings = count, spec, settings
        self.model, self.store, self.mode, self.confirm = model, store, mode, confirm
        self.on_event = on_event
        self.loop_overrides = loop_overrides or {}
        self.read_back = read_back
        self.lanes: list[WorkspaceLane] = []
        self._workspaces: list[Workspace] = []
        self._hotkey: StopHotkey | None = None
        self._stopped = threading.Event()
        self.hotkey_error: str | None = None

    @property
    def stopped(self) -> bool:
        return self._stopped.is_set()

    def stop(self) -> None:
        """Stop every run now (thread-safe: the stop hotkey's thread, a signal handler, the UI)."""
        self._stopped.set()
        for lane in self.lanes:
            lane.stop()

    async def __aenter__(self) -> WorkspacePool:
        try:
            for index in range(1, self.count + 1):
                workspace = Workspace(self.spec, index)
                self._workspaces.append(workspace)
                workspace.start()  # on this thread: see the module docstring
            if self.spec.launch:
                await asyncio.gather(*(asyncio.to_thread(w.wait_for_window) for w in self._workspaces))
            for workspace in self._workspaces:
                kit = AgentKit(self.settings, Target(display=workspace.display), self.mode, self.confirm)
                self.lanes.append(
                    WorkspaceLane(
                        f"ws{workspace.index}",
                        workspace,
                        kit,
                        self.model,
                        self.store,
                        self.on_event,
                        dict(self.loop_overrides),
                        self.read_back,
                    )
                )
            self._start_hotkey()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _start_hotkey(self) -> None:
        """One stop hotkey on the user's desktop for every workspace (none without a desktop)."""
        if not self.settings.executor.stop_hotkey_enabled:
            return
        from qwen3vl_agent.executor.stop import start_stop_hotkey

        self._hotkey, self.hotkey_error = start_stop_hotkey(
            self.settings.safety.stop_hotkey, self.stop, "the pool's stop() (Stop, Ctrl+C) still works"
        )

    async def close(self) -> None:
        if self._hotkey is not None:
            self._hotkey.stop()
            self._hotkey = None
        for lane in self.lanes:
            lane.stop()
            await asyncio.to_thread(lane.kit.close)
        self.lanes.clear()
        await asyncio.gather(*(asyncio.to_thread(w.close) for w in self._workspaces))
        self._workspaces.clear()

    def pids(self) -> list[int]:
        return sorted({pid for w in self._workspaces for pid in w.pids()})


async def lane_read_back(lane: Any, row: DataRow, result: RunResult) -> ReadBackResult:
    """`run_parallel_batch`'s read-back for workspace lanes: each row on its own lane's display."""
    if not isinstance(lane, WorkspaceLane):
        raise TypeError(f"read-back needs a workspace lane, not {type(lane).__name__}")
    return await lane.check_row(row, result)
