"""Parse what a Qwen3-VL model really writes into typed `Action`s, or refuse precisely.

The expected shape is an optional "Thought: ... Action: ..." preamble, then a
`<tool_call>{"name": "computer_use", "arguments": {...}}</tool_call>` block. Models also
write code fences, single-quoted Python dicts, arguments as a JSON string, a missing closing
tag or trailing chatter: all accepted. Anything that could make the executor do something the
model did not mean is refused with an `ActionParseError` whose message is written to be shown
back to the model:

- ONE action per answer: the first tool call is the action; further calls are returned in
  `dropped` (they were decided on a screen the first action changes).
- Only a call inside the format's own tags is an action (the engine client writes a server's
  native tool calls in the same tags). A JSON object quoted in free text ("the page says
  {...}") is not. The one exception is an answer that IS one JSON object and nothing else, which
  is what structured output produces: accepted when `ParseOptions.bare_json` is on.
- Size and nesting are bounded BEFORE any JSON/literal parser runs (deep nesting would raise
  RecursionError inside them).
"""

from __future__ import annotations

import ast
import json
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from qwen3vl_agent.actions.model import POINTER_ACTIONS, Action, ActionType
from qwen3vl_agent.config import ScreenSettings
from qwen3vl_agent.errors import ActionParseError

TOOL_NAME = "computer_use"
_OPEN = re.compile(r"<\s*tool_call\s*>", re.IGNORECASE)
_CLOSE = re.compile(r"<\s*/\s*tool_call\s*>", re.IGNORECASE)
_FENCE = re.compile(r"```[a-zA-Z0-9_-]*")
_THINK = re.compile(r"<think>(.*?)(?:</think>|$)", re.DOTALL | re.IGNORECASE)
_LEADING_THINK = re.compile(r"^\s*<think>(.*?)</think>", re.DOTALL | re.IGNORECASE)
_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_PAIR = re.compile(rf"^\s*[\[(]?\s*({_NUMBER})\s*[, ]\s*({_NUMBER})\s*[\])]?\s*$")
_VALID_ACTIONS = ", ".join(a.value for a in ActionType)
_SCROLLS = (ActionType.SCROLL, ActionType.HSCROLL)
# Bounds checked before any recursive parser runs. An arguments object nests 3 levels
# ({"arguments": {"coordinate": [..]}}); a type action of the policy's 2,000 (and far more)
# characters fits in a call with room to spare, so the policy, not the parser, refuses long text.
MAX_NESTING = 8
MAX_CALL_CHARS = 200_000
MAX_ANSWER_CHARS = 400_000
MAX_DROPPED_CHARS = 500


@dataclass(frozen=True)
class ParseOptions:
    """Coordinate range of the model's grid and what to do with values beyond it."""

    max_x: float = 1000.0
    max_y: float = 1000.0
    out_of_range: Literal["clamp", "reject"] = "clamp"
    clamp_margin: float = 0.05  # clamp mode still refuses values further out than this fraction
    bare_json: bool = True  # an answer that is ONE JSON object and nothing else (structured output)

    @classmethod
    def for_grid(
        cls,
        mode: Literal["relative", "absolute"] = "relative",
        scale: int = 1000,
        image_size: tuple[int, int] | None = None,
        out_of_range: Literal["clamp", "reject"] = "clamp",
        clamp_margin: float = 0.05,
    ) -> ParseOptions:
        """Options for relative mode (0..scale) or absolute mode (pixels of the resized image)."""
        if mode == "absolute":
            if image_size is None:
                raise ValueError("absolute coordinate mode needs the size of the image the model saw")
            return cls(float(image_size[0]), float(image_size[1]), out_of_range, clamp_margin)
        return cls(float(scale), float(scale), out_of_range, clamp_margin)

    @classmethod
    def from_settings(cls, screen: ScreenSettings, image_size: tuple[int, int] | None = None) -> ParseOptions:
        """From `settings.screen`; `image_size` (the resized image sent) is needed in absolute mode."""
        return cls.for_grid(
            screen.coordinate_mode,
            screen.coordinate_scale,
            image_size,
            screen.out_of_range,
            screen.clamp_margin,
        )


