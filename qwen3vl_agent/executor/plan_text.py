"""The primitive plan of an action as a person must see it before approving it.

An approval prompt must not lie: every character that will be typed is shown, line breaks as
"⏎" (and a real break after it, so a hidden second line is a visible second line), tabs as "⇥",
control characters (an ESC that would redraw a terminal line) as their Unicode control pictures,
and invisible or direction-changing characters (zero-width, bidi overrides) as ⟨U+XXXX⟩. Every
key of a combo is listed. The text is PLAIN: a caller that shows it in rich text must escape it.
"""

from __future__ import annotations

import unicodedata

from qwen3vl_agent.executor.plan import (
    ButtonDown,
    ButtonUp,
    KeyDown,
    KeyUp,
    MoveTo,
    PasteText,
    Plan,
    Scroll,
    Sleep,
    WriteText,
)

_SPECIAL = {"\n": "⏎\n", "\r": "␍", "\t": "⇥", "\x7f": "␡"}


def visible_char(ch: str) -> str:
    """One character as it must appear in a prompt (see the module docstring)."""
    if ch in _SPECIAL:
        return _SPECIAL[ch]
    code = ord(ch)
    if code < 0x20:
        return chr(0x2400 + code)  # ␀..␟ (␛ for ESC)
    if ch == " " or (ch.isprintable() and unicodedata.category(ch) not in ("Cf", "Zl", "Zp")):
        return ch
    return f"⟨U+{code:04X}⟩"


def visible_text(text: str) -> str:
    """All of `text`, every character visible."""
    return "".join(visible_char(c) for c in text)


def _typed(prims: list[WriteText | PasteText]) -> str:
    text = "".join(p.text for p in prims)
    how = "paste (clipboard)" if isinstance(prims[0], PasteText) else "type"
    return f"{how} {len(text)} character(s): «{visible_text(text)}»"


def plan_steps(plan: Plan) -> tuple[str, ...]:
    """The plan in a few readable lines: typed text in one piece, a combo as one press, clicks."""
    lines: list[str] = []
    prims = list(plan.primitives)
    i = 0
    while i < len(prims):
        p = prims[i]
        if isinstance(p, WriteText | PasteText):
            kind = type(p)
            j = i
            while j < len(prims) and isinstance(prims[j], kind):
                j += 1
            lines.append(_typed(prims[i:j]))  # type: ignore[arg-type]
            i = j
        elif isinstance(p, KeyDown):
            keys = []
            while i < len(prims) and isinstance(prims[i], KeyDown):
                keys.append(prims[i].key)  # type: ignore[union-attr]
                i += 1
            while i < len(prims) and isinstance(prims[i], KeyUp):
                i += 1
            lines.append(f"press the keys {' + '.join(keys)} together ({len(keys)} key(s))")
        elif isinstance(p, ButtonDown) and i + 1 < len(prims) and prims[i + 1] == ButtonUp(p.button):
            n = 0
            while i + 1 < len(prims) and prims[i] == p and prims[i + 1] == ButtonUp(p.button):
                n += 1
                i += 2
            lines.append(f"{p.button} click" + (f" ×{n}" if n > 1 else ""))
        elif isinstance(p, MoveTo):
            j = i
            while j + 1 < len(prims) and isinstance(prims[j + 1], MoveTo):
                j += 1
            end = prims[j]
            assert isinstance(end, MoveTo)
            lines.append(
                f"move the pointer to ({end.x}, {end.y})" + (f" in {j - i + 1} steps" if j > i else "")
            )
            i = j + 1
        elif isinstance(p, Sleep):
            total = 0.0
            while i < len(prims) and isinstance(prims[i], Sleep):
                total += prims[i].seconds  # type: ignore[union-attr]
                i += 1
            lines.append(f"wait {total:.2f} s")
        elif isinstance(p, Scroll):
            clicks = 0
            while i < len(prims) and isinstance(prims[i], Scroll) and prims[i].horizontal == p.horizontal:  # type: ignore[union-attr]
                clicks += prims[i].clicks  # type: ignore[union-attr]
                i += 1
            lines.append(Scroll(clicks, p.horizontal).describe())
        else:
            lines.append(p.describe())
            i += 1
    return (*lines, *plan.notes)
