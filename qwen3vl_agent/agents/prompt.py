"""The agent's prompt: system prompt with the `computer_use` tool, the task, and a bounded history.

Bounded on purpose: only the last `max_images` screenshots travel (the current one included);
older steps stay as one line of text each (thought and action), and only the last
`max_text_steps` of those. So the prompt size stops growing after a few steps, whatever the
run's length (measured in benchmarks/agent_step.py).

Prefix-stable on purpose, so vLLM's prefix cache (which hashes images by content) reuses the
earlier steps' KV: the system prompt, the tool and the task come first and are byte-identical at
every step; the history is appended; and the screenshot window slides in blocks of
`slide_block` steps instead of one. Inside a block, the previous step's whole prompt is the
prefix of this step's; only when the window moves (every `slide_block` steps) does the part after
the task change. With 3 images and the default block (2, the history's capacity) a prompt holds
the current screenshot and 1 or 2 earlier ones.

Layout (what Qwen3-VL's computer-use cookbook does, in chat turns):
  system:    system prompt with the tool rendered in <tools> (resources/computer_use/)
  user:      "Task: ..." (its own part) + earlier steps as text + the oldest screenshot still kept
  assistant: the model's answer at that step
  user:      next screenshot (+ feedback on the previous answer, if any)
  ...
  user:      the current screenshot (+ feedback)
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from qwen3vl_agent.inference.request import ContentPart, ImagePart, Message, PreparedImage, TextPart
from qwen3vl_agent.resources_loader import (
    action_arguments_schema,
    computer_use_system_prompt,
    computer_use_tool,
)


@dataclass
class HistoryEntry:
    """One past model answer, what came of it, and the screenshot it was made on."""

    step: int
    image: PreparedImage | None
    raw_text: str
    summary: str  # one line: thought and action, for when the screenshot is dropped
    feedback: str | None = None  # what the loop told the model about this answer


Grid = int | tuple[int, int]  # relative: 1000 (or 999); absolute mode: the sent image's (w, h)


def _wh(grid: Grid) -> tuple[int, int]:
    return (grid, grid) if isinstance(grid, int) else grid


@cache
def tool_schema(grid: Grid = 1000) -> dict[str, Any]:
    """The `computer_use` function tool, with the coordinate grid filled in."""
    return computer_use_tool(*_wh(grid))


@cache
def arguments_schema(grid: Grid = 1000) -> dict[str, Any]:
    """The strict JSON schema of one call's arguments (structured output) on the grid."""
    return action_arguments_schema(*_wh(grid))


def tool_call_schema(grid: Grid = 1000) -> dict[str, Any]:
    """A whole tool call `{"name": "computer_use", "arguments": {...}}` as a JSON schema."""
    args = dict(arguments_schema(grid))
    args.pop("$schema", None)
    return {
        "type": "object",
        "properties": {"name": {"type": "string", "const": "computer_use"}, "arguments": args},
        "required": ["name", "arguments"],
        "additionalProperties": False,
    }


@cache
def system_prompt(grid: Grid = 1000) -> str:
    return computer_use_system_prompt(*_wh(grid))


def build_messages(
    task: str,
    history: list[HistoryEntry],
    current: PreparedImage,
    *,
    max_images: int = 3,
    max_text_steps: int = 30,
    feedback: str | None = None,
    grid: Grid = 1000,
    slide_block: int | None = None,
) -> list[Message]:
    """The whole prompt for the next step (see the module docstring for the layout).

    `slide_block`: how many steps the screenshot window moves at once (1 = every step; None or
    more than the history's capacity = the whole capacity, `max_images - 1`).
    """
    max_images = max(1, max_images)
    start = window_start(len(history), max_images - 1, slide_block)
    keep = [h for h in history[start:] if h.image is not None]
    older = history[:start] + [h for h in history[start:] if h.image is None]  # no screenshot: text
    intro = f"Task: {task}"
    earlier = ""
    if older:
        shown = older[-max_text_steps:]
        lines = [h.summary + (f" [{h.feedback}]" if h.feedback else "") for h in shown]
        skipped = len(older) - len(shown)
        head = "Earlier steps (their screenshots are no longer shown):"
        if skipped:
            head += f"\n({skipped} earlier steps not listed)"
        earlier = "\n\n" + head + "\n" + "\n".join(lines)
    messages = [Message.system(system_prompt(grid))]
    pending_text: list[str] = [intro, earlier] if earlier else [intro]
    for entry in keep:
        assert entry.image is not None
        parts: list[ContentPart] = [TextPart(t) for t in pending_text]
        parts.append(ImagePart(entry.image))
        messages.append(Message("user", tuple(parts)))
        messages.append(Message.assistant(entry.raw_text))
        pending_text = [f"Feedback: {entry.feedback}"] if entry.feedback else []
    if feedback:
        pending_text.append(f"Feedback: {feedback}")
    parts = [TextPart(t) for t in pending_text]
    parts.append(ImagePart(current))
    messages.append(Message("user", tuple(parts)))
    return messages


def window_start(steps: int, capacity: int, block: int | None) -> int:
    """Index of the oldest history entry whose screenshot is still shown.

    The window starts at a multiple of `block`, so it stays put for `block` steps and then jumps;
    at most `capacity` entries are shown (fewer right after a jump).
    """
    if capacity <= 0:
        return steps
    block = capacity if block is None else max(1, min(block, capacity))
    over = steps - capacity
    return 0 if over <= 0 else -(-over // block) * block


def summarize(step: int, thought: str | None, action_text: str, outcome: str | None = None) -> str:
    """The one-line record of a step kept in the prompt after its screenshot is dropped."""
    line = f"Step {step}: "
    if thought:
        t = " ".join(thought.split())
        line += (t[:200] + "…" if len(t) > 200 else t) + " -> "
    line += action_text
    if outcome and outcome not in ("executed",):
        line += f" ({outcome})"
    return line
