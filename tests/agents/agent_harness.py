"""Shared set-up for agent-loop tests: the product's own parts, pointed at the policy server."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from qwen3vl_agent.agents import events as ev
from qwen3vl_agent.agents.loop import AgentLoop, RunResult
from qwen3vl_agent.agents.wiring import open_store
from qwen3vl_agent.config import Settings
from qwen3vl_agent.storage.trajectories import TrajectoryStore
from tests.support.agent_runs import agent_session
from tests.support.policy_server import PolicyServer


def policy_settings(server: PolicyServer, mode: str = "auto", **sections: Any) -> Settings:
    base: dict[str, Any] = server.settings_overrides()
    base["engine"]["probe_interval_s"] = 0.3
    safety = {"mode": mode, "step_limit": 12, **sections.pop("safety", {})}
    agent = {"engine_retry_s": 0.3, **sections.pop("agent", {})}
    return Settings(**base, safety=safety, agent=agent, cache={"enabled": False}, **sections)


@dataclass
class Harness:
    settings: Settings
    monitor: int
    confirm: Callable[..., Any] | None = None
    events: list[Any] = field(default_factory=list)
    listeners: list[Callable[[Any], None]] = field(default_factory=list)
    store: TrajectoryStore = field(default_factory=open_store)
    loop: AgentLoop | None = None
    window: str | None = None  # scope the run to this window instead of the monitor
    region: tuple[int, int, int, int] | None = None  # ... or to this desktop rectangle

    def on_event(self, event: Any) -> None:
        self.events.append(event)
        for listener in self.listeners:
            listener(event)

    def of(self, kind: type) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]

    async def run(self, task: str, **config: Any) -> RunResult:
        async with agent_session(
            self.settings, self.monitor, self.store, self.confirm, self.window, self.region
        ) as session:
            self.loop = session.loop(task, on_event=self.on_event, **config)
            return await self.loop.run()

    def finished(self) -> ev.RunFinished:
        [fin] = self.of(ev.RunFinished)
        return fin
