"""The emergency stop: one stop token type, and one global hotkey listener per process.

`StopSignal` is the stop token. The executor checks it between any two primitive input events
and waits on it (instead of sleeping) during pauses, so a stop lands within one primitive; the
agent loop's `RunControl` keeps its stop in one too. Whoever must act on a stop subscribes to
the token (`subscribe`): the callback runs once per stop on the thread that stopped it, so a
stop travels up from the executor (hotkey, fail-safe corner) to the run without a poller.

The hotkey is a pynput `GlobalHotKeys` listener (X11 RECORD, Windows hooks, macOS event taps),
or on a KDE Plasma Wayland session a shortcut of KDE's own shortcut service
(`wayland/kglobalaccel.py`; no app may read other apps' keys on Wayland): it sees the keys even
while the agent holds the mouse and another window has the focus. Every
`StopHotkey` on the same keys shares ONE listener (the first `start` installs it, the last
`stop` removes it), so an executor, a batch of workspaces and the UI never race two listeners
for one key press.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from qwen3vl_agent.executor.errors import ExecutorError

log = logging.getLogger(__name__)


StopCallback = Callable[[str], None]  # called with the stop's reason
READY_TIMEOUT_S = 5.0  # how long a new hotkey listener may take to connect to the display


class StopSignal:
    """A latch with a reason: the first `set` wins until `clear`; subscribers hear each stop once."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._subscribers: list[StopCallback] = []
        self.reason: str | None = None
        self.detail: str | None = None
        self.at: float | None = None  # time.monotonic() of the stop

    def set(self, reason: str, detail: str | None = None) -> None:
        with self._lock:
            if self._event.is_set():
                return
            self.reason, self.detail, self.at = reason, detail, time.monotonic()
            self._event.set()
            subscribers = list(self._subscribers)
        for callback in subscribers:  # outside the lock: a callback may stop other tokens
            try:
                callback(reason)
            except Exception:
                log.exception("a stop subscriber failed")

    def subscribe(self, callback: StopCallback) -> Callable[[], None]:
        """Call `callback(reason)` at every stop from now on (on the stopping thread); returns
        the function that unsubscribes it. Subscribing to a stopped token does not call it."""
        with self._lock:
            self._subscribers.append(callback)

        def unsubscribe() -> None:
            with self._lock, contextlib.suppress(ValueError):
                self._subscribers.remove(callback)

        return unsubscribe

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


class _SharedListener:
    """One pynput listener for one hotkey spelling, fanned out to every `StopHotkey` on it."""

    def __init__(self, hotkey: str, listener: Any) -> None:
        self.hotkey = hotkey
        self.listener = listener
        self.callbacks: list[Callable[[], None]] = []


_shared: dict[str, _SharedListener] = {}
_shared_lock = threading.Lock()


def _fan_out(hotkey: str) -> None:
    log.warning("stop hotkey %s pressed", hotkey)
    with _shared_lock:
        entry = _shared.get(hotkey)
        callbacks = list(entry.callbacks) if entry is not None else []
    for callback in callbacks:
        try:
            callback()
        except Exception:
            log.exception("a stop hotkey callback failed")


def _install(hotkey: str) -> Any:
    """Start the listener for `hotkey` (raises `StopHotkeyError`): KDE's shortcut service on a
    Plasma Wayland session, else pynput's."""
    kde = _install_kde(hotkey)
    if kde is not None:
        return kde
    try:
        from pynput import keyboard
    except Exception as exc:  # pynput picks its backend at import: no display -> ImportError
        raise StopHotkeyError(f"The stop hotkey is unavailable: {exc}") from exc
    try:
        keyboard.HotKey.parse(hotkey)
    except ValueError as exc:
        raise StopHotkeyError(
            f"The stop hotkey {hotkey!r} is not valid: {exc}",
            'use pynput syntax, e.g. "<ctrl>+<alt>+<esc>"',
        ) from exc
    if "xorg" in keyboard.Listener.__module__ and not os.environ.get("DISPLAY"):
        # pynput chose X11 when it was imported; this session has no X display (a Wayland
        # session, or DISPLAY unset since): its listener thread would die before it is ready
        raise StopHotkeyError(
            "The stop hotkey is unavailable: it needs an X display and DISPLAY is not set",
            "stop the run from the app (its Stop button) or with Ctrl+C in its terminal",
        )
    try:
        listener = keyboard.GlobalHotKeys({hotkey: lambda: _fan_out(hotkey)})
        listener.start()
    except Exception as exc:
        raise StopHotkeyError(f"The stop hotkey could not be installed: {exc}") from exc
    _wait_ready(listener)
    return listener


