"""The executor's hands on ONE named X display (a workspace), through XTest, not pyautogui.

pyautogui connects to $DISPLAY when it is imported and cannot drive a second display from the
same process. This backend opens its own python-xlib connection to the display it is given
(`Display(":N")`) and plays the executor's primitives with `xtest.fake_input`, so one app can
drive many workspaces at once, each from its own executor worker thread (the connection is
opened and used only on that thread). It implements the same `InputBackend` protocol as
`PyAutoGUIBackend`: the executor's guarantees (stop between primitives, held keys and buttons
released, the safety mode, monitor checks) hold unchanged. Unicode text is pasted through the
workspace's own CLIPBOARD selection (`xclip -display :N`), as on the live desktop.

There is no fail-safe corner: the user's mouse never enters a workspace (a take-over pauses the
run first); the stop hotkey on the user's desktop and `executor.stop()` stop it.
"""

from __future__ import annotations

import contextlib
import shutil
from typing import Any

from qwen3vl_agent.executor.clipboard import Clipboard, SavedClipboard, XclipClipboard, paste_text
from qwen3vl_agent.executor.errors import (
    ClipboardError,
    DisplayUnavailableError,
    ExecutorError,
    UnknownKeyError,
)
from qwen3vl_agent.executor.held_input import HeldInputBackend

Rect = tuple[int, int, int, int]

# pyautogui key names (what keys.parse_combo produces) -> X keysym names
KEYSYM_NAMES: dict[str, str] = {
    "enter": "Return",
    "esc": "Escape",
    "tab": "Tab",
    "backspace": "BackSpace",
    "delete": "Delete",
    "insert": "Insert",
    "space": "space",
    "up": "Up",
    "down": "Down",
    "left": "Left",
    "right": "Right",
    "pageup": "Prior",
    "pagedown": "Next",
    "home": "Home",
    "end": "End",
    "capslock": "Caps_Lock",
    "numlock": "Num_Lock",
    "scrolllock": "Scroll_Lock",
    "printscreen": "Print",
    "pause": "Pause",
    "apps": "Menu",
    "ctrl": "Control_L",
    "ctrlleft": "Control_L",
    "ctrlright": "Control_R",
    "alt": "Alt_L",
    "altleft": "Alt_L",
    "altright": "Alt_R",
    "option": "Alt_L",
    "shift": "Shift_L",
    "shiftleft": "Shift_L",
    "shiftright": "Shift_R",
    "win": "Super_L",
    "winleft": "Super_L",
    "winright": "Super_R",
    "command": "Super_L",
}
KEYSYM_NAMES.update({f"f{i}": f"F{i}" for i in range(1, 25)})
_BUTTONS = {"left": 1, "middle": 2, "right": 3}


