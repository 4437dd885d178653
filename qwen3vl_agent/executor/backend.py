"""pyautogui as the executor's hands: one primitive at a time, with what is held tracked.

Only the executor's worker thread may call this (pyautogui is not thread-safe). pyautogui is
imported lazily here, because on X11 it connects to $DISPLAY at import time and dies with a raw
KeyError/Xlib error when there is none: we turn that into `DisplayUnavailableError`.

`pyautogui.PAUSE` is set to 0: the executor applies the configured pause itself between
primitives as a wait on the stop signal, so a stop lands during the pause instead of after it.
`FAILSAFE` stays on: a pointer in a screen corner raises `FailSafeTriggered` at the next call.
Our own moves never land on a corner pixel (nudged by one pixel), so a corner means the user.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from qwen3vl_agent.executor.clipboard import Clipboard, SavedClipboard, make_clipboard, paste_text
from qwen3vl_agent.executor.errors import DisplayUnavailableError, ExecutorError, UnknownKeyError
from qwen3vl_agent.executor.held_input import HeldInputBackend
from qwen3vl_agent.executor.plan import KeyDown, Plan
from qwen3vl_agent.screen.session import current_session, require_x11_live_desktop

Rect = tuple[int, int, int, int]  # left, top, width, height


class FailSafeTriggered(Exception):
    """Internal: pyautogui's fail-safe fired (the pointer is in a corner)."""


def check_display_env(allow_xwayland: bool = False) -> None:
    """Fail early and clearly where pyautogui cannot possibly work, or would work blind: on a
    Wayland session its XTest events reach only X11 clients (refused unless overridden)."""
    if not sys.platform.startswith("linux"):
        return
    session = current_session()
    require_x11_live_desktop("act on the desktop", allow_xwayland=allow_xwayland, session=session)
    if not session.has_x11:
        raise DisplayUnavailableError(
            "There is no display to act on: DISPLAY is not set", "start the app inside a desktop session"
        )


def _display_error(exc: BaseException) -> DisplayUnavailableError:
    return DisplayUnavailableError(
        f"Cannot connect to the display {os.environ.get('DISPLAY', '')!r}: {type(exc).__name__}: {exc}".rstrip(
            ": "
        ),
        "is the X server running and XAUTHORITY set?",
    )


