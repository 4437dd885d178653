"""The model's key names -> pyautogui key names, validated before anything is pressed.

Models write keys many ways: `["ctrl", "c"]`, `["ctrl+c"]`, `["Control_L", "Return"]`,
`["cmd", "q"]`, `["Page Down"]`. `parse_combo` accepts all of these and refuses any name it does
not know with an `UnknownKeyError` that lists what is accepted, so a half-pressed combo can
never happen. pyautogui itself silently ignores names it does not know: that is why this check
exists.
"""

from __future__ import annotations

import string
import sys
from dataclasses import dataclass

from qwen3vl_agent.executor.errors import UnknownKeyError

MODIFIERS = frozenset(
    {"ctrl", "ctrlleft", "ctrlright", "alt", "altleft", "altright", "shift", "shiftleft", "shiftright"}
    | {"win", "winleft", "winright", "command", "option", "fn"}
)

# Lower-cased, with spaces/dashes turned into "_" and then also tried without "_".
_ALIASES: dict[str, str] = {
    # modifiers
    "ctrl": "ctrl",
    "control": "ctrl",
    "ctl": "ctrl",
    "strg": "ctrl",
    "control_l": "ctrlleft",
    "lctrl": "ctrlleft",
    "ctrl_l": "ctrlleft",
    "leftctrl": "ctrlleft",
    "ctrlleft": "ctrlleft",
    "control_r": "ctrlright",
    "rctrl": "ctrlright",
    "ctrl_r": "ctrlright",
    "rightctrl": "ctrlright",
    "ctrlright": "ctrlright",
    "alt": "alt",
    "alt_l": "altleft",
    "lalt": "altleft",
    "altleft": "altleft",
    "alt_r": "altright",
    "ralt": "altright",
    "altgr": "altright",
    "altright": "altright",
    "shift": "shift",
    "shift_l": "shiftleft",
    "lshift": "shiftleft",
    "shiftleft": "shiftleft",
    "shift_r": "shiftright",
    "rshift": "shiftright",
    "shiftright": "shiftright",
    # the "super" key: Windows/Linux name it win/super/meta, macOS cmd/command
    "cmd": "@super",
    "command": "@super",
    "super": "@super",
    "super_l": "@super",
    "super_r": "@super",
    "win": "@super",
    "windows": "@super",
    "meta": "@super",
    "meta_l": "@super",
    "os": "@super",
    "option": "@option",
    "opt": "@option",
    # editing and navigation
    "enter": "enter",
    "return": "enter",
    "ret": "enter",
    "kp_enter": "enter",
    "esc": "esc",
    "escape": "esc",
    "tab": "tab",
    "backspace": "backspace",
    "back_space": "backspace",
    "bksp": "backspace",
    "delete": "delete",
    "del": "delete",
    "insert": "insert",
    "ins": "insert",
    "space": "space",
    "spacebar": "space",
    "up": "up",
    "down": "down",
    "left": "left",
    "right": "right",
    "arrowup": "up",
    "arrowdown": "down",
    "arrowleft": "left",
    "arrowright": "right",
    "up_arrow": "up",
    "down_arrow": "down",
    "left_arrow": "left",
    "right_arrow": "right",
    "arrow_up": "up",
    "arrow_down": "down",
    "arrow_left": "left",
    "arrow_right": "right",
    "pageup": "pageup",
    "page_up": "pageup",
    "pgup": "pageup",
    "prior": "pageup",
    "pagedown": "pagedown",
    "page_down": "pagedown",
    "pgdn": "pagedown",
    "next": "pagedown",
    "home": "home",
    "end": "end",
    "capslock": "capslock",
    "caps_lock": "capslock",
    "numlock": "numlock",
    "num_lock": "numlock",
    "scrolllock": "scrolllock",
    "scroll_lock": "scrolllock",
    "printscreen": "printscreen",
    "print_screen": "printscreen",
    "print": "printscreen",
    "prtsc": "printscreen",
    "pause": "pause",
    "menu": "apps",
    "apps": "apps",
    "context_menu": "apps",
    "plus": "+",
    "minus": "-",
}
_ALIASES.update({f"f{i}": f"f{i}" for i in range(1, 25)})

_SINGLE_CHARACTERS = frozenset(string.ascii_letters + string.digits + string.punctuation + " ")

ACCEPTED_HELP = (
    "ctrl, alt, shift, cmd/super/win/meta, enter/return, esc, tab, backspace, delete, insert, "
    "space, up/down/left/right, pageup/pagedown, home/end, f1..f24, capslock, printscreen, menu, "
    "or one ASCII character"
)


def _super_name(platform: str) -> str:
    return "command" if platform == "darwin" else "win"


def normalize_key(name: str, platform: str = sys.platform) -> str:
    """One model key name -> the pyautogui name; `UnknownKeyError` if there is none."""
    if not isinstance(name, str) or name == "":
        raise UnknownKeyError(f"Empty key name in a key action (accepted: {ACCEPTED_HELP})")
    if len(name) == 1:
        if name in _SINGLE_CHARACTERS:
            return "space" if name == " " else name
        raise UnknownKeyError(
            f"The key {name!r} cannot be pressed as a key", "type non-ASCII characters with the type action"
        )
    cleaned = name.strip().lower().replace("-", "_").replace(" ", "_")
    target = _ALIASES.get(cleaned) or _ALIASES.get(cleaned.replace("_", ""))
    if target is None:
        raise UnknownKeyError(f"Unknown key {name!r}", f"accepted: {ACCEPTED_HELP}")
    if target == "@super":
        return _super_name(platform)
    if target == "@option":
        return "option" if platform == "darwin" else "alt"
    return target


def _split_tokens(keys: tuple[str, ...] | list[str]) -> list[str]:
    """Flatten `["ctrl+shift+t"]`-style entries; "+" alone (or trailing, "ctrl++") is the plus key."""
    tokens: list[str] = []
    for entry in keys:
        if not isinstance(entry, str):
            raise UnknownKeyError(f"Key names must be strings, got {entry!r}")
        if len(entry) <= 1 or "+" not in entry:
            tokens.append(entry)
            continue
        plus_key = entry.endswith("++")
        parts = [p for p in (entry[:-2] if plus_key else entry).split("+")]
        if any(p.strip() == "" for p in parts):
            raise UnknownKeyError(f"Malformed key combination {entry!r}")
        tokens.extend(p.strip() for p in parts)
        if plus_key:
            tokens.append("+")
    return tokens


@dataclass(frozen=True)
class KeyCombo:
    """pyautogui key names, pressed in order and released in reverse."""

    keys: tuple[str, ...]

    def __str__(self) -> str:
        return "+".join(self.keys)

    @property
    def modifiers(self) -> tuple[str, ...]:
        return tuple(k for k in self.keys if k in MODIFIERS)


def parse_combo(keys: tuple[str, ...] | list[str], platform: str = sys.platform) -> KeyCombo:
    """Validate and map a whole `key` action; raises before anything could be pressed."""
    tokens = _split_tokens(keys)
    if not tokens:
        raise UnknownKeyError("A key action needs at least one key", f"accepted: {ACCEPTED_HELP}")
    mapped = [normalize_key(t, platform) for t in tokens]
    has_modifier = any(k in MODIFIERS for k in mapped)
    if has_modifier:
        # "ctrl+A" means ctrl+a: an upper-case letter would add a shift the model did not ask for.
        mapped = [k.lower() if len(k) == 1 and k.isalpha() else k for k in mapped]
    seen: list[str] = []
    for key in mapped:
        if key not in seen:
            seen.append(key)
    return KeyCombo(tuple(seen))
