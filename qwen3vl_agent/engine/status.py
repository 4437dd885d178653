"""Engine lifecycle states and the status snapshots reported to listeners (CLI progress, UI)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum


class EngineState(StrEnum):
    STOPPED = "stopped"
    STARTING = "starting"
    READY = "ready"
    FAILED = "failed"
    RESTARTING = "restarting"


@dataclass(frozen=True)
class EngineStatus:
    """A snapshot of the managed engine: what it is doing and the last thing its log said."""

    state: EngineState
    elapsed_s: float = 0.0  # since the current start began
    last_log_line: str = ""
    pid: int | None = None
    base_url: str | None = None
    restarts: int = 0
    error: str | None = None  # why it failed, when state is FAILED
    replicas: tuple[EngineStatus, ...] = ()  # each server's own status when there are several

    def describe(self) -> str:
        """One line for a progress display."""
        text = f"engine {self.state.value}"
        if self.state in (EngineState.STARTING, EngineState.RESTARTING):
            text += f" ({self.elapsed_s:.0f} s)"
        if self.replicas:
            text += f" [{self.replicas_summary()}]"
        if self.error:
            text += f": {self.error}"
        elif self.last_log_line:
            text += f" | {self.last_log_line[:120]}"
        return text

    def replicas_summary(self) -> str:
        """'2/3 replicas ready (1 ready, 2 ready, 3 restarting)', or '' for one server."""
        if not self.replicas:
            return ""
        ready = sum(r.state == EngineState.READY for r in self.replicas)
        each = ", ".join(f"{i} {r.state.value}" for i, r in enumerate(self.replicas, 1))
        return f"{ready}/{len(self.replicas)} replicas ready ({each})"


StatusListener = Callable[[EngineStatus], None]
