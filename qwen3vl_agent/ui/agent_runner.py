"""One agent run (or a form-filling batch) for the Agent pane, on the worker loop.

Builds the core's `AgentKit` (executor, stop hotkey, observer, mapper, parser) and `AgentLoop`,
runs them on `WorkerLoop` with the model service proxied to the Qt loop, and forwards every
event to the bridge. It adds two UI needs on top of the core: a `ScreenshotTaken` event with
the image that was sent (for the live view) and confirmation answered from the pane's
Approve / Reject buttons (a future resolved across threads; nothing blocks the Qt thread).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qwen3vl_agent.errors import UserFacingError
from qwen3vl_agent.ui.context import AppContext, ensure_database
from qwen3vl_agent.ui.worker_loop import ServiceProxy, WorkerLoop


@dataclass(frozen=True)
class ScreenshotTaken:
    """The image the model is about to see (as sent: resized and masked)."""

    step: int
    png: bytes
    width: int
    height: int


@dataclass(frozen=True)
class BatchPlanned:
    """A form-filling batch is about to run `total` rows."""

    total: int
    done: int = 0


@dataclass(frozen=True)
class RunRequest:
    task: str
    target: tuple[str, Any]  # ("monitor", index) | ("window", WindowInfo)
    mode: str  # dry-run | confirm | auto
    step_limit: int
    data_file: Path | None = None
    workspaces: int = 0  # > 0: run in that many workspaces of their own (workspace_runs.py)
    launch: str = ""  # the app to start in each workspace


class _ObservingObserver:
    """Wraps the core observer: every observation is also shown in the pane's live view."""

    def __init__(self, inner: Any, emit: Any) -> None:
        self.inner = inner
        self.emit = emit
        self.count = 0

    async def observe(self) -> Any:
        obs = await self.inner.observe()
        self.count += 1
        img = obs.image
        self.emit(ScreenshotTaken(self.count, img.data, img.width, img.height))
        return obs


def write_report(run_id: int) -> Path:
    """Write (or rewrite) the HTML report of a run; blocking, call in an executor."""
    from qwen3vl_agent.agents.report import write_report as render
    from qwen3vl_agent.agents.wiring import data_dir_for_reports, open_store

    store = open_store()
    try:
        run = store.get_run(run_id)
        if run is None:
            raise UserFacingError(f"No agent run {run_id}")
        path = data_dir_for_reports() / f"run-{run_id}.html"
        path.parent.mkdir(parents=True, exist_ok=True)
        return render(run, store.steps(run_id), path)
    finally:
        store.close()


