"""What the loop sends for one step, and the history it keeps for the next ones.

`step_request` turns the task, the bounded history and the current screenshot into the agent's
`InferenceRequest` (greedy, never cached: the screen is the state); `remember` adds a handled
answer to that history, one entry per answer even when it held several actions.
"""

from __future__ import annotations

from qwen3vl_agent.agents.loop_types import LoopConfig
from qwen3vl_agent.agents.prompt import Grid, HistoryEntry, build_messages, tool_call_schema
from qwen3vl_agent.inference.request import (
    CachePolicy,
    InferenceRequest,
    PreparedImage,
    Priority,
    SamplingParams,
    TaskKind,
)


def step_grid(image: PreparedImage, cfg: LoopConfig) -> Grid:
    """The coordinate grid the model is told about: the fixed grid, or the sent image's pixels."""
    return (image.width, image.height) if cfg.coordinate_mode == "absolute" else cfg.grid


def step_request(
    task: str, history: list[HistoryEntry], image: PreparedImage, cfg: LoopConfig
) -> InferenceRequest:
    """The request for the next step (prompt layout: `agents/prompt.py`)."""
    grid = step_grid(image, cfg)
    messages = build_messages(
        task,
        history,
        image,
        max_images=cfg.max_images,
        max_text_steps=cfg.max_text_steps,
        grid=grid,
        slide_block=cfg.slide_block,
    )
    return InferenceRequest(
        messages=messages,
        kind=TaskKind.AGENT,
        priority=Priority.AGENT,
        sampling=SamplingParams.greedy(cfg.max_tokens),
        json_schema=tool_call_schema(grid) if cfg.structured_output else None,
        cache=CachePolicy(use=False),
    )


def remember(history: list[HistoryEntry], entry: HistoryEntry) -> None:
    """Add `entry`; a later action of the same answer joins that answer's entry instead."""
    if history and history[-1].step == entry.step:
        last = history[-1]
        last.summary += "; " + entry.summary.split(": ", 1)[-1]
        last.feedback = entry.feedback or last.feedback
        return
    history.append(entry)