@dataclass(frozen=True)
class ParsedResponse:
    """A model turn: its reasoning text, the actions it asked for (in order) and the raw text."""

    thought: str | None
    actions: list[Action]
    raw: str
    action_text: str | None = None  # the "Action: ..." line, when the model wrote one
    warnings: list[str] = field(default_factory=list)  # what was tolerated (clamped values, ...)
    dropped: list[DroppedCall] = field(default_factory=list)  # tool calls after the first


@dataclass(frozen=True)
class DroppedCall:
    """A tool call after the first one of an answer: never executed, kept for the record."""

    raw: str  # its text (cut to MAX_DROPPED_CHARS)
    action: Action | None  # what it asked for, when it parses
    error: str  # why it was dropped


def parse_response(text: str, options: ParseOptions | None = None) -> ParsedResponse:
    """Parse a full model answer; raises `ActionParseError` when no action can be trusted."""
    opts = options or ParseOptions()
    if not isinstance(text, str) or not text.strip():
        raise ActionParseError("The answer is empty: reply with one <tool_call> block for the next action.")
    if len(text) > MAX_ANSWER_CHARS:
        raise ActionParseError(
            f"The answer is {len(text)} characters long (limit {MAX_ANSWER_CHARS}): "
            "reply with one short <tool_call> block."
        )
    preamble, payloads = _split_tool_calls(text, opts.bare_json)
    thought, action_text = _split_preamble(preamble)
    warnings: list[str] = []
    where = f"tool call 1 of {len(payloads)}: " if len(payloads) > 1 else ""
    try:
        action = _build_action(_arguments_of(_load_object(payloads[0])), opts, warnings)
    except ActionParseError as exc:
        raise ActionParseError(where + exc.message, exc.hint) from None
    dropped = [_dropped(p, opts) for p in payloads[1:]]
    return ParsedResponse(thought, [action], text, action_text, warnings, dropped)


def _dropped(payload: str, opts: ParseOptions) -> DroppedCall:
    why = "dropped: only the first tool call of an answer is executed"
    raw = payload if len(payload) <= MAX_DROPPED_CHARS else payload[:MAX_DROPPED_CHARS] + "..."
    try:
        action: Action | None = _build_action(_arguments_of(_load_object(payload)), opts, [])
    except ActionParseError as exc:
        action, why = None, f"{why} (it was not valid either: {exc.message})"
    return DroppedCall(raw, action, why)


def parse_arguments(arguments: Mapping[str, Any] | str, options: ParseOptions | None = None) -> Action:
    """Validate one `arguments` object (or its JSON text, as structured output returns it)."""
    args = _load_object(arguments) if isinstance(arguments, str) else arguments
    if not isinstance(args, Mapping):
        raise ActionParseError('The arguments must be a JSON object such as {"action": "left_click", ...}.')
    return _build_action(args, options or ParseOptions(), [])


# ---------------------------------------------------------------------------- finding the calls


def _split_tool_calls(text: str, bare_json: bool = True) -> tuple[str, list[str]]:
    """The text before the first call, and the raw payload of each call in order.

    Each payload is the quote-aware balanced `{...}` after an opening tag, so a "<tool_call>"
    or "}" inside a typed string cannot cut a call short.
    """
    body = _strip_think(text)
    whole = _whole_object(body) if bare_json else None
    if whole is not None:  # structured output: the answer is one object and nothing else
        return "", [whole]
    payloads: list[str] = []
    preamble: str | None = None
    pos = 0
    while (m := _OPEN.search(text, pos)) is not None:
        if preamble is None:
            preamble = text[: m.start()]
        brace = text.find("{", m.end())
        next_open = _OPEN.search(text, m.end())
        if brace < 0 or (next_open is not None and next_open.start() < brace):
            close = _CLOSE.search(text, m.end())
            stop = min(
                x
                for x in (
                    close.start() if close else len(text),
                    next_open.start() if next_open else len(text),
                )
            )
            payloads.append(text[m.end() : stop])  # no object: the loader says so
            pos = stop if stop > m.end() else m.end()
            continue
        obj = _balanced_object(text, brace)
        if obj is None:
            payloads.append(text[brace:])  # cut off: the loader says so
            break
        payloads.append(obj)
        pos = brace + len(obj)
    if payloads:
        return preamble or "", payloads
    # No tags: JSON quoted in free text is NOT an action (it may come from the screen)
    usage = '<tool_call>\n{"name": "computer_use", "arguments": {"action": ...}}\n</tool_call>'
    if "{" in body:
        raise ActionParseError(
            "No tool call found: JSON outside <tool_call> tags is not an action. "
            f"Reply with exactly one block: {usage}"
        )
    raise ActionParseError(f"No tool call found. Reply with exactly one block: {usage}")


