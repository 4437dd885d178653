"""The executor's hands on a Wayland desktop: a remote-desktop session of either route.

`MutterBackend`: GNOME's own `org.gnome.Mutter.RemoteDesktop` (what xdg-desktop-portal-gnome
drives underneath; no dialog). `PortalBackend`: xdg-desktop-portal's RemoteDesktop portal (KDE
Plasma, wlroots desktops, GNOME by the setting; the desktop asks the user once per session, see
`wayland/portal_session.py`). Both take pointer motion in a monitor stream's pixels, buttons as
evdev codes, wheel steps and keys as X keysyms; the compositor picks keycodes and the shift
level itself. One class plays primitives for both (`WaylandBackend`, over the
`wayland.remote.RemoteSession` they share) and implements the same `InputBackend` protocol as
`PyAutoGUIBackend` and `XTestBackend`: the executor's guarantees (stop between primitives, held
keys and buttons released, the safety mode, monitor checks) hold unchanged.

Text: ASCII is typed as keysyms. Other text (the planner's `PasteText`) goes through the
session's own clipboard where the route has one (Mutter's): the backend offers it
(`SetSelection`), presses ctrl+v and serves the application's request (`SelectionTransfer` ->
`SelectionWrite`), then withdraws the offer, so the typed text (a password, say) does not stay
pasteable. Measured on Mutter 43: keysyms of characters that are not on the keyboard map (ü, 東,
or 0x01000000 + code point) are dropped silently, so they are never typed that way; where the
route has no clipboard (the portal here) such text is refused before anything is pressed. What
the user had on the clipboard is not kept (Wayland gives it to the focused app only); it is
empty after such a paste.

What Wayland does not allow: reading the user's pointer. There is no fail-safe corner here;
`executor.stop()` and the stop hotkey stop a run (see docs/desktop-app.md).
"""

from __future__ import annotations

import contextlib

from qwen3vl_agent.executor.clipboard import SavedClipboard, paste_text
from qwen3vl_agent.executor.errors import (
    ClipboardError,
    DisplayUnavailableError,
    ExecutorError,
    UnknownKeyError,
)
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
from qwen3vl_agent.executor.xtest_backend import KEYSYM_NAMES
from qwen3vl_agent.wayland.bus import WaylandDesktopError
from qwen3vl_agent.wayland.probe import open_session
from qwen3vl_agent.wayland.remote import (
    AXIS_HORIZONTAL,
    AXIS_VERTICAL,
    BTN_LEFT,
    BTN_MIDDLE,
    BTN_RIGHT,
    RemoteSession,
    Route,
)

Rect = tuple[int, int, int, int]

_BUTTONS = {"left": BTN_LEFT, "middle": BTN_MIDDLE, "right": BTN_RIGHT}
_TEXT_KEYS = {"\n": "enter", "\t": "tab", " ": "space"}
_UNICODE_KEYSYM = 0x01000000


def char_keysym(char: str) -> int:
    """The X keysym that types one character (Latin-1 keysyms are their code points)."""
    cp = ord(char)
    if 0x20 <= cp <= 0x7E or 0xA0 <= cp <= 0xFF:
        return cp
    if cp < 0x20 or 0x7F <= cp < 0xA0:
        raise UnknownKeyError(f"The control character {char!r} cannot be typed")
    return _UNICODE_KEYSYM + cp


def key_keysym(key: str) -> int:
    """The keysym of a pyautogui key name (what `keys.parse_combo` produces) or of one character."""
    name = KEYSYM_NAMES.get(key)
    if name is None and len(key) == 1:
        return char_keysym(key)
    if name is None:
        raise UnknownKeyError(f"The key {key!r} cannot be pressed on this Wayland desktop")
    from Xlib import XK

    keysym = int(XK.string_to_keysym(name))
    if not keysym:  # pragma: no cover - every name in KEYSYM_NAMES is a real keysym
        raise UnknownKeyError(f"The key {key!r} has no keysym")
    return keysym


class _SessionClipboard:
    """The `Clipboard` protocol over the remote-desktop session's clipboard (for `paste_text`)."""

    def __init__(self, session: RemoteSession) -> None:
        self.session = session

    def save(self) -> SavedClipboard:
        return SavedClipboard()

    def set_text(self, text: str) -> None:
        try:
            self.session.offer_text(text)
        except WaylandDesktopError as exc:
            raise ClipboardError(
                f"The Wayland desktop refused the clipboard: {exc.message}", exc.hint
            ) from exc

    def wait_pasted(self, timeout: float) -> bool:
        return self.session.serve_paste(timeout)

    def restore(self, saved: SavedClipboard) -> None:
        with contextlib.suppress(WaylandDesktopError):
            self.session.withdraw_text()

    def close(self) -> None:
        return None


