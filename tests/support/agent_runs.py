"""Run the product's own agent loop from tests and benchmarks, wired as the CLI and the UI wire it.

`agent_session` builds the real `AgentKit` (capture, mapper, executor, parser, stop hotkey) and
runtime (inference service, queue, engine client) for the settings, and closes both at the end;
`AgentSession.loop` makes an `AgentLoop` on them with the stop hotkey watched. Tests pick the
settings (policy server or tiny engine) and the store. `press_stop_hotkey` sends the agent's
default stop hotkey to an X server as a keyboard would.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from qwen3vl_agent.agents import events as ev
from qwen3vl_agent.agents.data_rows import DataRow
from qwen3vl_agent.agents.loop import AgentLoop, RunResult
from qwen3vl_agent.agents.wiring import AgentKit, Target
from qwen3vl_agent.config import Settings
from qwen3vl_agent.runtime import Runtime, build_runtime
from qwen3vl_agent.storage.trajectories import TrajectoryStore


@dataclass
class AgentSession:
    """The kit and runtime of one session; each `loop` is one run on them."""

    kit: AgentKit
    runtime: Runtime
    store: TrajectoryStore

    def loop(
        self,
        task: str,
        *,
        on_event: ev.EventCallback | None = None,
        data_row: dict[str, str] | None = None,
        batch_id: int | None = None,
        row_index: int | None = None,
        secrets: dict[str, str] | None = None,
        **config: Any,
    ) -> AgentLoop:
        """A loop for `task`; `config` overrides the settings' `LoopConfig` (`on_stuck` is "stop":
        no person is there to ask)."""
        loop = AgentLoop(
            task,
            observer=self.kit.observer,
            model=self.runtime.service,
            mapper=self.kit.mapper,
            actor=self.kit.actor,
            store=self.store,
            parse=self.kit.parse,
            config=self.kit.loop_config(**{"on_stuck": "stop", **config}),
            on_event=on_event,
            data_row=data_row,
            batch_id=batch_id,
            row_index=row_index,
            secrets=secrets,
        )
        self.kit.watch_stop(loop.stop)
        return loop

    async def run(self, task: str, **options: Any) -> RunResult:
        return await self.loop(task, **options).run()

    async def run_row(self, task: str, row: DataRow, batch_id: int) -> RunResult:
        """`form_fill.run_batch`'s `run_row`: one data row, one run."""
        return await self.run(
            task, data_row=row.values, batch_id=batch_id, row_index=row.index, secrets=row.secrets
        )


@asynccontextmanager
async def agent_session(
    settings: Settings,
    monitor: int,
    store: TrajectoryStore,
    confirm: Callable[..., Any] | None = None,
    window: str | None = None,
    region: tuple[int, int, int, int] | None = None,
) -> AsyncIterator[AgentSession]:
    """Kit and runtime for `settings` (mode: `settings.safety.mode`) acting on `monitor`, or on
    the window titled `window`, or on the desktop `region` (the run is then scoped to it)."""
    target = Target(monitor=monitor, window=window, region=region)
    kit = AgentKit(settings, target, settings.safety.mode, confirm)
    runtime = await build_runtime(settings)
    try:
        yield AgentSession(kit, runtime, store)
    finally:
        await runtime.close()
        kit.close()


def press_stop_hotkey(display: str) -> None:
    """Ctrl+Alt+Esc (the default stop hotkey) through XTEST, as a keyboard would send it."""
    from Xlib import XK, X
    from Xlib import display as xdisplay
    from Xlib.ext import xtest

    d = xdisplay.Display(display)
    try:
        codes = [d.keysym_to_keycode(XK.string_to_keysym(k)) for k in ("Control_L", "Alt_L", "Escape")]
        for code in codes:
            xtest.fake_input(d, X.KeyPress, code)
        d.sync()
        for code in reversed(codes):
            xtest.fake_input(d, X.KeyRelease, code)
        d.sync()
    finally:
        d.close()
