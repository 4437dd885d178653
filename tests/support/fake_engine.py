"""A scripted `EngineClient` for queue-policy unit tests.

It stands in for the engine only where the test is about ordering and bookkeeping (which
request gets the next slot, who is cancelled, how many engine calls happen); the same
behaviours are also tested against the real tiny vLLM engine. Requests can be held until the
test releases them, so the tests never depend on timing.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from qwen3vl_agent.inference.request import DeltaCallback, InferenceRequest, InferenceResult, TextPart, Usage


def request_text(request: InferenceRequest) -> str:
    parts: list[str] = []
    for message in request.messages:
        if isinstance(message.content, str):
            parts.append(message.content)
        else:
            parts.extend(p.text for p in message.content if isinstance(p, TextPart))
    return " ".join(parts)


@dataclass
class FakeEngineClient:
    """Answers "echo: <prompt>" in a few deltas; with `hold=True` each call waits for `release`."""

    hold: bool = False
    chunks: int = 3
    fail: BaseException | None = None
    started: list[InferenceRequest] = field(default_factory=list)
    finished: list[InferenceRequest] = field(default_factory=list)
    cancelled: list[InferenceRequest] = field(default_factory=list)
    _gates: dict[int, asyncio.Event] = field(default_factory=dict)
    _started_event: asyncio.Event | None = None

    @property
    def calls(self) -> int:
        return len(self.started)

    @property
    def running(self) -> list[InferenceRequest]:
        done = {id(r) for r in self.finished} | {id(r) for r in self.cancelled}
        return [r for r in self.started if id(r) not in done]

    def _gate(self, request: InferenceRequest) -> asyncio.Event:
        return self._gates.setdefault(request.request_id, asyncio.Event())

    def release(self, request: InferenceRequest) -> None:
        self._gate(request).set()

    async def wait_started(self, count: int) -> None:
        """Wait (without timing) until at least `count` calls have started."""
        while self.calls < count:
            await asyncio.sleep(0)

    async def complete(
        self, request: InferenceRequest, on_delta: DeltaCallback | None = None
    ) -> InferenceResult:
        self.started.append(request)
        try:
            text = f"echo: {request_text(request)}"
            step = max(1, len(text) // self.chunks)
            pieces = [text[i : i + step] for i in range(0, len(text), step)]
            if on_delta is not None and pieces:
                on_delta(pieces[0])
            if self.hold:
                await self._gate(request).wait()
            else:
                await asyncio.sleep(0)
            if self.fail is not None:
                raise self.fail
            for piece in pieces[1:]:
                if on_delta is not None:
                    on_delta(piece)
                await asyncio.sleep(0)
        except asyncio.CancelledError:
            self.cancelled.append(request)
            raise
        self.finished.append(request)
        return InferenceResult(text=text, finish_reason="stop", usage=Usage(10, len(pieces)), model="fake")
