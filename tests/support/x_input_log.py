"""What reached the X server: every key and button event, recorded by the server itself.

The RECORD extension (python-xlib `Xlib.ext.record`) reports the device events the server
processes, from every client, XTEST fakes included (that is how pyautogui types and clicks).
A test that says "nothing of a refused action reached the desktop" records across the run and
asserts the log holds no key or button press:

    with XInputLog(display.name) as log:
        ... run the agent ...
    assert log.key_presses() == [] and log.button_presses() == []

Pointer motion is left out (the form's own records cover where the pointer went).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from types import TracebackType

from Xlib import XK, X, display
from Xlib.ext import record
from Xlib.protocol import rq


@dataclass(frozen=True)
class InputEvent:
    kind: str  # "key-press", "key-release", "button-press", "button-release"
    detail: int  # keycode or button number
    name: str  # the keysym name for keys ("Control_L"), "button N" for buttons


_KINDS = {
    X.KeyPress: "key-press",
    X.KeyRelease: "key-release",
    X.ButtonPress: "button-press",
    X.ButtonRelease: "button-release",
}


XK.load_keysym_group("xf86")
_KEYSYM_NAMES = {v: k[3:] for k, v in vars(XK).items() if k.startswith("XK_") and isinstance(v, int)}


class XInputLog:
    """Records key and button events on `display_name` between `start()` and `stop()`."""

    def __init__(self, display_name: str) -> None:
        self._control = display.Display(display_name)
        self._data = display.Display(display_name)
        if not self._control.has_extension("RECORD"):
            raise RuntimeError(f"the X server {display_name} has no RECORD extension")
        self._context = self._control.record_create_context(
            0,
            [record.AllClients],
            [
                {
                    "core_requests": (0, 0),
                    "core_replies": (0, 0),
                    "ext_requests": (0, 0, 0, 0),
                    "ext_replies": (0, 0, 0, 0),
                    "delivered_events": (0, 0),
                    "device_events": (X.KeyPress, X.ButtonRelease),
                    "errors": (0, 0),
                    "client_started": False,
                    "client_died": False,
                }
            ],
        )
        self._control.sync()  # the context exists before the data connection enables it
        self.events: list[InputEvent] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._record, name="x-input-log", daemon=True)
        self._started = threading.Event()

    def _record(self) -> None:
        self._started.set()
        self._data.record_enable_context(self._context, self._on_reply)  # returns when disabled
        self._data.record_free_context(self._context)

    def _on_reply(self, reply: object) -> None:
        if getattr(reply, "category", None) != record.FromServer or getattr(reply, "client_swapped", False):
            return
        data = reply.data  # type: ignore[attr-defined]
        while len(data):
            event, data = rq.EventField(None).parse_binary_value(data, self._data.display, None, None)
            kind = _KINDS.get(event.type)
            if kind is None:
                continue
            if event.type in (X.KeyPress, X.KeyRelease):
                keysym = self._control.keycode_to_keysym(event.detail, 0)
                name = _KEYSYM_NAMES.get(keysym, f"keycode {event.detail}")
            else:
                name = f"button {event.detail}"
            with self._lock:
                self.events.append(InputEvent(kind, event.detail, name))

    def start(self) -> XInputLog:
        self._thread.start()
        self._started.wait(5)
        time.sleep(0.2)  # the data connection has enabled the context
        return self

    def stop(self) -> None:
        """Stop recording (events already processed by the server are delivered first)."""
        time.sleep(0.2)
        self._control.record_disable_context(self._context)
        self._control.flush()
        self._thread.join(timeout=5)
        self._control.close()

    def __enter__(self) -> XInputLog:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def key_presses(self) -> list[str]:
        with self._lock:
            return [e.name for e in self.events if e.kind == "key-press"]

    def button_presses(self) -> list[int]:
        with self._lock:
            return [e.detail for e in self.events if e.kind == "button-press"]
