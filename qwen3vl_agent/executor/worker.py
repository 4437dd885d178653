"""One worker thread that runs jobs in TICKET order, whatever order they are submitted in.

pyautogui is not thread-safe, so every input event comes from this one thread. A caller takes a
ticket when it calls the executor and submits (or skips) it once confirmation is settled; the
worker runs ticket N only after N-1, so a slow confirmation never lets a later action overtake.
"""

from __future__ import annotations

import concurrent.futures
import itertools
import threading
from collections.abc import Callable
from typing import Any

from qwen3vl_agent.executor.errors import ExecutorError


class OrderedWorker:
    """One thread; jobs run in ticket order, whatever order they are submitted in."""

    def __init__(self, name: str) -> None:
        self._cv = threading.Condition()
        self._tickets = itertools.count()
        self._jobs: dict[int, tuple[Callable[[], Any] | None, concurrent.futures.Future[Any] | None]] = {}
        self._next = 0
        self._closed = False
        self.thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self.thread.start()

    def ticket(self) -> int:
        with self._cv:
            return next(self._tickets)

    def submit(self, ticket: int, fn: Callable[[], Any]) -> concurrent.futures.Future[Any]:
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        with self._cv:
            if self._closed:
                raise ExecutorError("The executor is closed")
            self._jobs[ticket] = (fn, future)
            self._cv.notify_all()
        return future

    def skip(self, ticket: int) -> None:
        with self._cv:
            self._jobs[ticket] = (None, None)
            self._cv.notify_all()

    def _loop(self) -> None:
        while True:
            with self._cv:
                while self._next not in self._jobs and not self._closed:
                    self._cv.wait()
                if self._next not in self._jobs:
                    return
                fn, future = self._jobs.pop(self._next)
                self._next += 1
            if fn is None or future is None or not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn())
            except BaseException as exc:
                future.set_exception(exc)

    def close(self) -> None:
        with self._cv:
            self._closed = True
            for fn, future in self._jobs.values():
                if future is not None and fn is not None:
                    future.set_exception(ExecutorError("The executor was closed before this action ran"))
            self._jobs.clear()
            self._cv.notify_all()
        if threading.current_thread() is not self.thread:
            self.thread.join(timeout=10)
