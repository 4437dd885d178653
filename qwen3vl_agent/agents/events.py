"""Typed events of an agent run, consumed by the UI (through its Qt bridge) and the CLI.

Events are emitted on the thread running the loop's event loop, in order. A callback must be
quick and must not raise (an exception in it is logged and ignored, never stops the run).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from qwen3vl_agent.actions.model import Action, ResolvedAction


@dataclass(frozen=True)
class RunStarted:
    run_id: int
    task: str
    mode: str


@dataclass(frozen=True)
class StepStarted:
    run_id: int
    step: int


@dataclass(frozen=True)
class ModelDelta:
    """Streaming text of the model's answer (for a live view)."""

    run_id: int
    step: int
    text: str


@dataclass(frozen=True)
class ActionProposed:
    run_id: int
    step: int
    action: Action
    thought: str | None
    resolved: ResolvedAction | None


@dataclass(frozen=True)
class AwaitingConfirmation:
    """The executor waits for the user to approve this action (confirm mode)."""

    run_id: int
    step: int
    resolved: ResolvedAction
    steps: tuple[str, ...] = ()  # what will happen, every character and key visible (plain text)
    risks: tuple[str, ...] = ()  # why it may be risky


@dataclass(frozen=True)
class ActionExecuted:
    run_id: int
    step: int
    resolved: ResolvedAction
    outcome: str  # "executed" | "dry-run" | "declined"
    timings: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class RunPaused:
    """The run waits: `reason` is "user", "no-progress" or "engine-unavailable"."""

    run_id: int
    reason: str
    message: str


@dataclass(frozen=True)
class RunResumed:
    run_id: int


@dataclass(frozen=True)
class RunError:
    """Something went wrong in a step; `fatal` False means the run goes on (feedback, retry)."""

    run_id: int
    step: int
    message: str
    fatal: bool = False


@dataclass(frozen=True)
class RunFinished:
    run_id: int
    status: str  # finished | failed | stopped | needs-attention
    outcome: str  # success | failure | answer | step-limit | time-limit | stopped | no-progress | ...
    answer: str | None
    message: str
    steps: int


AgentEvent = (
    RunStarted
    | StepStarted
    | ModelDelta
    | ActionProposed
    | AwaitingConfirmation
    | ActionExecuted
    | RunPaused
    | RunResumed
    | RunError
    | RunFinished
)
EventCallback = Callable[[AgentEvent], None]
