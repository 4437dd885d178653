"""Turn one `ResolvedAction` into the primitive input events that perform it.

Planning is pure (no display): dry-run reports the plan, and every check that can refuse an
action (unknown keys, a missing point, a bad number) runs here, BEFORE the first event. The
executor then plays the primitives one by one and honours a stop between any two of them, so
long actions (typing, drags, waits, many wheel clicks) are split into small primitives.
"""

from __future__ import annotations

import math
import string
import sys
from dataclasses import dataclass, field

from qwen3vl_agent.actions.model import ActionType, ResolvedAction
from qwen3vl_agent.executor.errors import ExecutorError
from qwen3vl_agent.executor.keys import parse_combo

# What pyautogui.write can type on every platform; anything else goes through the clipboard.
TYPEABLE = frozenset(string.ascii_letters + string.digits + string.punctuation + " \n\t")


@dataclass(frozen=True)
class MoveTo:
    x: int
    y: int

    def describe(self) -> str:
        return f"move to ({self.x}, {self.y})"


@dataclass(frozen=True)
class ButtonDown:
    button: str

    def describe(self) -> str:
        return f"{self.button} button down"


@dataclass(frozen=True)
class ButtonUp:
    button: str

    def describe(self) -> str:
        return f"{self.button} button up"


@dataclass(frozen=True)
class KeyDown:
    key: str

    def describe(self) -> str:
        return f"key down {self.key}"


@dataclass(frozen=True)
class KeyUp:
    key: str

    def describe(self) -> str:
        return f"key up {self.key}"


@dataclass(frozen=True)
class WriteText:
    """ASCII text typed key by key (pyautogui.write)."""

    text: str

    def describe(self) -> str:
        return f"type {self.text!r}"


@dataclass(frozen=True)
class PasteText:
    """Any text, through the clipboard and the paste shortcut."""

    text: str

    def describe(self) -> str:
        return f"paste {self.text!r}"


@dataclass(frozen=True)
class Scroll:
    """Wheel clicks: positive = up (vertical) or right (horizontal)."""

    clicks: int
    horizontal: bool = False

    def describe(self) -> str:
        direction = (
            ("right" if self.clicks > 0 else "left")
            if self.horizontal
            else ("up" if self.clicks > 0 else "down")
        )
        return f"scroll {direction} {abs(self.clicks)} click(s)"


@dataclass(frozen=True)
class Sleep:
    seconds: float

    def describe(self) -> str:
        return f"wait {self.seconds:.2f}s"


Primitive = MoveTo | ButtonDown | ButtonUp | KeyDown | KeyUp | WriteText | PasteText | Scroll | Sleep


@dataclass(frozen=True)
class PlanConfig:
    """Knobs of the translation (from `ExecutorSettings`)."""

    drag_steps: int = 12
    type_chunk_chars: int = 4
    paste_chunk_chars: int = 64
    scroll_pixels_per_click: float = 100.0
    max_scroll_clicks: int = 50
    scroll_chunk_clicks: int = 3
    wait_slice_s: float = 0.05
    max_wait_s: float = 60.0
    platform: str = sys.platform


@dataclass(frozen=True)
class Plan:
    primitives: tuple[Primitive, ...]
    notes: tuple[str, ...] = field(default=())

    @property
    def uses_clipboard(self) -> bool:
        return any(isinstance(p, PasteText) for p in self.primitives)

    def describe(self) -> tuple[str, ...]:
        return tuple(p.describe() for p in self.primitives)


_CLICKS = {
    ActionType.LEFT_CLICK: ("left", 1),
    ActionType.RIGHT_CLICK: ("right", 1),
    ActionType.MIDDLE_CLICK: ("middle", 1),
    ActionType.DOUBLE_CLICK: ("left", 2),
    ActionType.TRIPLE_CLICK: ("left", 3),
}


def _chunks(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), max(1, size))]


