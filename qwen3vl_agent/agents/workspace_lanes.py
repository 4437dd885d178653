"""Workspaces as lanes of a parallel batch (or the one place of a single run): app, eyes and hands.

`WorkspacePool` starts N workspaces (each an X display of its own with the `--launch` app in it,
`qwen3vl_agent.workspace`), and for each an `AgentKit` whose capture and XTest input are bound to
that display. Runs on all of them share ONE inference service (the caller's runtime: one priority
queue), ONE stop hotkey on the user's desktop (it stops every run), and the store.

Spawning happens on the calling (event-loop) thread, which lives as long as the pool: the
parent-death signal of each workspace's guards follows that thread (see `engine.guarded`).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from qwen3vl_agent.agents import events as ev
from qwen3vl_agent.agents.data_rows import DataRow
from qwen3vl_agent.agents.loop import AgentLoop, RunResult
from qwen3vl_agent.agents.wiring import AgentKit, Confirm, Target
from qwen3vl_agent.config import Settings
from qwen3vl_agent.storage.trajectories import TrajectoryStore
from qwen3vl_agent.workspace import Workspace, WorkspaceSpec

log = logging.getLogger(__name__)

LaneEventCallback = Callable[[str, ev.AgentEvent], None]  # (lane name, event)


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
        loop = self.new_loop(
            task, data_row=row.values, batch_id=batch_id, row_index=row.index, secrets=row.secrets
        )
        try:
            return await loop.run()
        finally:
            self.current = None

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
    ) -> None:
        if count < 1:
            raise ValueError("at least one workspace is needed")
        self.count, self.spec, self.settings = count, spec, settings
        self.model, self.store, self.mode, self.confirm = model, store, mode, confirm
        self.on_event = on_event
        self.loop_overrides = loop_overrides or {}
        self.lanes: list[WorkspaceLane] = []
        self._workspaces: list[Workspace] = []
        self._hotkey: Any = None
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
        from qwen3vl_agent.executor.stop import StopHotkey, StopHotkeyError

        hotkey = StopHotkey(self.settings.safety.stop_hotkey, self.stop)
        try:
            hotkey.start()
        except StopHotkeyError as exc:
            self.hotkey_error = str(exc)
            log.warning("stop hotkey unavailable: %s", exc)
            return
        self._hotkey = hotkey

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
