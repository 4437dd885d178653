"""Shared set-up for agent-loop tests: the product's own parts, pointed at the policy server."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from qwen3vl_agent.agents import events as ev
from qwen3vl_agent.agents.loop import AgentLoop, RunResult
from qwen3vl_agent.agents.wiring import AgentKit, Target, open_store
from qwen3vl_agent.config import Settings
from qwen3vl_agent.runtime import build_runtime
from qwen3vl_agent.storage.trajectories import TrajectoryStore
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

    def on_event(self, event: Any) -> None:
        self.events.append(event)
        for listener in self.listeners:
            listener(event)

    def of(self, kind: type) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]

    async def run(self, task: str, **config: Any) -> RunResult:
        kit = AgentKit(self.settings, Target(monitor=self.monitor), self.settings.safety.mode, self.confirm)
        runtime = await build_runtime(self.settings)
        try:
            self.loop = AgentLoop(
                task,
                observer=kit.observer,
                model=runtime.service,
                mapper=kit.mapper,
                actor=kit.actor,
                store=self.store,
                parse=kit.parse,
                config=kit.loop_config(**{"on_stuck": "stop", **config}),
                on_event=self.on_event,
            )
            kit.watch_stop(self.loop.stop)
            return await self.loop.run()
        finally:
            await runtime.close()
            kit.close()

    def finished(self) -> ev.RunFinished:
        [fin] = self.of(ev.RunFinished)
        return fin
