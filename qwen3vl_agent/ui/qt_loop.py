"""The app's asyncio loop on Qt's: qasync's `QEventLoop`, made to behave as asyncio's own loops.

Two things qasync leaves out on Unix, which the core relies on:

- **Async-generator hooks.** asyncio's loops install `sys.set_asyncgen_hooks` while they run, so
  an async generator dropped before its end (an SSE stream left at `[DONE]`: httpx's and
  httpcore's generators below it are still suspended) is closed by a task on the loop, and
  `shutdown_asyncgens()` closes what is left at exit. qasync installs none: such a generator is
  then closed by the garbage collector, synchronously, in whatever task happens to run, and its
  clean-up (httpcore releasing the connection under an anyio lock) fails with "exit cancel scope
  in a different task". `QtLoop` installs the loop's hooks on the Qt thread and restores the
  previous ones at `close()`.
- **`run_until_complete` inside the loop only.** qasync's runs Qt's events "one last time"
  after `run_forever` has returned, when no loop is running any more: a timer due then steps a
  task outside the loop, and asyncio/anyio code in it fails with "no running event loop" (seen:
  an HTTP connect of an agent step failing, so a batch row failed, whenever a wait ended just as
  a step was starting). `QtLoop`'s loop runs until the future is done and stops there.
- **Plain threads for `asyncio.to_thread`.** qasync's default executor uses QThreads, which
  abort the process if one is still alive at exit; the core's blocking calls get a plain pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any


class QtLoop:
    """A qasync loop on `app` with asyncio's async-generator hooks and a plain thread pool."""

    def __init__(self, app: Any, *, workers: int = 8, thread_name_prefix: str = "asyncio-default") -> None:
        import qasync

        self.loop: asyncio.AbstractEventLoop = _loop_class(qasync.QEventLoop)(app)
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=thread_name_prefix)
        self.loop.set_default_executor(self.executor)
        self._old_hooks = sys.get_asyncgen_hooks()
        loop: Any = self.loop  # the hooks are asyncio.BaseEventLoop's own, as its run_forever installs them
        sys.set_asyncgen_hooks(
            firstiter=loop._asyncgen_firstiter_hook, finalizer=loop._asyncgen_finalizer_hook
        )
        asyncio.set_event_loop(self.loop)

    def close(self, *, wait_for_threads: bool = True) -> None:
        """Close what async generators are left (on the loop, each in a task of its own), then the
        loop; restore the thread's previous hooks. Idempotent; call it with the loop stopped."""
        if self.loop.is_closed():
            return

        async def settle() -> None:
            gc.collect()  # generators only the collector still holds: their finalizer tasks start now
            await asyncio.sleep(0.05)
            await self.loop.shutdown_asyncgens()

        with contextlib.suppress(RuntimeError):  # the loop was stopped before a future completed
            self.loop.run_until_complete(settle())
        sys.set_asyncgen_hooks(*self._old_hooks)
        asyncio.set_event_loop(None)
        self.executor.shutdown(wait=wait_for_threads, cancel_futures=True)
        self.loop.close()


def _loop_class(base: type) -> type:
    """qasync's loop class with a `run_until_complete` that processes no event after the loop
    stopped (see the module docstring); built here so qasync is imported only with Qt."""

    class Loop(base):
        def run_until_complete(self, future: Any) -> Any:
            if self.is_running():
                raise RuntimeError("Event loop already running")
            task = asyncio.ensure_future(future, loop=self)

            def stop(_: object) -> None:
                self.stop()

            task.add_done_callback(stop)
            try:
                self.run_forever()
            finally:
                task.remove_done_callback(stop)
            if not task.done():
                raise RuntimeError("Event loop stopped before Future completed.")
            return task.result()

    return Loop
