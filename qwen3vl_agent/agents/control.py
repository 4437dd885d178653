"""Pause / resume / stop for a running agent loop, callable from any thread or coroutine.

The UI (Qt thread under qasync), the stop token's subscribers (the executor's hotkey and
fail-safe) or the CLI call these; the loop awaits `wait_change()` on its own event loop. Every
change wakes the loop through `call_soon_threadsafe`, which is correct from the loop's own
thread too. The stop itself is the executor's stop token type (`StopSignal`): one kind of stop
from the executor up.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading

from qwen3vl_agent.executor.stop import StopSignal


class RunControl:
    """Thread-safe run state: paused (with a reason) and stopped flags, plus a wake-up event."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._paused_reason: str | None = None
        self._message = ""
        self.stop_token = StopSignal()  # set once per run: a run that stopped stays stopped
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Attach to the event loop the run executes on (called by the loop at start)."""
        with self._lock:
            self._loop = loop
            self._wake = asyncio.Event()

    def _notify(self) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed between the check and here
                loop.call_soon_threadsafe(self._fire)

    def _fire(self) -> None:
        """On the loop's thread: wake everyone waiting now; later waiters get a fresh event."""
        wake = self._wake
        self._wake = asyncio.Event()
        if wake is not None:
            wake.set()

    # -- commands (any thread) -----------------------------------------------------------
    def pause(self, reason: str = "user", message: str = "") -> None:
        with self._lock:
            if self.stop_token.is_set():
                return
            self._paused_reason = reason
            self._message = message
        self._notify()

    def resume(self) -> None:
        with self._lock:
            self._paused_reason = None
            self._message = ""
        self._notify()

    def stop(self, reason: str = "user") -> None:
        """`reason`: "user" (Stop, Ctrl+C, the hotkey) or what else ended it ("SIGTERM"); the first wins."""
        self.stop_token.set(reason)
        self._notify()

    @property
    def stop_reason(self) -> str:
        return self.stop_token.reason or "user"

    # -- state ---------------------------------------------------------------------------
    @property
    def stopped(self) -> bool:
        return self.stop_token.is_set()

    @property
    def paused(self) -> bool:
        with self._lock:
            return self._paused_reason is not None

    @property
    def pause_reason(self) -> str | None:
        with self._lock:
            return self._paused_reason

    @property
    def pause_message(self) -> str:
        with self._lock:
            return self._message

    async def wait_change(self, timeout: float | None = None) -> None:
        """Return at the next pause/resume/stop (or after `timeout` seconds).

        Callers check the state first, then call this without awaiting anything in between,
        so a change made from another thread in that gap still wakes them.
        """
        wake = self._wake
        if wake is None:
            raise RuntimeError("RunControl is not bound to an event loop")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), timeout)

    async def wait_stopped(self) -> None:
        """Return once `stop()` was called (for racing against a model request or an action)."""
        while not self.stopped:
            await self.wait_change()


USER_STOPS = frozenset({"user", "hotkey", "fail-safe"})  # the stop reasons that are the user's doing


def stopped_message(reason: str) -> str:
    """How a run's end reads: "stopped by the user" only when it was the user (not a SIGTERM)."""
    return "stopped by the user" if reason in USER_STOPS else f"stopped ({reason})"
