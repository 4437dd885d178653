"""Key names as models write them -> pyautogui names; unknown names refused before any press."""

from __future__ import annotations

import pytest

from qwen3vl_agent.executor.errors import UnknownKeyError
from qwen3vl_agent.executor.keys import normalize_key, parse_combo


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("ctrl", "ctrl"),
        ("Control", "ctrl"),
        ("Control_L", "ctrlleft"),
        ("alt", "alt"),
        ("Shift", "shift"),
        ("enter", "enter"),
        ("Return", "enter"),
        ("ESC", "esc"),
        ("escape", "esc"),
        ("tab", "tab"),
        ("BackSpace", "backspace"),
        ("Delete", "delete"),
        ("del", "delete"),
        ("ArrowUp", "up"),
        ("left", "left"),
        ("Page Down", "pagedown"),
        ("page_up", "pageup"),
        ("PgDn", "pagedown"),
        ("Home", "home"),
        ("end", "end"),
        ("F1", "f1"),
        ("f24", "f24"),
        ("space", "space"),
        (" ", "space"),
        ("a", "a"),
        ("Z", "Z"),
        ("7", "7"),
        ("/", "/"),
        ("plus", "+"),
    ],
)
def test_model_key_names_map_to_pyautogui_names(name: str, expected: str) -> None:
    assert normalize_key(name, platform="linux") == expected


@pytest.mark.parametrize("name", ["cmd", "command", "super", "win", "Meta", "Super_L"])
def test_the_super_key_follows_the_platform(name: str) -> None:
    assert normalize_key(name, platform="linux") == "win"
    assert normalize_key(name, platform="win32") == "win"
    assert normalize_key(name, platform="darwin") == "command"


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        (["ctrl", "c"], ("ctrl", "c")),
        (["ctrl+c"], ("ctrl", "c")),
        (["Ctrl+Shift+T"], ("ctrl", "shift", "t")),
        (["ctrl", "A"], ("ctrl", "a")),  # no shift the model did not ask for
        (["alt", "F4"], ("alt", "f4")),
        (["ctrl++"], ("ctrl", "+")),
        (["+"], ("+",)),
        (["Return"], ("enter",)),
        (["ctrl", "ctrl", "s"], ("ctrl", "s")),
    ],
)
def test_combos_are_flattened_and_normalised(keys: list[str], expected: tuple[str, ...]) -> None:
    assert parse_combo(keys, platform="linux").keys == expected


@pytest.mark.parametrize(
    "keys",
    [["ctrl", "hyperdrive"], ["ü"], ["東"], [], [""], ["ctrl+"], ["ctrl++shift"], ["f25"], [3]],
)
def test_unknown_or_malformed_keys_are_refused_with_a_clear_message(keys: list[object]) -> None:
    with pytest.raises(UnknownKeyError) as info:
        parse_combo(keys, platform="linux")  # type: ignore[arg-type]
    assert str(info.value)


def test_the_error_names_the_bad_key_and_what_is_accepted() -> None:
    with pytest.raises(UnknownKeyError) as info:
        parse_combo(["ctrl", "hyperdrive"], platform="linux")
    assert "hyperdrive" in str(info.value)
    assert "ctrl" in str(info.value) and "f1..f24" in str(info.value)
