"""The core as the UI sees it: builds the runtime (inference service + managed engine) in the
background, reports its state through the bridge, and shuts it down on quit.

Nothing here blocks the Qt thread: the runtime is built and the engine started inside a task;
without vLLM or a GPU the window stays fully usable and the status bar says why and what to do.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from qwen3vl_agent.config import Settings
from qwen3vl_agent.errors import EngineUnavailableError, UserFacingError
from qwen3vl_agent.paths import app_paths
from qwen3vl_agent.ui.bridge import NO_ENGINE_HINT, CoreBridge
from qwen3vl_agent.ui.tasks import TaskTracker, describe_error

if TYPE_CHECKING:
    from qwen3vl_agent.engine.managed import ManagedEngine
    from qwen3vl_agent.engine.replicas import EngineReplicas
    from qwen3vl_agent.inference.service import InferenceService
    from qwen3vl_agent.runtime import Runtime

log = logging.getLogger(__name__)


class CoreSession:
    """Owns the core's `Runtime` (the same one the CLI builds); `service` is its
    InferenceService once built (None before)."""

    def __init__(self, settings: Settings, bridge: CoreBridge, tasks: TaskTracker) -> None:
        self.settings = settings
        self.bridge = bridge
        self.tasks = tasks
        self.runtime: Runtime | None = None
        self.engine_ready = asyncio.Event()
        self.engine_error: str | None = None
        self._start_task: asyncio.Task[None] | None = None
        self.closed = False  # set when the app quits: nothing starts an engine after that

    @property
    def service(self) -> InferenceService | None:
        return self.runtime.service if self.runtime is not None else None

    @property
    def engine(self) -> ManagedEngine | EngineReplicas | None:
        """The managed engine this process started (None in endpoints mode or when reused)."""
        return self.runtime.engine if self.runtime is not None else None

    @property
    def model_name(self) -> str:
        if self.runtime is not None:
            return self.runtime.model_name
        return self.settings.engine.served_name()

    def start(self) -> None:
        """Build the runtime and start the engine in the background."""
        if self.closed:
            return
        if self._start_task is None or self._start_task.done():
            self._start_task = self.tasks.spawn(self._start(), name="core-start")

    async def _start(self) -> None:
        self.engine_ready.clear()
        self.engine_error = None
        s = self.settings
        log_path = app_paths().log_dir / "engine.log" if s.engine.mode == "managed" else None
        self.bridge.set_engine_context(s.engine.served_name(), log_path)
        self.bridge.report_engine("starting", "starting the engine…")
        try:
            from qwen3vl_agent.runtime import build_runtime
        except ImportError as exc:
            self._failed(f"the inference core is not installed ({exc.name})", NO_ENGINE_HINT)
            return
        listener = self.bridge.engine_listener()
        try:
            if self.runtime is None:
                self.runtime = await build_runtime(s, start_engine=False, progress=listener)
            self._attach(self.runtime)
            await self.runtime.start_engine(listener)
        except asyncio.CancelledError:
            raise
        except UserFacingError as exc:
            self._failed(exc.message, exc.hint or NO_ENGINE_HINT)
            return
        except Exception as exc:  # never a traceback for the user
            log.exception("engine start failed")
            self._failed(describe_error(exc), NO_ENGINE_HINT)
            return
        self.engine_ready.set()
        if s.engine.mode == "endpoints":
            self.bridge.report_engine("ready", f"endpoints ready ({len(s.engine.endpoints)})")
        else:
            summary = ""
            with contextlib.suppress(Exception):
                summary = self.engine.status.replicas_summary() if self.engine is not None else ""
            self.bridge.report_engine("ready", f"engine ready · {summary}" if summary else "engine ready")

    def _attach(self, runtime: Runtime) -> None:
        engine = runtime.engine
        self.bridge.set_engine_context(runtime.model_name, engine.log_path if engine is not None else None)
        if engine is not None:
            engine.add_listener(self.bridge.engine_listener())
        self.bridge.watch_stats(runtime.service.stats)
        self.bridge.watch_gpu()

    def _failed(self, message: str, hint: str) -> None:
        self.engine_error = message
        self.bridge.report_engine("failed", f"engine unavailable: {message}", hint)

    async def restart_engine(self, settings: Settings | None = None) -> None:
        """Stop the engine and the runtime, then build both again (after a settings change)."""
        if settings is not None:
            self.settings = settings
        await self.shutdown()
        self.start()

    def require_service(self) -> InferenceService:
        """The service, or a clear error when the engine is not there (chat, agent)."""
        service = self.service
        if service is None or not self.engine_ready.is_set():
            reason = self.engine_error or "the engine is still starting"
            raise EngineUnavailableError(
                f"No model engine: {reason}", "see the status bar; OCR works with the CPU engine"
            )
        return service

    async def close(self) -> None:
        """Shut down for good (the app is quitting): no restart may start an engine afterwards."""
        self.closed = True
        await self.shutdown()

    async def shutdown(self) -> None:
        """Stop the engine cleanly (no orphaned vLLM) and close the runtime."""
        if self._start_task is not None and not self._start_task.done():
            self._start_task.cancel()
            with contextlib.suppress(BaseException):
                await self._start_task
        self.bridge.watch_stats(None)
        rt, self.runtime = self.runtime, None
        self.engine_ready.clear()
        if rt is None:
            return
        try:
            await asyncio.wait_for(rt.close(), timeout=30)
        except Exception:
            log.exception("runtime shutdown failed")
        self.bridge.report_engine("stopped", "engine stopped")