def wheel_clicks(pixels: float, config: PlanConfig) -> int:
    """Model "pixels" -> wheel clicks: at least one click for any non-zero amount, capped."""
    if not math.isfinite(pixels):
        raise ExecutorError(f"Scroll amount {pixels!r} is not a finite number")
    if pixels == 0:
        return 0
    clicks = max(1, round(abs(pixels) / config.scroll_pixels_per_click))
    return int(math.copysign(min(clicks, config.max_scroll_clicks), pixels))


def _need_point(resolved: ResolvedAction) -> tuple[int, int]:
    if resolved.point is None:
        raise ExecutorError(f"The action {resolved.action.describe()} has no screen point to act on")
    return resolved.point


def plan_action(resolved: ResolvedAction, config: PlanConfig, pointer: tuple[int, int] | None = None) -> Plan:
    """The primitives for one action. `pointer` (current position) shapes a drag without a start."""
    action = resolved.action
    kind = action.action
    prims: list[Primitive] = []
    notes: list[str] = []

    if kind in _CLICKS:
        button, count = _CLICKS[kind]
        x, y = _need_point(resolved)
        prims.append(MoveTo(x, y))
        for _ in range(count):
            prims += [ButtonDown(button), ButtonUp(button)]
    elif kind is ActionType.MOUSE_MOVE:
        prims.append(MoveTo(*_need_point(resolved)))
    elif kind is ActionType.LEFT_CLICK_DRAG:
        end = _need_point(resolved)
        start = resolved.start_point or pointer
        if resolved.start_point is not None:
            prims.append(MoveTo(*resolved.start_point))
        prims.append(ButtonDown("left"))
        if start is None:
            notes.append("drag starts at the current pointer position")
            prims.append(MoveTo(*end))
        else:
            steps = max(1, config.drag_steps)
            for i in range(1, steps + 1):
                prims.append(
                    MoveTo(
                        round(start[0] + (end[0] - start[0]) * i / steps),
                        round(start[1] + (end[1] - start[1]) * i / steps),
                    )
                )
        prims.append(ButtonUp("left"))
    elif kind is ActionType.KEY:
        combo = parse_combo(action.keys, config.platform)
        prims += [KeyDown(k) for k in combo.keys]
        prims += [KeyUp(k) for k in reversed(combo.keys)]
    elif kind is ActionType.TYPE:
        text = action.text or ""
        if not text:
            notes.append("nothing to type")
        elif all(c in TYPEABLE for c in text):
            prims += [WriteText(c) for c in _chunks(text, config.type_chunk_chars)]
        else:
            prims += [PasteText(c) for c in _chunks(text, config.paste_chunk_chars)]
    elif kind in (ActionType.SCROLL, ActionType.HSCROLL):
        if resolved.point is not None:
            prims.append(MoveTo(*resolved.point))
        clicks = wheel_clicks(float(action.pixels or 0), config)
        horizontal = kind is ActionType.HSCROLL
        step = max(1, config.scroll_chunk_clicks)
        remaining = clicks
        while remaining:
            n = int(math.copysign(min(step, abs(remaining)), remaining))
            prims.append(Scroll(n, horizontal))
            remaining -= n
        if clicks == 0:
            notes.append("scroll of 0 pixels: nothing to do")
    elif kind is ActionType.WAIT:
        seconds = float(action.time if action.time is not None else 1.0)
        if not math.isfinite(seconds) or seconds < 0:
            raise ExecutorError(f"Wait time {action.time!r} is not a non-negative number of seconds")
        if seconds > config.max_wait_s:
            notes.append(f"wait of {seconds}s shortened to {config.max_wait_s}s")
            seconds = config.max_wait_s
        whole, rest = divmod(seconds, config.wait_slice_s)
        prims += [Sleep(config.wait_slice_s)] * int(whole)
        if rest > 1e-6:
            prims.append(Sleep(rest))
    elif kind in (ActionType.TERMINATE, ActionType.ANSWER):
        notes.append("final action: nothing for the executor to do")
    else:  # pragma: no cover - the enum is closed
        raise ExecutorError(f"Unsupported action {kind}")
    return Plan(tuple(prims), tuple(notes))
