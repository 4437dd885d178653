"""The OCR job's worker processes and its memory budget.

`WorkerPool` runs page work (decoding, Tesseract) in worker processes. When one dies, every call
in flight on it fails at once (`BrokenProcessPool`); the first to notice replaces the pool and
shuts the broken one down, the others reuse the new one, and each caller gets a
`WorkerCrashedError` so the job can count the crash against its page. Only one pool is ever
alive, and `close` shuts it down; should the app be killed, its workers end by themselves.

`MemoryBudget` bounds the bytes of decoded pixels in flight (not a page count: one 14,000 px
square page weighs as much as a hundred letters). A page larger than the whole budget runs alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from qwen3vl_agent.ocr import page_worker

T = TypeVar("T")

WORKER_MODULES = ("qwen3vl_agent.ocr.cpu_engine", "qwen3vl_agent.ocr.page_worker")


class WorkerCrashedError(Exception):
    """The worker process running this call died (a crash, an out-of-memory kill)."""


class WorkerPool:
    """Worker processes (forkserver: no copy of the app's threads or memory) for page work."""

    def __init__(self, workers: int, preload: Sequence[str] = WORKER_MODULES) -> None:
        self.workers = max(1, workers)
        self._context = multiprocessing.get_context("forkserver")
        # the fork server needs only the page modules, not whatever program started the job
        self._context.set_forkserver_preload(list(preload))
        self._pool: ProcessPoolExecutor | None = None
        self.pools_started = 0
        self.pools_shut_down = 0

    def _current(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=self._context,
                initializer=page_worker.exit_with_app,  # no worker outlives a killed app
                initargs=(os.getpid(),),
            )
            self.pools_started += 1
        return self._pool

    def _replace(self, broken: ProcessPoolExecutor) -> None:
        """Called by every call that saw `broken` break; only the first one replaces it."""
        if broken is self._pool:
            self._pool = None
            broken.shutdown(wait=False, cancel_futures=True)
            self.pools_shut_down += 1

    def _submit(self, fn: Callable[..., T], args: tuple[Any, ...]) -> tuple[ProcessPoolExecutor, Future[T]]:
        pool = self._current()
        try:
            return pool, pool.submit(fn, *args)
        except BrokenProcessPool:  # broken by another call before this one was sent: not ours
            self._replace(pool)
            pool = self._current()
            return pool, pool.submit(fn, *args)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` in a worker; raises `WorkerCrashedError` when that worker died."""
        pool, future = self._submit(fn, args)
        try:
            return await asyncio.wrap_future(future)
        except BrokenProcessPool as exc:
            self._replace(pool)
            raise WorkerCrashedError(str(exc) or "a worker process died") from exc

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        """`run` for callers without an event loop (blocks this thread)."""
        pool, future = self._submit(fn, args)
        try:
            return future.result()
        except BrokenProcessPool as exc:
            self._replace(pool)
            raise WorkerCrashedError(str(exc) or "a worker process died") from exc

    def resize(self, workers: int) -> None:
        """From now on `workers` processes: the current ones finish what they were given (nothing
        is cancelled) and end before this returns, so old and new never run side by side. Blocks:
        call it in a thread."""
        old, self._pool = self._pool, None
        self.workers = max(1, workers)
        if old is not None:
            old.shutdown(wait=True)
            self.pools_shut_down += 1

    def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            pool.shutdown(wait=True, cancel_futures=True)
            self.pools_shut_down += 1


class MemoryBudget:
    """Bytes of decoded pixels in flight, at most `capacity` (a bigger page waits to run alone)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = max(1, capacity)
        self.in_use = 0
        self.peak = 0
        self._waiters: list[asyncio.Future[None]] = []

    @contextlib.asynccontextmanager
    async def hold(self, nbytes: int) -> AsyncIterator[None]:
        charge = min(max(0, nbytes), self.capacity)
        while self.in_use + charge > self.capacity:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            finally:
                self._waiters.remove(waiter)
        self.in_use += charge
        self.peak = max(self.peak, self.in_use)
        try:
            yield
        finally:
            self.in_use -= charge  # no await here: a cancelled holder still gives its bytes back
            for waiter in self._waiters:
                if not waiter.done():
                    waiter.set_result(None)
