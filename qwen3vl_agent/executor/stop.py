"""The emergency stop: a thread-safe flag, and a global hotkey that raises it.

The executor checks the flag between any two primitive input events and waits on it (instead
of sleeping) during pauses, so a stop lands within one primitive. The hotkey is a pynput
`GlobalHotKeys` listener (X11 RECORD, Windows hooks, macOS event taps): it sees the keys even
while the agent holds the mouse and another window has the focus. `executor.stop()` raises the
same flag from any thread (the UI's Stop button).
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from qwen3vl_agent.executor.errors import ExecutorError

log = logging.getLogger(__name__)


class StopSignal:
    """A latch with a reason: the first `set` wins until `clear`."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self.reason: str | None = None
        self.detail: str | None = None
        self.at: float | None = None  # time.monotonic() of the stop

    def set(self, reason: str, detail: str | None = None) -> None:
        with self._lock:
            if not self._event.is_set():
                self.reason, self.detail, self.at = reason, detail, time.monotonic()
                self._event.set()

    def clear(self) -> None:
        with self._lock:
            self.reason = self.detail = None
            self.at = None
            self._event.clear()

    def is_set(self) -> bool:
        return self._event.is_set()

    def wait(self, timeout: float) -> bool:
        """Sleep up to `timeout`; True (early) if a stop arrives."""
        return self._event.wait(timeout)


class StopHotkeyError(ExecutorError):
    """The global stop hotkey could not be installed (bad spelling, or no input access)."""


class StopHotkey:
    """A global hotkey (pynput syntax, e.g. "<ctrl>+<alt>+<esc>") that calls `on_press`."""

    def __init__(self, hotkey: str, on_press: Callable[[], None]) -> None:
        self.hotkey = hotkey
        self._on_press = on_press
        self._listener: Any = None

    def start(self) -> None:
        try:
            from pynput import keyboard
        except Exception as exc:  # pynput picks its backend at import: no display -> ImportError
            raise StopHotkeyError(f"The stop hotkey is unavailable: {exc}") from exc
        try:
            keyboard.HotKey.parse(self.hotkey)
        except ValueError as exc:
            raise StopHotkeyError(
                f"The stop hotkey {self.hotkey!r} is not valid: {exc}",
                'use pynput syntax, e.g. "<ctrl>+<alt>+<esc>"',
            ) from exc
        try:
            listener = keyboard.GlobalHotKeys({self.hotkey: self._fire})
            listener.start()
            listener.wait()
        except Exception as exc:
            raise StopHotkeyError(f"The stop hotkey could not be installed: {exc}") from exc
        self._listener = listener

    def _fire(self) -> None:
        log.warning("stop hotkey %s pressed", self.hotkey)
        self._on_press()

    @property
    def running(self) -> bool:
        return self._listener is not None and bool(self._listener.running)

    def stop(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.stop()
            _unblock_xorg_listener(listener)
            if listener is not threading.current_thread():
                listener.join(timeout=2)


def _unblock_xorg_listener(listener: Any) -> None:
    """pynput's X11 listener disables its RECORD context without flushing, so its thread lingers
    until the next input event (and then dies noisily if the X server is gone by then). Sending
    the disable through a connection of our own ends it at once."""
    context = getattr(listener, "_context", None)
    if context is None or not sys.platform.startswith("linux"):
        return
    try:
        from Xlib import display as xdisplay

        conn = xdisplay.Display()
        try:
            conn.record_disable_context(context)
            conn.sync()
        finally:
            conn.close()
    except Exception as exc:  # the listener will still end at the next event
        log.debug("could not unblock the hotkey listener: %s", exc)