def _install_kde(hotkey: str) -> Any:
    """On a Wayland session with KDE's shortcut service (Plasma): a shortcut registered there
    (`wayland/kglobalaccel.py`); None elsewhere. pynput's X11 listener would hear only XWayland
    apps' keys there, or nothing."""
    if os.environ.get("XDG_SESSION_TYPE") != "wayland" and not os.environ.get("WAYLAND_DISPLAY"):
        return None
    from qwen3vl_agent.wayland import kglobalaccel
    from qwen3vl_agent.wayland.bus import Bus, WaylandDesktopError

    try:
        bus = Bus(timeout_s=2)
    except WaylandDesktopError:
        return None  # no session bus: not Plasma's session either
    try:
        if not kglobalaccel.available(bus):
            return None
    except WaylandDesktopError:
        return None
    finally:
        bus.close()
    try:
        listener = kglobalaccel.KdeStopHotkey(hotkey, lambda: _fan_out(hotkey))
        listener.start_and_wait(READY_TIMEOUT_S)
    except ValueError as exc:
        raise StopHotkeyError(f"The stop hotkey {hotkey!r} is not valid here: {exc}") from exc
    except WaylandDesktopError as exc:
        raise StopHotkeyError(f"The stop hotkey is unavailable: {exc.message}", exc.hint) from exc
    return listener


def _wait_ready(listener: Any, timeout: float = READY_TIMEOUT_S) -> None:
    """pynput's own `wait()` blocks forever when the listener's thread dies before it is ready
    (an X server that went away, a refused connection): wait bounded, and fail clearly."""
    deadline = time.monotonic() + timeout
    while not getattr(listener, "_ready", True):  # pynput's readiness flag (`_mark_ready`)
        if not listener.is_alive():
            raise StopHotkeyError("The stop hotkey could not be installed: its listener ended at start")
        if time.monotonic() > deadline:
            listener.stop()
            raise StopHotkeyError(f"The stop hotkey could not be installed within {timeout:g} s")
        time.sleep(0.01)


def _uninstall(listener: Any) -> None:
    listener.stop()
    _unblock_xorg_listener(listener)
    if listener is not threading.current_thread():
        listener.join(timeout=2)


def hotkey_listener_count() -> int:
    """How many pynput listeners this process runs (one per hotkey spelling in use)."""
    with _shared_lock:
        return len(_shared)


class StopHotkey:
    """A global hotkey (pynput syntax, e.g. "<ctrl>+<alt>+<esc>") that calls `on_press`.

    A subscription to the process's one listener for those keys (see the module docstring)."""

    def __init__(self, hotkey: str, on_press: Callable[[], None]) -> None:
        self.hotkey = hotkey
        self._on_press = on_press
        self._subscribed = False

    def start(self) -> None:
        if self._subscribed:
            return
        with _shared_lock:
            entry = _shared.get(self.hotkey)
            if entry is None:  # under the lock: two first starts never install two listeners
                entry = _shared[self.hotkey] = _SharedListener(self.hotkey, _install(self.hotkey))
            entry.callbacks.append(self._on_press)
        self._subscribed = True

    @property
    def running(self) -> bool:
        with _shared_lock:
            entry = _shared.get(self.hotkey)
        return self._subscribed and entry is not None and bool(entry.listener.running)

    def stop(self) -> None:
        if not self._subscribed:
            return
        self._subscribed = False
        with _shared_lock:
            entry = _shared.get(self.hotkey)
            if entry is None:
                return
            with contextlib.suppress(ValueError):
                entry.callbacks.remove(self._on_press)
            if entry.callbacks:
                return
            del _shared[self.hotkey]
        _uninstall(entry.listener)


def start_stop_hotkey(
    hotkey: str, on_press: Callable[[], None], still_stops: str
) -> tuple[StopHotkey | None, str | None]:
    """The hotkey listening, or (None, why not); a failure is logged with `still_stops`, what
    stops a run without the hotkey."""
    listener = StopHotkey(hotkey, on_press)
    try:
        listener.start()
    except StopHotkeyError as exc:
        log.warning("stop hotkey unavailable: %s; %s", exc, still_stops)
        return None, str(exc)
    return listener, None


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
