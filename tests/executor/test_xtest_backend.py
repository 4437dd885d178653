"""XTestBackend's held-input bookkeeping on a real X server: what it presses reaches the server
(recorded by the server itself), what it holds is released in reverse order, and a release after
the display died is best effort (no error, nothing left marked as held)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from qwen3vl_agent.executor import UnknownKeyError
from qwen3vl_agent.executor.plan import (
    ButtonDown,
    ButtonUp,
    KeyDown,
    KeyUp,
    MoveTo,
    Plan,
    Scroll,
    WriteText,
)
from qwen3vl_agent.executor.xtest_backend import XTestBackend
from tests.support.x_input_log import XInputLog
from tests.support.xvfb import XvfbDisplay, start_xvfb, stop_xvfb

pytestmark = [pytest.mark.xvfb, pytest.mark.timeout(60)]


@pytest.fixture
def backend(xvfb: XvfbDisplay) -> Iterator[XTestBackend]:
    b = XTestBackend(xvfb.name)
    try:
        yield b
    finally:
        b.release_all()
        b.close()


def _keys_down(backend: XTestBackend, *keysyms: int) -> list[bool]:
    keymap = backend.conn.query_keymap()
    codes = [backend.conn.keysym_to_keycode(k) for k in keysyms]
    return [bool(keymap[c // 8] & (1 << (c % 8))) for c in codes]


def test_text_keys_and_scroll_reach_the_server(xvfb: XvfbDisplay, backend: XTestBackend) -> None:
    with XInputLog(xvfb.name) as log:
        backend.perform(WriteText("a\tB\n"))
        backend.perform(Scroll(2, False))
        backend.perform(Scroll(-1, True))
    # newline and tab are typed as their keys; "B" is shift + b, shift let go again
    assert log.key_presses() == ["a", "Tab", "Shift_L", "b", "Return"]
    assert log.button_presses() == [4, 4, 6]
    assert backend.held_keys == [] and backend.held_buttons == []


def test_what_is_held_is_tracked_and_released_in_reverse(backend: XTestBackend) -> None:
    backend.perform(MoveTo(50, 60))
    backend.perform(KeyDown("shift"))
    backend.perform(KeyDown("ctrl"))
    backend.perform(ButtonDown("left"))
    backend.perform(ButtonDown("right"))
    backend.perform(KeyUp("ctrl"))
    backend.perform(ButtonUp("right"))
    assert backend.held_keys == ["shift"] and backend.held_buttons == ["left"]
    assert _keys_down(backend, 0xFFE1, 0xFFE3) == [True, False]  # Shift_L, Control_L
    assert backend.position() == (50, 60)
    assert backend.release_all() == ["key shift", "left button"]
    assert backend.held_keys == [] and backend.held_buttons == []
    assert _keys_down(backend, 0xFFE1) == [False]
    assert not backend.conn.screen().root.query_pointer().mask & 0x100  # Button1Mask


def test_check_plan_types_newlines_and_tabs_as_keys_and_refuses_the_rest(backend: XTestBackend) -> None:
    backend.check_plan(Plan((WriteText("x\n\ty "), KeyDown("enter"))))
    with pytest.raises(UnknownKeyError):
        backend.check_plan(Plan((WriteText("é"),)))
    with pytest.raises(UnknownKeyError):
        backend.check_plan(Plan((KeyDown("nosuchkey"),)))


def test_releasing_after_the_display_died_is_best_effort() -> None:
    proc, disp = start_xvfb(monitors=((0, 0, 640, 480),))
    backend = XTestBackend(disp.name)
    try:
        backend.perform(KeyDown("shift"))
        backend.perform(ButtonDown("left"))
    finally:
        stop_xvfb(proc)
    assert backend.release_all() == []
    assert backend.held_keys == [] and backend.held_buttons == []
    backend.close()
