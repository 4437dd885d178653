"""Run an HTTP exchange so that its clean-up survives the caller being cancelled more than once.

httpx/httpcore close a streamed connection on cancellation inside "shielded" clean-up code, but
under asyncio that shield does not stop a *second* `Task.cancel()` (user presses Stop while a
deadline fires, a TaskGroup tearing down, a `finally` that cancels again). A second cancel that
lands during that clean-up leaves the connection open and ACTIVE in the pool: the server never
sees a disconnect and generates to `max_tokens` (measured: a cancel one loop step after the first
left it open every time). `run_cancel_once` runs the exchange in its own task and forwards the
caller's cancellation to it exactly once, so the clean-up that closes the socket always runs to
its end, while the caller still gets its `CancelledError` at once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def _retrieve(task: asyncio.Task[Any]) -> None:
    """Mark a detached task's outcome as seen (no 'exception was never retrieved' log)."""
    if not task.cancelled():
        task.exception()


async def run_cancel_once(coro: Coroutine[Any, Any, T]) -> T:
    """Await `coro` in a child task; a cancellation of the caller reaches it once, not repeatedly.

    On cancellation the child is cancelled once and awaited (so its `finally`/`async with` blocks
    have closed the connection when the caller's `CancelledError` propagates); if the caller is
    cancelled again meanwhile, it stops waiting but the child still finishes its clean-up alone.
    """
    task = asyncio.ensure_future(coro)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        task.cancel()
        task.add_done_callback(_retrieve)
        with contextlib.suppress(asyncio.CancelledError):
            # a further cancel of the caller ends this wait, never the child's clean-up
            await asyncio.wait({task})
        raise
