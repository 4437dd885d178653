"""Background work for the UI: tracked asyncio tasks and the executors that keep blocking calls
(SQLite, capture, encoding, file reads, pyautogui) off the Qt thread.

Every coroutine the UI starts goes through `TaskTracker.spawn`, so quitting can cancel and
await them all; an exception in one becomes a message for the user, never a traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from qwen3vl_agent.errors import UserFacingError

T = TypeVar("T")
log = logging.getLogger(__name__)


def describe_error(exc: BaseException) -> str:
    """One line for the user: the message of a `UserFacingError`, else type and text."""
    if isinstance(exc, UserFacingError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


class TaskTracker:
    """Owns the UI's asyncio tasks; `on_error(text)` is told about any task that fails."""

    def __init__(self, on_error: Callable[[str], None]) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()
        self._on_error = on_error
        # SQLite connections belong to one thread: all store calls go to this single worker
        self.db = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ui-db")
        # capture, image encoding, file reads, OCR rendering
        self.io = ThreadPoolExecutor(max_workers=4, thread_name_prefix="ui-io")

    def spawn(self, coro: Coroutine[Any, Any, T], name: str | None = None) -> asyncio.Task[T]:
        task = asyncio.ensure_future(coro)
        if name:
            task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            log.warning("background task %s failed", task.get_name(), exc_info=exc)
            self._on_error(describe_error(exc))

    @property
    def pending(self) -> int:
        return len(self._tasks)

    async def run_db(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await asyncio.get_event_loop().run_in_executor(self.db, functools.partial(fn, *args, **kwargs))

    async def run_io(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await asyncio.get_event_loop().run_in_executor(self.io, functools.partial(fn, *args, **kwargs))

    async def cancel_all(self, timeout: float = 10.0) -> None:
        """Cancel every running task and wait (bounded) for them to finish their clean-up."""
        current = asyncio.current_task()
        tasks = [t for t in self._tasks if t is not current and not t.done()]
        for t in tasks:
            t.cancel()
        if tasks:
            with contextlib.suppress(Exception):
                await asyncio.wait(tasks, timeout=timeout)

    def shutdown_executors(self) -> None:
        self.io.shutdown(wait=False, cancel_futures=True)
        self.db.shutdown(wait=True, cancel_futures=False)  # let pending writes land: lose nothing