def _whole_object(body: str) -> str | None:
    """The answer's one JSON object when it is nothing else (an optional code fence around it)."""
    inner = body.strip()
    fenced = re.fullmatch(r"```[a-zA-Z0-9_-]*\s*(.*?)\s*```", inner, re.DOTALL)
    if fenced:
        inner = fenced.group(1).strip()
    if not inner.startswith("{"):
        return None
    obj = _balanced_object(inner, 0)
    if obj is None:
        return inner  # cut off: the loader says so precisely
    return obj if obj == inner else None


def _strip_think(text: str) -> str:
    """Drop a leading, closed <think>...</think> block (thinking models); "<think>" elsewhere is text."""
    return _LEADING_THINK.sub(" ", text, count=1)


def _split_preamble(preamble: str) -> tuple[str | None, str | None]:
    """(thought, action line) from the text before the first tool call."""
    thinks = [t.strip() for t in _THINK.findall(preamble) if t.strip()]
    rest = _FENCE.sub("", _THINK.sub(" ", preamble)).strip()
    action_text = None
    m = re.search(r"(?im)^\s*\**action\**\s*:\s*(.*)$", rest)
    if m:
        action_text = rest[m.end(1) - len(m.group(1)) :].strip() or None
        rest = rest[: m.start()].strip()
    rest = re.sub(r"(?i)^\s*\**thought\**\s*:\s*", "", rest).strip()
    parts = [*thinks, rest] if rest else thinks
    return ("\n".join(parts) or None), action_text


# ---------------------------------------------------------------------------- JSON-ish loading


def _balanced_object(text: str, start: int) -> str | None:
    """The `{...}` starting at `start`, honouring quoted strings; None when it never closes."""
    depth = 0
    for i, ch in _outside_quotes(text, start):
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return text[start : i + 1]
    return None


def _outside_quotes(text: str, start: int = 0) -> Iterator[tuple[int, str]]:
    """(index, character) of each character from `start` that is not part of a quoted string
    (quotes and backslash escapes inside them honoured)."""
    quote: str | None = None
    escaped = False
    for i in range(start, len(text)):
        ch = text[i]
        if quote:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
        else:
            yield i, ch


def _check_bounds(candidate: str) -> None:
    """Refuse what is too big or too deeply nested BEFORE a recursive parser sees it."""
    if len(candidate) > MAX_CALL_CHARS:
        raise ActionParseError(
            f"The tool call is {len(candidate)} characters long (limit {MAX_CALL_CHARS}). "
            "Send one small action."
        )
    depth = deepest = 0
    for _, ch in _outside_quotes(candidate):
        if ch in "{[(":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "}])":
            depth -= 1
    if deepest > MAX_NESTING:
        raise ActionParseError(
            f"The tool call nests {deepest} levels of brackets (limit {MAX_NESTING}): "
            'write {"name": "computer_use", "arguments": {"action": ...}} and nothing deeper.'
        )


