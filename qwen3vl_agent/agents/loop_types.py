"""The agent loop's data: its settings, how a run ends, and the model answer a step handles.

Kept apart from `loop.py` so that wiring, batches and replays can name `LoopConfig` and
`RunResult` without the loop's machinery, and so that the loop's helpers (`step_prompt`,
`loop_guards`) can raise `RunEnd` without importing the loop.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from qwen3vl_agent.agents.ports import Observation
from qwen3vl_agent.engine.retry_policy import RetryPolicy


class Parsed(Protocol):
    """Read-only, so a frozen parse result (`ParsedResponse`) is one."""

    @property
    def thought(self) -> str | None: ...

    @property
    def actions(self) -> Any: ...  # a sequence of Action


Parser = Callable[[str, Any], Parsed]  # (model text, the Observation it answered) -> actions


@dataclass
class LoopConfig:
    mode: str = "confirm"  # recorded with the run; the Actor enforces it
    step_limit: int = 30
    wall_clock_limit_s: float = 600.0
    no_progress_repeats: int = 3
    max_feedback: int = 3  # consecutive unusable answers / refused actions before giving up
    max_refusals: int = 3  # hard-policy refusals in a row before the run pauses (or ends: on_stuck)
    max_images: int = 3  # screenshots in the prompt, the current one included
    max_text_steps: int = 30  # older steps kept as one line of text each
    slide_block: int | None = None  # steps the screenshot window moves at once (None: max_images - 1)
    max_tokens: int = 512
    grid: int = 1000
    coordinate_mode: str = "relative"  # "absolute": the grid is the sent image's pixels (Qwen2.5-VL)
    structured_output: bool = False  # force the tool-call JSON schema (for models that need it)
    engine_retry_s: float = 2.0
    engine_wait_limit_s: float | None = None  # give up (status "stopped") after this long without engine
    answer_deadline_s: float | None = 90.0  # one step's answer; a silent server fails the step
    retry: RetryPolicy = field(default_factory=RetryPolicy)  # tries at a step's answer in all
    # no progress, or an engine that keeps failing: wait for the user, or end the run
    on_stuck: Literal["wait", "stop"] = "wait"
    # The model hands off (terminate with failure, or an answer that asks): wait for the user to act
    # and resume ("wait"), end the run as needs-attention "waiting for you" (a batch row: "end"), or
    # take it at its word ("off": the run failed / was answered).
    on_handoff: Literal["wait", "end", "off"] = "off"
    target: dict[str, Any] = field(default_factory=dict)  # what is captured (for the record)


@dataclass(frozen=True)
class RunResult:
    run_id: int
    status: str  # finished | failed | stopped | needs-attention
    outcome: str
    answer: str | None
    message: str
    steps: int


class RunEnd(Exception):
    """Ends the run from anywhere inside a step; `AgentLoop.run` records it as the result."""

    def __init__(self, status: str, outcome: str, message: str, answer: str | None = None) -> None:
        super().__init__(message)
        self.status, self.outcome, self.message, self.answer = status, outcome, message, answer


@dataclass(frozen=True)
class StepAnswer:
    """One model answer being handled: the step, the screen it answered, its text and thought."""

    step: int
    obs: Observation
    raw: str
    thought: str | None
    note: str | None = None  # told to the model with this answer's outcome (dropped tool calls)
