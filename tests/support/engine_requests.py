"""Small builders of real requests for engine tests: PNG images as `PreparedImage`s, a client."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from PIL import Image, ImageDraw

from qwen3vl_agent.config import EndpointSettings, EngineSettings
from qwen3vl_agent.engine.client import OpenAIEngineClient
from qwen3vl_agent.engine.endpoints import EndpointPool
from qwen3vl_agent.inference.request import (
    ImagePart,
    InferenceRequest,
    Message,
    PreparedImage,
    SamplingParams,
    TaskKind,
)


def png_image(width: int = 320, height: int = 224, seed: int = 0) -> PreparedImage:
    """A small synthetic screenshot-like PNG (a button whose place depends on `seed`)."""
    img = Image.new("RGB", (width, height), (240, 240, 240))
    draw = ImageDraw.Draw(img)
    x = 20 + (seed * 37) % max(1, width - 120)
    draw.rectangle([x, 40, x + 100, 80], fill=(0, 120, 215))
    draw.text((x + 30, 52), f"OK{seed}", fill=(255, 255, 255))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return PreparedImage(
        data=buf.getvalue(),
        mime="image/png",
        width=width,
        height=height,
        source_width=width,
        source_height=height,
        pixel_hash=hashlib.sha256(img.tobytes()).hexdigest(),
    )


def image_request(
    text: str = "Where is the OK button?",
    *,
    images: int = 1,
    seed: int = 0,
    max_tokens: int = 16,
    ignore_eos: bool = False,
    **kwargs: Any,
) -> InferenceRequest:
    parts = [ImagePart(png_image(seed=seed + i)) for i in range(images)]
    sampling = SamplingParams(
        temperature=0.0,
        top_p=1.0,
        top_k=-1,
        presence_penalty=0.0,
        max_tokens=max_tokens,
        ignore_eos=ignore_eos,
    )
    return InferenceRequest(
        messages=[Message.user(*parts, text)], kind=TaskKind.CHAT, sampling=sampling, **kwargs
    )


@asynccontextmanager
async def engine_client(
    endpoints: list[EndpointSettings], **settings: Any
) -> AsyncIterator[OpenAIEngineClient]:
    """A started pool + client over `endpoints`, closed afterwards."""
    engine_settings = EngineSettings(mode="endpoints", **settings)
    pool = EndpointPool(endpoints, engine_settings)
    await pool.start()
    client = OpenAIEngineClient(pool, engine_settings)
    try:
        yield client
    finally:
        await client.aclose()
        await pool.close()


@dataclass(frozen=True)
class AbortCheck:
    """The server's counters before a request that the test will cancel mid-generation.

    vLLM counts a request in `vllm:request_success_total` only when the engine finishes it (here
    with reason "length"); a request aborted because its client went away is not counted at all.
    `vllm:num_requests_running` reads 0 only once the engine has stopped the request.
    """

    engine: Any
    max_tokens: int
    completed: float
    generated: float
    e2e_sum: float

    @staticmethod
    async def when_idle(engine: Any, max_tokens: int) -> AbortCheck:
        """The baseline, taken once the engine runs nothing: a request of an earlier test still
        finishing would count in these totals as if it were the one under test."""
        for _ in range(600):
            if engine.metric("vllm:num_requests_running") == 0:
                break
            await asyncio.sleep(0.2)
        return AbortCheck(
            engine,
            max_tokens,
            engine.metric("vllm:request_success_total", finished_reason="length"),
            engine.metric("vllm:generation_tokens_total"),
            engine.metric("vllm:e2e_request_latency_seconds_sum"),
        )

    async def wait_idle(self) -> None:
        """Until the engine runs nothing (each poll blocks the caller's loop; generous bound)."""
        for _ in range(600):
            if self.engine.metric("vllm:num_requests_running") == 0:
                return
            await asyncio.sleep(0.2)

    def verdict(self, sent_at: float, cancelled_at: float, detail: str = "") -> float:
        """Fail when the server finished the request although the cancel provably came first;
        skip as inconclusive when it may have finished before this (starved) process cancelled."""
        assert self.engine.metric("vllm:num_requests_running") == 0
        generated = self.engine.metric("vllm:generation_tokens_total") - self.generated
        if self.engine.metric("vllm:request_success_total", finished_reason="length") > self.completed:
            # the server finished no earlier than `sent_at + e2e` (it timed from the arrival)
            e2e = self.engine.metric("vllm:e2e_request_latency_seconds_sum") - self.e2e_sum
            took = cancelled_at - sent_at
            if cancelled_at >= sent_at + e2e:
                pytest.skip(
                    f"inconclusive: the server may have finished all {self.max_tokens} tokens ({e2e:.1f} s) "
                    f"before this starved test process got to cancel ({took:.1f} s after sending{detail}): "
                    "the machine is too loaded for this check"
                )
            pytest.fail(
                f"the server generated all {self.max_tokens} tokens ({e2e:.1f} s) although the client "
                f"cancelled {took:.1f} s after sending, while it was still generating{detail}: "
                "the disconnect did not abort the request"
            )
        assert generated < self.max_tokens
        return generated


@contextmanager
def engine_core_paused(engine: Any) -> Iterator[None]:
    """SIGSTOP the tiny engine's core (every process below its API server) while the API server
    keeps running, and SIGCONT it at the end.

    Why: whether vLLM aborts a request whose client left is decided by its API server, which
    must notice the disconnect and tell the core; the core meanwhile decodes at full speed. On a
    loaded machine the API server can lag the core by many seconds (it did not even accept a
    connection for ~10 s while streaming), so a cancel test that lets the core run on measures
    the machine's load, not the abort. With the core stopped it cannot finish the request
    before the abort arrives, however slow the API server is.
    """
    import psutil

    server = psutil.Process(engine.engine.server_pid)
    core = server.children(recursive=True)
    assert core, "the tiny engine's API server has no core process"
    for proc in core:
        proc.suspend()
    try:
        yield
    finally:
        for proc in core:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.resume()


async def cancel_with_core_paused(engine: Any, task: asyncio.Task[Any], cancels: int = 1) -> float:
    """Cancel `task` (a request to `engine`) `cancels` times, one loop step apart, with the
    engine core paused until the task has ended (its connection is closed then) and the API
    server has answered /health a few times after it (its loop has turned past the disconnect
    and sent the abort). Returns when the first cancel went out (`time.time()`)."""
    import httpx

    with engine_core_paused(engine):
        cancelled_at = time.time()
        task.cancel()
        for _ in range(cancels - 1):
            await asyncio.sleep(0)  # the next cancel lands while the client cleans up
            task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        async with httpx.AsyncClient(timeout=60) as http:
            for _ in range(3):
                assert (await http.get(f"{engine.root_url}/health")).status_code == 200
    return cancelled_at
