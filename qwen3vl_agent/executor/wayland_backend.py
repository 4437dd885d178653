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
    UnknownKeyError,
)
from qwen3vl_agent.executor.held_input import HeldInputBackend
from qwen3vl_agent.executor.plan import Plan
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


class WaylandBackend(HeldInputBackend):
    """Plays primitives through a remote-desktop session of `route` (opened on first use, in the
    executor's worker thread); the held-input bookkeeping: `HeldInputBackend`."""

    route: Route = "mutter"

    def __init__(self, paste_timeout_s: float = 2.0) -> None:
        super().__init__()
        self.paste_timeout_s = paste_timeout_s
        self._session: RemoteSession | None = None
        self._pointer: tuple[int, int] | None = None

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
        super().check_plan(plan)
        if plan.uses_clipboard:
            problem = self.session.clipboard_problem()
            if problem is not None:
                raise ClipboardError(
                    f"This text cannot be typed on this Wayland desktop: {problem}",
                    'type ASCII text only here, use GNOME\'s route (screen.wayland_route = "mutter"), '
                    "or an agent workspace",
                )

    # -- the device hooks of HeldInputBackend --------------------------------------------
    def _check_key(self, key: str) -> None:
        key_keysym(key)

    def _key(self, key: str, down: bool) -> None:
        self._do(self.session.keysym, key_keysym(key), down)

    def _button(self, button: str, down: bool) -> None:
        self._do(self.session.button, _BUTTONS[button], down)

    def _move(self, x: int, y: int) -> None:
        self._do(self.session.move, x, y)
        self._pointer = (x, y)

    def _scroll(self, clicks: int, horizontal: bool) -> None:
        # pyautogui: positive scrolls up / right; the wheel axis: positive is down / right
        axis, steps = (AXIS_HORIZONTAL, clicks) if horizontal else (AXIS_VERTICAL, -clicks)
        self._do(self.session.scroll, axis, steps)

    def _paste(self, text: str) -> str | None:
        return paste_text(
            _SessionClipboard(self.session), text, self.perform, self.paste_timeout_s, ("ctrl", "v")
        )

    def _device_open(self) -> bool:
        return self._session is not None

    def save_clipboard(self) -> SavedClipboard:
        return SavedClipboard()  # see the module docstring: the user's clipboard is not readable

    def restore_clipboard(self, saved: SavedClipboard) -> None:
        if self._session is not None:
            with contextlib.suppress(WaylandDesktopError):
                self._session.withdraw_text()

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
