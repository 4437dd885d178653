"""What the agent loop needs from the world, as small protocols.

The loop does not care how a screen is captured or how an action reaches the mouse; it asks an
`Observer` for an `Observation`, a `ModelClient` for an answer, a `Mapper` to turn model-space
actions into device points, and an `Actor` to execute them. `wiring.py` builds these from the
real capture, coordinate, executor and inference modules; tests and benchmarks use the same.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from qwen3vl_agent.actions.model import Action, ResolvedAction

# One stop exception from the executor up (it carries the stop `reason`); re-exported for the loop.
from qwen3vl_agent.executor.errors import ExecutionStopped as ExecutionStopped
from qwen3vl_agent.inference.request import DeltaCallback, InferenceRequest, InferenceResult, PreparedImage

if TYPE_CHECKING:
    from qwen3vl_agent.screen.model_input import ModelInput


@dataclass(frozen=True)
class Observation:
    """One look at the screen: the image as sent to the model, and what is needed to act on it."""

    image: PreparedImage
    geometry: ModelInput | None  # passed back to the Mapper unchanged; None: nothing to map onto
    screen_hash: str  # exact content hash of the captured pixels (masks applied)
    capture_s: float = 0.0
    prepare_s: float = 0.0
    geometry_json: dict[str, Any] = field(default_factory=dict)  # for the trajectory
    source: Any = None  # the full-resolution capture (a PIL image), when the observer keeps it


class Observer(Protocol):
    async def observe(self) -> Observation:
        """Capture the chosen monitor/window with privacy masks applied, ready for the model."""
        ...


class ModelClient(Protocol):
    async def submit(
        self, request: InferenceRequest, on_delta: DeltaCallback | None = None
    ) -> InferenceResult:
        """Run one request through the queue; raise `EngineError`s."""
        ...


class Mapper(Protocol):
    def resolve(self, action: Action, geometry: ModelInput | None) -> ResolvedAction:
        """Model space -> input-device points; raise `ActionRefused` for what cannot be mapped."""
        ...


class Actor(Protocol):
    # set by the loop: "now asking the user" (resolved action, plan steps, risk reasons)
    on_confirmation: Callable[..., None] | None
    # what the last `execute` did in detail (JSON for the trajectory), None when it did nothing
    last_details: dict[str, Any] | None

    async def execute(self, resolved: ResolvedAction, observation: Observation) -> str:
        """Execute (or report, in dry-run) one action; return "executed", "dry-run" or "declined".

        `observation` is the screen the action was decided on (for risk checks near the target).

        Raise `ActionRefused` for an action the executor will not do (`PolicyRefused` for one the
        hard policy refuses: denied key combo, a cap, outside the scope), `ScopeLost` when the
        scoped window is gone, `ExecutionStopped` when the user's stop (hotkey, fail-safe) interrupted it.
        """
        ...

    def stop(self, reason: str = "user") -> None:
        """Interrupt the action in progress (thread-safe); `reason` as for `RunControl.stop`."""
        ...


class ActionRefused(Exception):
    """The action cannot be executed; the message goes back to the model as feedback."""


class PolicyRefused(ActionRefused):
    """The hard policy refused the action in every mode (`rule`: see executor/policy.py)."""

    def __init__(self, message: str, rule: str) -> None:
        super().__init__(message)
        self.rule = rule


class ScopeLost(Exception):
    """The window the run is scoped to closed, went behind another or changed title: pause."""
