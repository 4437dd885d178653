"""The rules that end or pause an agent run, as small state holders the loop consults.

Agents loop: the same action on an unchanged screen, forever. `NoProgressGuard` spots that.
`EngineOutage` remembers when the engine went away, so the run pauses once, retries, and gives
up after the configured wait. `check_time_limit` ends a run that used up its active time. None
of them emits events or writes the store: the loop does, so all of a run's side effects stay
in one place.
"""

from __future__ import annotations

import time
from typing import Any

from qwen3vl_agent.actions.model import Action
from qwen3vl_agent.agents.loop_types import LoopConfig, RunEnd


def check_time_limit(active_s: float, cfg: LoopConfig) -> None:
    """Raise `RunEnd` once the run's active time (engine waits not counted) is past the limit."""
    if active_s > cfg.wall_clock_limit_s:
        raise RunEnd("failed", "time-limit", f"stopped after the time limit of {cfg.wall_clock_limit_s:g} s")


class NoProgressGuard:
    """Executed actions and the screens they were decided on, to spot a run that goes nowhere."""

    def __init__(self, cfg: LoopConfig) -> None:
        self._cfg = cfg  # read when checking, as the loop did: `no_progress_repeats`
        self._executed: list[tuple[str, dict[str, Any]]] = []  # (screen hash, action json)

    @property
    def repeats(self) -> int:
        """This many proposals of one action on one unchanged screen mean no progress."""
        return self._cfg.no_progress_repeats

    def is_stuck(self, screen_hash: str, action_json: dict[str, Any]) -> bool:
        """True when `action_json` on this screen would repeat the last `repeats - 1` actions."""
        n = self.repeats
        same = [a for h, a in self._executed[-(n - 1) :] if h == screen_hash]
        return (
            n > 1
            and len(self._executed) >= n - 1
            and len(same) == n - 1
            and all(a == action_json for a in same)
        )

    def executed(self, screen_hash: str, action_json: dict[str, Any]) -> None:
        self._executed.append((screen_hash, action_json))

    def clear(self) -> None:
        """Forget the repeats (the user was asked; give the next attempts a fresh count)."""
        self._executed.clear()

    def message(self, action: Action) -> str:
        return f"no progress: {action.describe()} proposed {self.repeats} times on an unchanged screen"


class EngineOutage:
    """Whether the engine is away, since when, and when to stop waiting for it."""

    def __init__(self, cfg: LoopConfig) -> None:
        self._cfg = cfg  # `engine_wait_limit_s` is read when checking
        self.down = False
        self._since = 0.0

    def went_away(self) -> bool:
        """Note a failed request; True when it starts an outage (the loop announces the pause)."""
        if self.down:
            return False
        self.down, self._since = True, time.monotonic()
        return True

    def check_limit(self, exc: Exception) -> None:
        """Raise `RunEnd` when the engine has been away longer than the wait limit."""
        limit = self._cfg.engine_wait_limit_s
        if limit is not None and time.monotonic() - self._since > limit:
            raise RunEnd(
                "stopped", "engine-unavailable", f"gave up after {limit:g} s without an engine: {exc}"
            )

    def came_back(self) -> bool:
        """Note an answer; True when it ends an outage (the loop announces the resume)."""
        if not self.down:
            return False
        self.down = False
        return True
