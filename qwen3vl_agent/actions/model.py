"""Typed GUI actions of Qwen3-VL's `computer_use` tool: the one source of truth.

The schema under `resources/`, the parser, the coordinate mapper, the executor and the
trajectory store all use these values. Coordinates here are in MODEL space (0..1000 by
default); `coordinates.py` maps them to screen points.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any


class ActionType(StrEnum):
    KEY = "key"
    TYPE = "type"
    MOUSE_MOVE = "mouse_move"
    LEFT_CLICK = "left_click"
    LEFT_CLICK_DRAG = "left_click_drag"
    RIGHT_CLICK = "right_click"
    MIDDLE_CLICK = "middle_click"
    DOUBLE_CLICK = "double_click"
    TRIPLE_CLICK = "triple_click"
    SCROLL = "scroll"
    HSCROLL = "hscroll"
    WAIT = "wait"
    TERMINATE = "terminate"
    ANSWER = "answer"


POINTER_ACTIONS = frozenset(
    {
        ActionType.MOUSE_MOVE,
        ActionType.LEFT_CLICK,
        ActionType.LEFT_CLICK_DRAG,
        ActionType.RIGHT_CLICK,
        ActionType.MIDDLE_CLICK,
        ActionType.DOUBLE_CLICK,
        ActionType.TRIPLE_CLICK,
    }
)
CLICK_ACTIONS = POINTER_ACTIONS - {ActionType.MOUSE_MOVE, ActionType.LEFT_CLICK_DRAG}
FINAL_ACTIONS = frozenset({ActionType.TERMINATE, ActionType.ANSWER})


@dataclass(frozen=True)
class Action:
    """One `computer_use` call, validated. Coordinates are in model space."""

    action: ActionType
    coordinate: tuple[float, float] | None = None
    start_coordinate: tuple[float, float] | None = None  # drag start; None = current pointer
    keys: tuple[str, ...] = ()
    text: str | None = None
    pixels: int | None = None
    time: float | None = None
    status: str | None = None  # terminate: "success" | "failure"

    @property
    def is_final(self) -> bool:
        return self.action in FINAL_ACTIONS

    def to_arguments(self) -> dict[str, Any]:
        """The tool-call `arguments` object, as the model would write it."""
        args: dict[str, Any] = {"action": self.action.value}
        for name, value in asdict(self).items():
            if name == "action" or value is None or value == ():
                continue
            args[name] = list(value) if isinstance(value, tuple) else value
        return args

    def to_json(self) -> dict[str, Any]:
        return self.to_arguments()

    @staticmethod
    def from_json(data: dict[str, Any]) -> Action:
        """Rebuild a stored action (trusted data written by `to_json`)."""
        return Action(
            action=ActionType(data["action"]),
            coordinate=tuple(data["coordinate"]) if data.get("coordinate") is not None else None,
            start_coordinate=tuple(data["start_coordinate"])
            if data.get("start_coordinate") is not None
            else None,
            keys=tuple(data.get("keys") or ()),
            text=data.get("text"),
            pixels=data.get("pixels"),
            time=data.get("time"),
            status=data.get("status"),
        )

    def describe(self) -> str:
        """A short human description (step lists, confirmations, logs)."""
        a = self.action
        if a is ActionType.KEY:
            return f"press {'+'.join(self.keys)}"
        if a is ActionType.TYPE:
            return f"type {self.text!r}"
        if a in (ActionType.SCROLL, ActionType.HSCROLL):
            where = f" at {self.coordinate}" if self.coordinate else ""
            return f"{a.value} {self.pixels}{where}"
        if a is ActionType.WAIT:
            return f"wait {self.time}s"
        if a is ActionType.TERMINATE:
            return f"terminate ({self.status})"
        if a is ActionType.ANSWER:
            return f"answer {self.text!r}"
        if a is ActionType.LEFT_CLICK_DRAG:
            return f"drag {self.start_coordinate or 'pointer'} -> {self.coordinate}"
        return f"{a.value} at {self.coordinate}"


@dataclass(frozen=True)
class ResolvedAction:
    """An action with its model-space coordinates mapped to input-device points (pyautogui's space).

    Produced by `screen.coordinates`; consumed by the executor and stored in trajectories.
    """

    action: Action
    point: tuple[int, int] | None = None
    start_point: tuple[int, int] | None = None
