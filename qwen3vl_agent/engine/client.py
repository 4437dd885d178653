"""OpenAI-compatible engine client (stub: being written)."""

from __future__ import annotations

from typing import Any

from qwen3vl_agent.config import EngineSettings
from qwen3vl_agent.engine.endpoints import EndpointPool
from qwen3vl_agent.inference.request import DeltaCallback, InferenceRequest, InferenceResult


class OpenAIEngineClient:
    def __init__(self, pool: EndpointPool, settings: EngineSettings) -> None:
        raise NotImplementedError

    async def complete(
        self, request: InferenceRequest, on_delta: DeltaCallback | None = None
    ) -> InferenceResult:
        raise NotImplementedError

    async def list_models(self) -> list[dict[str, Any]]:
        raise NotImplementedError

    async def health(self) -> dict[str, bool]:
        raise NotImplementedError

    async def aclose(self) -> None:
        raise NotImplementedError