class WaylandBackend:
    """Plays primitives through a remote-desktop session of `route` (opened on first use, in the
    executor's worker thread); remembers what it holds to release it."""

    route: Route = "mutter"

    def __init__(self, paste_timeout_s: float = 2.0) -> None:
        self.paste_timeout_s = paste_timeout_s
        self._session: RemoteSession | None = None
        self._pointer: tuple[int, int] | None = None
        self.held_keys: list[str] = []
        self.held_buttons: list[str] = []

    @property
    def session(self) -> RemoteSession:
        if self._session is None:
            try:
                self._session = open_session(self.route, remote_desktop=True)
            except WaylandDesktopError as exc:
                raise DisplayUnavailableError(exc.message, exc.hint) from exc
        return self._session

    def _do(self, fn: object, *args: object) -> None:
        try:
            fn(*args)  # type: ignore[operator]
        except WaylandDesktopError as exc:
            raise DisplayUnavailableError(
                f"The Wayland desktop refused the input: {exc.message}", exc.hint
            ) from exc

    def _key(self, key: str, down: bool) -> None:
        self._do(self.session.keysym, key_keysym(key), down)

    # -- the InputBackend protocol ----------------------------------------------------------
    def position(self) -> tuple[int, int]:
        """Where we last moved the pointer (Wayland lets no client read it); at first the
        primary monitor's centre."""
        if self._pointer is None:
            m = self.session.monitors[0]
            return (m.left + m.width // 2, m.top + m.height // 2)
        return self._pointer

    def in_failsafe_corner(self) -> bool:
        return False  # see the module docstring

    def monitors(self) -> list[Rect]:
        session = self.session
        try:
            changed = session.layout_changed()
        except WaylandDesktopError as exc:
            raise DisplayUnavailableError(exc.message, exc.hint) from exc
        if changed:  # streams of the old layout are stale: open the session again
            self.release_all()
            self.close()
            session = self.session
        return [(m.left, m.top, m.width, m.height) for m in session.monitors]

    def check_plan(self, plan: Plan) -> None:
        for prim in plan.primitives:
            if isinstance(prim, KeyDown):
                key_keysym(prim.key)
            elif isinstance(prim, WriteText):
                for char in prim.text:
                    key_keysym(_TEXT_KEYS.get(char, char))
        if plan.uses_clipboard:
            problem = self.session.clipboard_problem()
            if problem is not None:
                raise ClipboardError(
                    f"This text cannot be typed on this Wayland desktop: {problem}",
                    'type ASCII text only here, use GNOME\'s route (screen.wayland_route = "mutter"), '
                    "or an agent workspace",
                )

    def perform(self, prim: Primitive) -> str | None:
        session = self.session
        if isinstance(prim, MoveTo):
            self._do(session.move, prim.x, prim.y)
            self._pointer = (prim.x, prim.y)
        elif isinstance(prim, ButtonDown):
            self._do(session.button, _BUTTONS[prim.button], True)
            self.held_buttons.append(prim.button)
        elif isinstance(prim, ButtonUp):
            self._do(session.button, _BUTTONS[prim.button], False)
            if prim.button in self.held_buttons:
                self.held_buttons.remove(prim.button)
        elif isinstance(prim, KeyDown):
            self._key(prim.key, True)
            self.held_keys.append(prim.key)
        elif isinstance(prim, KeyUp):
            self._key(prim.key, False)
            if prim.key in self.held_keys:
                self.held_keys.remove(prim.key)
        elif isinstance(prim, PasteText):
            return paste_text(
                _SessionClipboard(session), prim.text, self.perform, self.paste_timeout_s, ("ctrl", "v")
            )
        elif isinstance(prim, WriteText):
            for char in prim.text:
                key = _TEXT_KEYS.get(char, char)
                self._key(key, True)
                self._key(key, False)
        elif isinstance(prim, Scroll):
            # pyautogui: positive scrolls up / right; the wheel axis: positive is down / right
            axis, steps = (AXIS_HORIZONTAL, prim.clicks) if prim.horizontal else (AXIS_VERTICAL, -prim.clicks)
            self._do(session.scroll, axis, steps)
        elif isinstance(prim, Sleep):
            raise ExecutorError("Sleep is played by the executor, not the backend")
        return None

    def save_clipboard(self) -> SavedClipboard:
        return SavedClipboard()  # see the module docstring: the user's clipboard is not readable

    def restore_clipboard(self, saved: SavedClipboard) -> None:
        if self._session is not None:
            with contextlib.suppress(WaylandDesktopError):
                self._session.withdraw_text()

    def release_all(self) -> list[str]:
        """Release every key and button we hold (best effort: the compositor may be gone)."""
        released: list[str] = []
        if self._session is not None:
            for key in reversed(self.held_keys):
                with contextlib.suppress(ExecutorError, WaylandDesktopError):
                    self._session.keysym(key_keysym(key), False)
                    released.append(f"key {key}")
            for button in reversed(self.held_buttons):
                with contextlib.suppress(WaylandDesktopError):
                    self._session.button(_BUTTONS[button], False)
                    released.append(f"{button} button")
        self.held_keys.clear()
        self.held_buttons.clear()
        return released

    def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            session.close()


class MutterBackend(WaylandBackend):
    """GNOME's own remote-desktop API (no dialog)."""

    route: Route = "mutter"


class PortalBackend(WaylandBackend):
    """xdg-desktop-portal's RemoteDesktop portal (the desktop asks the user)."""

    route: Route = "portal"