class PyAutoGUIBackend(HeldInputBackend):
    """Plays primitives with pyautogui (the held-input bookkeeping: `HeldInputBackend`)."""

    _release_errors = (Exception,)  # pyautogui's and Xlib's own errors too: keep releasing the rest

    def __init__(
        self,
        clipboard: Clipboard | None = None,
        paste_timeout_s: float = 2.0,
        *,
        allow_xwayland: bool = False,
    ) -> None:
        super().__init__()
        self._pg: Any = None
        self.allow_xwayland = allow_xwayland  # settings.screen.allow_xwayland
        self._clipboard = clipboard
        self._paste_timeout_s = paste_timeout_s

    # -- setup --------------------------------------------------------------------------
    @property
    def pyautogui(self) -> Any:
        if self._pg is None:
            check_display_env(self.allow_xwayland)
            try:
                import pyautogui
            except Exception as exc:  # KeyError('DISPLAY'), Xlib.error.DisplayConnectionError, XauthError...
                raise _display_error(exc) from exc
            pyautogui.PAUSE = 0.0
            pyautogui.FAILSAFE = True
            self._pg = pyautogui
        return self._pg

    @property
    def clipboard(self) -> Clipboard:
        if self._clipboard is None:
            self._clipboard = make_clipboard()
        return self._clipboard

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        pg = self.pyautogui
        try:
            return fn(*args, **kwargs)
        except pg.FailSafeException as exc:
            raise FailSafeTriggered(str(exc)) from exc
        except (ExecutorError, FailSafeTriggered):
            raise
        except Exception as exc:
            if type(exc).__module__.startswith("Xlib") or isinstance(exc, (ConnectionError, BrokenPipeError)):
                raise _display_error(exc) from exc
            raise

    # -- queries ------------------------------------------------------------------------
    def position(self) -> tuple[int, int]:
        x, y = self._call(self.pyautogui.position)
        return (int(x), int(y))

    def in_failsafe_corner(self) -> bool:
        pg = self.pyautogui
        return bool(pg.FAILSAFE) and tuple(self.position()) in pg.FAILSAFE_POINTS

    def monitors(self) -> list[Rect]:
        """The monitors connected now, in input-device coordinates (from mss, as capture sees them)."""
        import mss

        check_display_env(self.allow_xwayland)
        try:
            factory = getattr(mss, "MSS", None) or mss.mss
            with factory() as grabber:
                found = [(m["left"], m["top"], m["width"], m["height"]) for m in grabber.monitors[1:]]
        except Exception as exc:
            raise _display_error(exc) from exc
        return found

    def _keyboard_mapping(self) -> dict[str, Any] | None:
        return getattr(self.pyautogui.platformModule, "keyboardMapping", None)

    def check_plan(self, plan: Plan) -> None:
        """Refuse keys this platform cannot press, before the first event (typed text is
        pyautogui's `write`, not checked key by key)."""
        if self._keyboard_mapping() is None:
            return
        for prim in plan.primitives:
            if isinstance(prim, KeyDown):
                self._check_key(prim.key)

    def avoid_failsafe(self, x: int, y: int) -> tuple[int, int]:
        """Move a target off a fail-safe corner pixel so that only the user can trigger it."""
        pg = self.pyautogui
        if (x, y) not in pg.FAILSAFE_POINTS:
            return (x, y)
        width, height = pg.size()
        nx = x + 1 if x <= 0 else (x - 1 if x >= width - 1 else x)
        ny = y + 1 if y <= 0 else (y - 1 if y >= height - 1 else y)
        return (nx, ny)

    # -- the device hooks of HeldInputBackend --------------------------------------------
    def _check_key(self, key: str) -> None:
        mapping = self._keyboard_mapping()
        if mapping is not None and mapping.get(key) is None:
            raise UnknownKeyError(f"The key {key!r} cannot be pressed on this platform ({sys.platform})")

    def _key(self, key: str, down: bool) -> None:
        pg = self.pyautogui
        self._call(pg.keyDown if down else pg.keyUp, key, _pause=False)

    def _button(self, button: str, down: bool) -> None:
        pg = self.pyautogui
        self._call(pg.mouseDown if down else pg.mouseUp, button=button, _pause=False)

    def _move(self, x: int, y: int) -> None:
        x, y = self.avoid_failsafe(x, y)
        self._call(self.pyautogui.moveTo, x, y, _pause=False)

    def _scroll(self, clicks: int, horizontal: bool) -> None:
        pg = self.pyautogui
        self._call(pg.hscroll if horizontal else pg.scroll, clicks, _pause=False)

    def _write(self, text: str) -> None:
        self._call(self.pyautogui.write, text, _pause=False)

    def _device_open(self) -> bool:
        return self._pg is not None

    def _paste(self, text: str) -> str | None:
        return paste_text(self.clipboard, text, self.perform, self._paste_timeout_s)

    def save_clipboard(self) -> SavedClipboard:
        return self.clipboard.save()

    def restore_clipboard(self, saved: SavedClipboard) -> None:
        self.clipboard.restore(saved)

    def release_all(self) -> list[str]:
        """Release every key and button we hold (even with the pointer in a fail-safe corner)."""
        if self._pg is None:
            return super().release_all()
        pg = self._pg
        failsafe, pg.FAILSAFE = pg.FAILSAFE, False
        try:
            return super().release_all()
        finally:
            pg.FAILSAFE = failsafe

    def close(self) -> None:
        if self._clipboard is not None:
            self._clipboard.close()
