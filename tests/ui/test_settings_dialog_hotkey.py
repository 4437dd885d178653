"""The dialog's hotkey check agrees with pynput's own parser (what the executor uses), which
needs a display to import: checked on the test Xvfb."""

from __future__ import annotations

from typing import Any

import pytest

from qwen3vl_agent.ui.settings_pages.hotkey import KEY_NAMES, hotkey_problem

SAMPLES = [
    "<ctrl>+<alt>+<esc>",
    "<ctrl>+<shift>+<f12>",
    "<cmd>+q",
    "<alt_gr>+<print_screen>",
    "<ctrl>+<65>",
    "<ctrl>++",
    "a",
    "<CTRL>+X",
    "<ctrl>+<alt>+<bogus>",
    "ctrl+alt+esc",
    "<ctrl>+",
    "+",
    "<ctrl>+a+a",
    "<ctrl>+<ctrl>",
    "<>",
    "<f21>",
]


@pytest.mark.parametrize("hotkey", SAMPLES)
def test_hotkey_check_agrees_with_pynput(xvfb: Any, hotkey: str) -> None:
    from pynput import keyboard

    try:
        keyboard.HotKey.parse(hotkey)
        pynput_ok = True
    except ValueError:
        pynput_ok = False
    assert (hotkey_problem(hotkey) is None) == pynput_ok, hotkey_problem(hotkey)


def test_every_key_name_is_one_pynput_knows(xvfb: Any) -> None:
    from pynput import keyboard

    assert set(keyboard.Key.__members__) >= KEY_NAMES  # aliases (alt_l = alt) included