class XTestBackend(HeldInputBackend):
    """Plays primitives on `display` with XTest (the held-input bookkeeping: `HeldInputBackend`)."""

    def __init__(
        self, display: str, clipboard: Clipboard | None = None, paste_timeout_s: float = 2.0
    ) -> None:
        super().__init__()
        self.display_name = display
        self._conn: Any = None
        self._clipboard = clipboard
        self._paste_timeout_s = paste_timeout_s

    # -- connection ---------------------------------------------------------------------
    @property
    def conn(self) -> Any:
        if self._conn is None:
            try:
                from Xlib import display as xdisplay

                conn = xdisplay.Display(self.display_name)
                if not conn.has_extension("XTEST"):
                    conn.close()
                    raise DisplayUnavailableError(f"The display {self.display_name} has no XTEST extension")
            except DisplayUnavailableError:
                raise
            except Exception as exc:
                raise DisplayUnavailableError(
                    f"Cannot connect to the workspace display {self.display_name}: {type(exc).__name__}: {exc}",
                    "the workspace's X server may have stopped",
                ) from exc
            self._conn = conn
        return self._conn

    def _fake(self, event_type: int, detail: int = 0, x: int | None = None, y: int | None = None) -> None:
        from Xlib.ext import xtest

        try:
            if x is None:
                xtest.fake_input(self.conn, event_type, detail)
            else:
                xtest.fake_input(self.conn, event_type, x=x, y=y)
            self.conn.sync()
        except ExecutorError:
            raise
        except Exception as exc:
            raise DisplayUnavailableError(
                f"The workspace display {self.display_name} went away: {type(exc).__name__}: {exc}"
            ) from exc

    @property
    def clipboard(self) -> Clipboard:
        if self._clipboard is None:
            xclip = shutil.which("xclip")
            if xclip is None:
                raise ClipboardError(
                    "Typing non-ASCII text in a workspace needs xclip",
                    "install the Debian/Ubuntu package xclip",
                )
            self._clipboard = XclipClipboard(xclip, display=self.display_name)
        return self._clipboard

    # -- keys -----------------------------------------------------------------------------
    def _keysym(self, key: str) -> int:
        from Xlib import XK

        if len(key) == 1 and 0x20 <= ord(key) <= 0x7E:
            return ord(key)  # Latin-1 keysyms are the characters' code points
        name = KEYSYM_NAMES.get(key)
        keysym = XK.string_to_keysym(name) if name else 0
        if not keysym:
            raise UnknownKeyError(f"The key {key!r} cannot be pressed in a workspace")
        return int(keysym)

    def _keycode(self, key: str) -> tuple[int, bool]:
        """The keycode for `key` and whether shift must be held for it (upper case, '!', ...)."""
        keysym = self._keysym(key)
        code = int(self.conn.keysym_to_keycode(keysym))
        if code == 0:
            raise UnknownKeyError(f"The key {key!r} is not on the workspace's keyboard map")
        shifted = (
            self.conn.keycode_to_keysym(code, 0) != keysym and self.conn.keycode_to_keysym(code, 1) == keysym
        )
        return code, shifted

    def _key(self, key: str, down: bool) -> None:
        from Xlib import X

        code, shifted = self._keycode(key)
        if not down:
            self._fake(X.KeyRelease, code)
            return
        shift = self._keycode("shift")[0] if shifted and "shift" not in self.held_keys else 0
        if shift:
            self._fake(X.KeyPress, shift)
        self._fake(X.KeyPress, code)
        if shift:
            self._fake(X.KeyRelease, shift)

    # -- the InputBackend protocol ----------------------------------------------------------
    def position(self) -> tuple[int, int]:
        pointer = self.conn.screen().root.query_pointer()
        return (int(pointer.root_x), int(pointer.root_y))

    def in_failsafe_corner(self) -> bool:
        return False  # see the module docstring

    def monitors(self) -> list[Rect]:
        screen = self.conn.screen()
        return [(0, 0, int(screen.width_in_pixels), int(screen.height_in_pixels))]

    # -- the device hooks of HeldInputBackend --------------------------------------------
    def _check_key(self, key: str) -> None:
        self._keycode(key)

    def _button(self, button: str, down: bool) -> None:
        from Xlib import X

        self._fake(X.ButtonPress if down else X.ButtonRelease, _BUTTONS[button])

    def _move(self, x: int, y: int) -> None:
        from Xlib import X

        self._fake(X.MotionNotify, x=x, y=y)

    def _scroll(self, clicks: int, horizontal: bool) -> None:
        from Xlib import X

        button = (7 if clicks > 0 else 6) if horizontal else 4 if clicks > 0 else 5
        for _ in range(abs(clicks)):
            self._fake(X.ButtonPress, button)
            self._fake(X.ButtonRelease, button)

    def _device_open(self) -> bool:
        return self._conn is not None

    def _paste(self, text: str) -> str | None:
        return paste_text(self.clipboard, text, self.perform, self._paste_timeout_s, ("ctrl", "v"))

    def save_clipboard(self) -> SavedClipboard:
        return self.clipboard.save()

    def restore_clipboard(self, saved: SavedClipboard) -> None:
        self.clipboard.restore(saved)

    def close(self) -> None:
        if self._clipboard is not None:
            self._clipboard.close()
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):  # the server may be gone already
                conn.close()
