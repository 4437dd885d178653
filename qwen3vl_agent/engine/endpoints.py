"""Endpoint pool (stub: being written)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from qwen3vl_agent.config import EndpointSettings, EngineSettings

if TYPE_CHECKING:
    from qwen3vl_agent.engine.managed import ManagedEngine


class EndpointPool:
    def __init__(self, endpoints: list[EndpointSettings], settings: EngineSettings) -> None:
        raise NotImplementedError

    def attach_managed(self, engine: ManagedEngine) -> None:
        raise NotImplementedError

    async def start(self) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError
