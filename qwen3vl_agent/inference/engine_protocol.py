"""What the queue needs from an engine client: one call that runs a request to completion."""

from __future__ import annotations

from typing import Protocol

from qwen3vl_agent.inference.request import DeltaCallback, InferenceRequest, InferenceResult


class EngineClient(Protocol):
    async def complete(
        self, request: InferenceRequest, on_delta: DeltaCallback | None = None
    ) -> InferenceResult:
        """Run the request on the engine; stream text deltas to `on_delta`; raise `EngineError`s.

        Cancelling the awaiting task must abort the HTTP request.
        """
        ...
