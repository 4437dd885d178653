"""What every input backend does the same way: play primitives through a few device hooks and
remember what is held, so that a stop or an error can let go of it.

The executor's guarantees rest on this bookkeeping (see `executor.InputBackend`): a key or button
pressed by `KeyDown`/`ButtonDown` stays listed in `held_keys`/`held_buttons` until its `KeyUp`/
`ButtonUp`, and `release_all()` lets go of everything listed, the last pressed first, best effort
(a release that fails, because the display went away say, is skipped and the rest still go; the
lists are empty afterwards). `WriteText` is typed key by key, a newline, tab and space as their
named keys (`TEXT_KEYS`), unless a backend types text its own way (`_write`).

A backend (`PyAutoGUIBackend`, `XTestBackend`, `WaylandBackend`) implements the device hooks:
`_key`, `_button`, `_move`, `_scroll`, `_paste` and `_device_open`, and the queries of the
`InputBackend` protocol (position, monitors, the clipboard).
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from qwen3vl_agent.executor.errors import ExecutorError
from qwen3vl_agent.executor.plan import (
    ButtonDown,
    ButtonUp,
    KeyDown,
    KeyUp,
    MoveTo,
    PasteText,
    Plan,
    Primitive,
    Scroll,
    Sleep,
    WriteText,
)

TEXT_KEYS = {"\n": "enter", "\t": "tab", " ": "space"}


def text_keys(text: str) -> list[str]:
    """The keys that type `text`, one per character (a newline is the enter key, ...)."""
    return [TEXT_KEYS.get(char, char) for char in text]


class HeldInputBackend(ABC):
    """Plays primitives through the device hooks; remembers held keys/buttons to release them."""

    # what a failed release may raise and is skipped for (anything else propagates)
    _release_errors: tuple[type[Exception], ...] = (ExecutorError,)

    def __init__(self) -> None:
        self.held_keys: list[str] = []
        self.held_buttons: list[str] = []

    # -- device hooks -----------------------------------------------------------------------
    @abstractmethod
    def _key(self, key: str, down: bool) -> None:
        """Press (`down`) or release one key (a pyautogui key name or one character)."""

    @abstractmethod
    def _button(self, button: str, down: bool) -> None:
        """Press or release a mouse button ("left", "middle", "right")."""

    @abstractmethod
    def _move(self, x: int, y: int) -> None:
        """Move the pointer to (x, y) in input-device coordinates."""

    @abstractmethod
    def _scroll(self, clicks: int, horizontal: bool) -> None:
        """Scroll `clicks` wheel steps (pyautogui's sign: positive is up / right)."""

    @abstractmethod
    def _paste(self, text: str) -> str | None:
        """Paste `text` through a clipboard; returns a note for the result (a paste nobody took)."""

    @abstractmethod
    def _device_open(self) -> bool:
        """Whether the device was opened (nothing can be held, or released, before that)."""

    @abstractmethod
    def _check_key(self, key: str) -> None:
        """Raise `UnknownKeyError` for a key this device cannot press (see `check_plan`)."""

    def _write(self, text: str) -> None:
        for key in text_keys(text):
            self._key(key, True)
            self._key(key, False)

    # -- the InputBackend protocol ----------------------------------------------------------
    def check_plan(self, plan: Plan) -> None:
        """Refuse keys, pressed or typed, that this device cannot press, before the first event."""
        for prim in plan.primitives:
            if isinstance(prim, KeyDown):
                self._check_key(prim.key)
            elif isinstance(prim, WriteText):
                for key in text_keys(prim.text):
                    self._check_key(key)

    def perform(self, prim: Primitive) -> str | None:
        """Play one primitive; returns a note for the result (e.g. a paste nobody took)."""
        if isinstance(prim, MoveTo):
            self._move(prim.x, prim.y)
        elif isinstance(prim, ButtonDown):
            self._button(prim.button, True)
            self.held_buttons.append(prim.button)
        elif isinstance(prim, ButtonUp):
            self._button(prim.button, False)
            if prim.button in self.held_buttons:
                self.held_buttons.remove(prim.button)
        elif isinstance(prim, KeyDown):
            self._key(prim.key, True)
            self.held_keys.append(prim.key)
        elif isinstance(prim, KeyUp):
            self._key(prim.key, False)
            if prim.key in self.held_keys:
                self.held_keys.remove(prim.key)
        elif isinstance(prim, WriteText):
            self._write(prim.text)
        elif isinstance(prim, PasteText):
            return self._paste(prim.text)
        elif isinstance(prim, Scroll):
            self._scroll(prim.clicks, prim.horizontal)
        elif isinstance(prim, Sleep):  # the executor sleeps interruptibly; never reached from it
            raise ExecutorError("Sleep is played by the executor, not the backend")
        return None

    def release_all(self) -> list[str]:
        """Release every key and button we hold, the last pressed first (best effort)."""
        released: list[str] = []
        try:
            if self._device_open():
                for key in reversed(self.held_keys):
                    try:
                        self._key(key, False)
                    except self._release_errors:  # keep releasing the rest
                        continue
                    released.append(f"key {key}")
                for button in reversed(self.held_buttons):
                    try:
                        self._button(button, False)
                    except self._release_errors:
                        continue
                    released.append(f"{button} button")
        finally:
            self.held_keys.clear()
            self.held_buttons.clear()
        return released