def _parse_literal(candidate: str) -> Any:
    """JSON first; then Python literals (single quotes, True/False/None). Raises ValueError."""
    _check_bounds(candidate)
    try:
        return json.loads(candidate, strict=False)  # raw control characters in strings happen
    except json.JSONDecodeError:
        pass
    try:
        return ast.literal_eval(candidate)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        pass
    # JSON keywords inside an otherwise Python-style dict
    fixed = re.sub(r"\btrue\b", "True", candidate)
    fixed = re.sub(r"\bfalse\b", "False", fixed)
    fixed = re.sub(r"\bnull\b", "None", fixed)
    try:
        return ast.literal_eval(fixed)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as exc:
        raise ValueError(str(exc)) from exc


def _load_object(payload: str | Any) -> Any:
    if not isinstance(payload, str):
        return payload
    text = _FENCE.sub("", payload)
    start = text.find("{")
    if start < 0:
        raise ActionParseError(
            "The tool call holds no JSON object. Write "
            '{"name": "computer_use", "arguments": {"action": ...}} inside <tool_call></tool_call>.'
        )
    candidate = _balanced_object(text, start)
    if candidate is None:
        raise ActionParseError("The tool call's JSON is cut off (a '}' is missing). Write the whole object.")
    try:
        return _parse_literal(candidate)
    except ValueError:
        raise ActionParseError(
            f"The tool call is not valid JSON: {_short(candidate)}. Use double quotes and plain numbers."
        ) from None


def _arguments_of(call: Any) -> Mapping[str, Any]:
    if not isinstance(call, dict):
        raise ActionParseError('The tool call must be a JSON object with "name" and "arguments".')
    if "name" not in call and "action" in call:
        return call  # the arguments object itself
    name = call.get("name")
    if name != TOOL_NAME:
        shown = "no name" if name is None else f"the unknown tool {name!r}"
        raise ActionParseError(f'The tool call names {shown}; the only tool is "{TOOL_NAME}".')
    args = call.get("arguments", call.get("parameters"))
    if isinstance(args, str):
        try:
            args = _parse_literal(args.strip() or "{}")
        except ValueError:
            raise ActionParseError(
                f'"arguments" is a string that is not a JSON object: {_short(args)}.'
            ) from None
    if not isinstance(args, dict):
        raise ActionParseError(
            'The tool call needs "arguments": an object such as {"action": "left_click", ...}.'
        )
    return args


# ---------------------------------------------------------------------------- validation


def _build_action(args: Mapping[str, Any], opts: ParseOptions, warnings: list[str]) -> Action:
    raw_action = args.get("action")
    if not isinstance(raw_action, str) or not raw_action.strip():
        raise ActionParseError(f'The arguments need "action", one of: {_VALID_ACTIONS}.')
    try:
        kind = ActionType(raw_action.strip().lower())
    except ValueError:
        raise ActionParseError(f"Unknown action {raw_action!r}; use one of: {_VALID_ACTIONS}.") from None

    if kind is ActionType.KEY:
        if args.get("text") is not None:
            raise ActionParseError('Action "key" takes "keys" (a list such as ["ctrl", "c"]), not "text".')
        return Action(kind, keys=_keys(args.get("keys")))
    if kind in (ActionType.TYPE, ActionType.ANSWER):
        return Action(kind, text=_text(kind, args.get("text")))
    if kind is ActionType.WAIT:
        return Action(kind, time=_seconds(args.get("time")))
    if kind is ActionType.TERMINATE:
        status = args.get("status")
        if not isinstance(status, str) or status.strip().lower() not in ("success", "failure"):
            raise ActionParseError(
                f'Action "terminate" needs "status": "success" or "failure" (got {status!r}).'
            )
        return Action(kind, status=status.strip().lower())
    if kind in _SCROLLS:
        pixels = _number(kind, "pixels", args.get("pixels"), required=True)
        coord = args.get("coordinate")
        point = None if coord is None else _coordinate(kind, "coordinate", coord, opts, warnings)
        return Action(kind, coordinate=point, pixels=round(pixels))
    # pointer actions
    assert kind in POINTER_ACTIONS
    if args.get("coordinate") is None:
        raise ActionParseError(
            f'Action "{kind.value}" needs "coordinate": [x, y] with 0 <= x <= {_fmt(opts.max_x)} '
            f"and 0 <= y <= {_fmt(opts.max_y)}."
        )
    point = _coordinate(kind, "coordinate", args["coordinate"], opts, warnings)
    start = None
    if kind is ActionType.LEFT_CLICK_DRAG and args.get("start_coordinate") is not None:
        start = _coordinate(kind, "start_coordinate", args["start_coordinate"], opts, warnings)
    return Action(kind, coordinate=point, start_coordinate=start)