class AgentRunner:
    """Owns one run's worker loop, kit and loop; pause / resume / stop / confirm from the Qt thread."""

    def __init__(self, ctx: AppContext, request: RunRequest) -> None:
        self.ctx = ctx
        self.request = request
        self.emit = ctx.bridge.agent_sink()
        from qwen3vl_agent.ui.capture import own_windows

        self.own_rects = own_windows(ctx).rects  # thread-safe snapshot of our windows
        self.worker = WorkerLoop("ui-agent")
        self.loop_obj: Any = None
        self.kit: Any = None
        self._pending: asyncio.Future[bool] | None = None
        self._lock = threading.Lock()
        self._stopped = False
        self.pool: Any = None  # the WorkspacePool of a run in workspaces

    # ---- controls (Qt thread) ------------------------------------------------------------------
    def pause(self) -> None:
        if self.loop_obj is not None:
            self.loop_obj.pause()

    def resume(self) -> None:
        if self.loop_obj is not None:
            self.loop_obj.resume()

    def stop(self) -> None:
        self._stopped = True
        if self.loop_obj is not None:
            self.loop_obj.stop()
        if self.pool is not None:
            self.pool.stop()
        self.answer_confirmation(False)

    def answer_confirmation(self, approved: bool) -> None:
        with self._lock:
            fut, self._pending = self._pending, None
        if fut is not None:
            self.worker.loop.call_soon_threadsafe(_settle, fut, approved)

    async def _confirm(self, request: Any) -> bool:
        """Executor's confirmation callback (worker loop): wait for Approve / Reject."""
        fut: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        with self._lock:
            self._pending = fut
        if self._stopped:
            return False
        return await fut

    # ---- the run --------------------------------------------------------------------------------
    def _service(self) -> Any:
        return ServiceProxy(self.ctx.core.require_service(), asyncio.get_running_loop())

    async def run(self) -> Any:
        # import on this thread: importing on the worker thread races CPython 3.11's AST
        # construction with imports on the Qt thread (gh-106905)
        import qwen3vl_agent.agents.data_rows
        import qwen3vl_agent.agents.form_fill
        import qwen3vl_agent.agents.loop
        import qwen3vl_agent.agents.wiring
        import qwen3vl_agent.screen.capture  # noqa: F401

        service = self._service()
        await ensure_database(self.ctx)
        return await self.worker.run(self._main(service))

    async def _main(self, service: Any) -> Any:
        from qwen3vl_agent.agents.loop import AgentLoop
        from qwen3vl_agent.agents.wiring import AgentKit, Target, open_store

        r = self.request
        if r.workspaces > 0:
            return await self._in_workspaces(r, service)
        kind, value = r.target
        target = (
            Target(monitor=int(value), window=None)
            if kind == "monitor"
            else Target(monitor=1, window=getattr(value, "title", str(value)))
        )
        kit = AgentKit(self.ctx.settings, target, r.mode, confirm=self._confirm)
        self.kit = kit
        # the app's own windows never reach the model: black them out in the capture thread
        from qwen3vl_agent.screen.capture import ScreenCapturer

        plain = kit.observer.capturer
        kit.observer.capturer = ScreenCapturer.from_settings(self.ctx.settings, own_windows=self.own_rects)
        plain.close()
        store = open_store()
        observer = _ObservingObserver(kit.observer, self.emit)

        def make_loop(
            task: str,
            data_row: dict[str, str] | None = None,
            batch_id: int | None = None,
            row_index: int | None = None,
            secrets: dict[str, str] | None = None,
        ) -> Any:
            loop = AgentLoop(
                task,
                observer=observer,
                model=service,
                mapper=kit.mapper,
                actor=kit.actor,
                store=store,
                parse=kit.parse,
                config=kit.loop_config(step_limit=r.step_limit),
                on_event=self.emit,
                data_row=data_row,
                batch_id=batch_id,
                row_index=row_index,
                secrets=secrets,
            )
            self.loop_obj = loop
            kit.watch_stop(loop.stop)
            if self._stopped:
                loop.stop()
            return loop

        try:
            if r.data_file is None:
                return await make_loop(r.task).run()
            return await self._batch(r, store, make_loop)
        finally:
            with contextlib.suppress(Exception):
                kit.close()
            from qwen3vl_agent.agents.retention import retention_pass
            from qwen3vl_agent.agents.wiring import data_dir_for_reports

            with contextlib.suppress(Exception):  # the privacy.keep_runs_days setting, off the Qt thread
                retention_pass(store, self.ctx.settings.privacy.keep_runs_days, data_dir_for_reports())
            with contextlib.suppress(Exception):
                store.close()

    async def _in_workspaces(self, r: RunRequest, service: Any) -> Any:
        from qwen3vl_agent.agents.wiring import open_store
        from qwen3vl_agent.ui.workspace_runs import run_in_workspaces

        def keep_pool(pool: Any) -> None:
            self.pool = pool
            if self._stopped:
                pool.stop()

        store = open_store()
        try:
            return await run_in_workspaces(
                self.ctx.settings,
                service,
                store,
                task=r.task,
                mode=r.mode,
                step_limit=r.step_limit,
                count=r.workspaces,
                launch=r.launch,
                data_file=r.data_file,
                emit=self.emit,
                on_pool=keep_pool,
            )
        finally:
            with contextlib.suppress(Exception):
                store.close()

    async def _batch(self, r: RunRequest, store: Any, make_loop: Any) -> Any:
        from qwen3vl_agent.agents.data_rows import open_data, secret_columns
        from qwen3vl_agent.agents.form_fill import BatchOptions, run_batch

        assert r.data_file is not None
        source = await asyncio.to_thread(open_data, r.data_file)
        total = await asyncio.to_thread(lambda: sum(1 for _ in source.rows()))
        self.emit(BatchPlanned(total))

        async def run_row(task: str, row: Any, batch_id: int) -> Any:
            return await make_loop(task, row.values, batch_id, row.index, row.secrets).run()

        hidden = secret_columns(source.columns, self.ctx.settings.agent.secret_columns)
        return await run_batch(
            BatchOptions(task=r.task, data_path=r.data_file, secret_columns=hidden),
            store,
            run_row,
            on_event=self.emit,
            should_stop=lambda: self._stopped,
        )

    async def close(self) -> None:
        self.stop()
        await self.ctx.tasks.run_io(self.worker.close)


def _settle(fut: asyncio.Future[bool], value: bool) -> None:
    """Answer a pending confirmation unless it was cancelled meanwhile (the run stopped)."""
    if not fut.done():
        fut.set_result(value)
