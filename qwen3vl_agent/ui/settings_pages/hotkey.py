"""Check a stop hotkey's spelling without importing pynput.

pynput picks its input backend when it is imported and fails without a display, and the
check must work (and be instant) in the dialog anyway, so this mirrors
`pynput.keyboard.HotKey.parse`: parts joined by `+`, each one character or `<name>` (a
special key) or `<number>` (a virtual key code), no part twice. The key names are those
pynput knows on every platform plus the X11 ones (F13-F20, media keys).
"""

from __future__ import annotations

KEY_NAMES = frozenset(
    {
        "alt", "alt_l", "alt_r", "alt_gr", "backspace", "caps_lock", "cmd", "cmd_l", "cmd_r",
        "ctrl", "ctrl_l", "ctrl_r", "delete", "down", "end", "enter", "esc", "home", "left",
        "page_down", "page_up", "right", "shift", "shift_l", "shift_r", "space", "tab", "up",
        "media_play_pause", "media_volume_mute", "media_volume_down", "media_volume_up",
        "media_previous", "media_next", "insert", "menu", "num_lock", "pause", "print_screen",
        "scroll_lock",
    }
    | {f"f{n}" for n in range(1, 21)}
)  # fmt: skip


def _parts(keys: str) -> list[str]:
    """pynput's split: a `+` right after a separator is a key, not a separator."""
    out, start = [], 0
    for i, c in enumerate(keys):
        if c == "+" and i != start:
            out.append(keys[start:i])
            start = i + 1
    if start == len(keys):
        raise ValueError("it ends with '+' or is empty")
    out.append(keys[start:])
    return out


def hotkey_problem(keys: str) -> str | None:
    """None when `keys` is a valid pynput hotkey, else what is wrong, in words."""
    if not keys.strip():
        return 'it is empty; use pynput syntax, e.g. "<ctrl>+<alt>+<esc>"'
    try:
        parts = _parts(keys)
    except ValueError as exc:
        return f'{exc}; use pynput syntax, e.g. "<ctrl>+<alt>+<esc>"'
    seen: set[str] = set()
    for part in parts:
        if len(part) == 1:
            norm = part.lower()
        elif len(part) > 2 and part[0] == "<" and part[-1] == ">":
            name = part[1:-1].lower()
            if name not in KEY_NAMES and not name.isdigit():
                return f"{part!r} is not a key name (e.g. <ctrl>, <alt>, <shift>, <esc>, <f12>)"
            norm = name
        else:
            return f"{part!r} is neither one character nor a <key> name (write <{part.lower()}>?)"
        if norm in seen:
            return f"{part!r} appears twice"
        seen.add(norm)
    return None