def _keys(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value] if len(value) == 1 or "+" not in value else value.split("+")
    if not isinstance(value, list | tuple) or not value:
        raise ActionParseError(
            'Action "key" needs "keys": a non-empty list of key names such as ["ctrl", "c"].'
        )
    keys = []
    for k in value:
        if not isinstance(k, str) or not k.strip():
            raise ActionParseError(f'Every entry of "keys" must be a key name such as "enter"; got {k!r}.')
        name = k.strip()
        keys.append(name.lower() if len(name) > 1 else name)  # "Enter" -> "enter"; "A" stays
    return tuple(keys)


def _text(kind: ActionType, value: Any) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        value = str(value)
    if not isinstance(value, str) or value == "":
        raise ActionParseError(f'Action "{kind.value}" needs "text": a non-empty string.')
    return value


def _seconds(value: Any) -> float | None:
    if value is None:
        return None
    seconds = _number(ActionType.WAIT, "time", value, required=True)
    if seconds < 0:
        raise ActionParseError(f'"time" must be a number of seconds >= 0 (got {value!r}).')
    return seconds


def _number(kind: ActionType, name: str, value: Any, *, required: bool) -> float:
    if value is None and required:
        raise ActionParseError(f'Action "{kind.value}" needs "{name}": a number.')
    if isinstance(value, bool):
        raise ActionParseError(f'"{name}" must be a number, not {value!r}.')
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise ActionParseError(f'"{name}" must be a number (got {_short(value)}).') from None
    if not isinstance(value, int | float):
        raise ActionParseError(f'"{name}" must be a number (got {_short(value)}).')
    if not math.isfinite(value):
        raise ActionParseError(f'"{name}" must be a finite number (got {value!r}).')
    return float(value)


def _coordinate(
    kind: ActionType, name: str, value: Any, opts: ParseOptions, warnings: list[str]
) -> tuple[float, float]:
    usage = f'"{name}" must be [x, y] with 0 <= x <= {_fmt(opts.max_x)} and 0 <= y <= {_fmt(opts.max_y)}'
    if isinstance(value, str):
        m = _PAIR.match(value)
        if not m:
            raise ActionParseError(f"{usage} (got {_short(value)}).")
        value = [m.group(1), m.group(2)]
    if isinstance(value, Mapping) and set(value) >= {"x", "y"}:
        value = [value["x"], value["y"]]
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise ActionParseError(f"{usage} (got {_short(value)}).")
    xy = []
    for axis, v, limit in (("x", value[0], opts.max_x), ("y", value[1], opts.max_y)):
        if isinstance(v, bool) or not isinstance(v, int | float | str):
            raise ActionParseError(f"{usage}; {axis} is not a number ({_short(v)}).")
        try:
            f = float(v)
        except ValueError:
            raise ActionParseError(f"{usage}; {axis} is not a number ({_short(v)}).") from None
        if not math.isfinite(f):
            raise ActionParseError(f"{usage}; {axis} is {v!r}.")
        if f < 0 or f > limit:
            if (
                opts.out_of_range == "reject"
                or f < -opts.clamp_margin * limit
                or f > limit * (1 + opts.clamp_margin)
            ):
                raise ActionParseError(f"{usage}; {axis}={_fmt(f)} is outside the screen.")
            clamped = min(max(f, 0.0), limit)
            warnings.append(f"{kind.value}: {name} {axis}={_fmt(f)} clamped to {_fmt(clamped)}")
            f = clamped
        xy.append(f)
    return (xy[0], xy[1])


def _fmt(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else f"{v:g}"


def _short(value: Any, limit: int = 80) -> str:
    s = value if isinstance(value, str) else repr(value)
    return repr(s if len(s) <= limit else s[:limit] + "...")
