"""Run an HTTP exchange so that its clean-up survives the caller being cancelled more than once.

httpx/httpcore close a streamed connection on cancellation inside "shielded" clean-up code, but
under asyncio that shield does not stop a *second* `Task.cancel()` (user presses Stop while a
deadline fires, a TaskGroup tearing down, a `finally` that cancels again). A second cancel that
lands during that clean-up leaves the connection open and ACTIVE in the pool: the server never
sees a disconnect and generates to `max_tokens` (measured: a cancel one loop step after the first
left it open in every trial). `run_cancel_once` runs the exchange in its own task and forwards the
caller's cancellation to it exactly once, so the clean-up that closes the socket always runs to
its end; the caller gets its `CancelledError` as soon as that clean-up is done (a moment: it only
closes a socket), so the connection is already closed when the caller's task has ended.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def _retrieve(task: asyncio.Task[Any]) -> None:
    """Mark the cancelled child's outcome as seen (its clean-up may have raised): no asyncio log."""
    if not task.cancelled():
        task.exception()


async def run_cancel_once(coro: Coroutine[Any, Any, T]) -> T:
    """Await `coro` in a child task; a cancellation of the caller reaches it once, not repeatedly.

    On cancellation the child is cancelled once and awaited, so its `finally`/`async with` blocks
    have closed the connection when the caller's `CancelledError` propagates. Further cancels of
    the caller during that short wait are absorbed (the child is already cancelled); the caller's
    cancel count keeps them, so an `asyncio.timeout` around it still tells them apart.
    """
    task = asyncio.ensure_future(coro)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        task.cancel()
        while not task.done():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait({task})
        _retrieve(task)
        raise
