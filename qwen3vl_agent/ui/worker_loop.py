"""A second asyncio loop on its own thread for long jobs (OCR batches, agent runs).

Those jobs do small blocking things on their loop (SQLite writes per page/step, page loads,
image hashing); on their own loop none of it can stall the Qt thread. The one model service
stays on the Qt loop: `ServiceProxy` forwards `submit` there and awaits the answer, and
cancelling on either side cancels the other. Events reach widgets through the bridge's signals.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from qwen3vl_agent.inference.request import DeltaCallback, InferenceRequest, InferenceResult
from qwen3vl_agent.inference.service import InferenceService

T = TypeVar("T")


class WorkerLoop:
    """An asyncio event loop running on a daemon thread until `close()`."""

    def __init__(self, name: str = "ui-jobs", nice: int = 0) -> None:
        """`nice` > 0 lowers the CPU priority of this thread and of every process it starts
        (Linux: niceness is per thread and inherited by children), so batch work such as OCR
        worker processes never starves the UI thread of a CPU."""
        self.nice = nice
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._thread.start()

    def _main(self) -> None:
        if self.nice and sys.platform.startswith("linux"):
            with contextlib.suppress(OSError):
                os.setpriority(
                    os.PRIO_PROCESS, threading.get_native_id(), os.getpriority(os.PRIO_PROCESS, 0) + self.nice
                )
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()
        with contextlib.suppress(Exception):
            pending = asyncio.all_tasks(self.loop)
            for t in pending:
                t.cancel()
            self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.run_until_complete(self.loop.shutdown_default_executor())
        self.loop.close()

    async def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run `coro` on the worker loop; await it from the caller's loop (cancel propagates)."""
        cf = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return await asyncio.wrap_future(cf)

    def close(self, timeout: float = 10.0) -> None:
        if self.loop.is_running():
            self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout)


class ServiceProxy:
    """`InferenceService.submit` callable from the worker loop; runs on the service's own loop."""

    def __init__(self, service: InferenceService, loop: asyncio.AbstractEventLoop) -> None:
        self.service = service
        self.loop = loop
        self.model_name = service.model_name

    async def submit(
        self, request: InferenceRequest, on_delta: DeltaCallback | None = None
    ) -> InferenceResult:
        caller = asyncio.get_running_loop()
        if caller is self.loop:
            return await self.service.submit(request, on_delta)
        relay: DeltaCallback | None = None
        if on_delta is not None:
            cb = on_delta

            def relay(delta: str) -> None:  # deltas arrive on the service's loop: hand them back
                caller.call_soon_threadsafe(cb, delta)

        cf = asyncio.run_coroutine_threadsafe(self.service.submit(request, relay), self.loop)
        return await asyncio.wrap_future(cf)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.service, name)
