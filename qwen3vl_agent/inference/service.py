"""The one door to the model: cache lookup, then the queue, then the engine, then cache store.

Chat, agent steps and OCR pages all call `InferenceService.submit`. Only deterministic
requests (temperature 0 or a fixed seed) are cached and coalesced unless the request says
`cache.use=True`; `cache.use=False` bypasses both. Perceptual-hash near-duplicate matching runs
only for a request that sets `cache.near_duplicate_max_distance`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path

from qwen3vl_agent.config import CacheSettings, QueueSettings
from qwen3vl_agent.inference.cache_key import cache_key, request_phashes, shape_key
from qwen3vl_agent.inference.engine_protocol import EngineClient
from qwen3vl_agent.inference.queue import QueueStats, RequestQueue
from qwen3vl_agent.inference.request import DeltaCallback, InferenceRequest, InferenceResult, Timings
from qwen3vl_agent.inference.result_cache import CacheStats, ResultCache

CACHEABLE_FINISH = {None, "stop", "length", "tool_calls"}


@dataclass(frozen=True)
class ServiceStats:
    queue: QueueStats
    cache: CacheStats


class InferenceService:
    """Cache + queue + engine client, for every job of the app."""

    def __init__(
        self,
        client: EngineClient,
        queue_settings: QueueSettings,
        cache_settings: CacheSettings,
        model_name: str,
        *,
        cache_path: Path | None = None,
    ) -> None:
        self.client = client
        self.model_name = model_name
        self.cache_settings = cache_settings
        self.queue = RequestQueue(client, queue_settings)
        self.cache = ResultCache(cache_settings, cache_path)

    def _cacheable(self, request: InferenceRequest) -> bool:
        if not self.cache_settings.enabled:
            return False
        if request.cache.use is not None:
            return request.cache.use
        return request.sampling.deterministic

    async def submit(
        self, request: InferenceRequest, on_delta: DeltaCallback | None = None
    ) -> InferenceResult:
        """Answer `request`; text deltas go to `on_delta` (a cache hit sends the whole text once)."""
        if not self._cacheable(request):
            return await self.queue.submit(request, on_delta)
        start = time.monotonic()
        model = request.model or self.model_name
        key = cache_key(request, model)
        hit = await self.cache.get(key)
        shape: str | None = None
        phashes = request_phashes(request)
        if hit is None and request.cache.near_duplicate_max_distance is not None and phashes:
            shape = shape_key(request, model)
            hit = await self.cache.get_near(shape, phashes, request.cache.near_duplicate_max_distance)
        if hit is not None:
            if on_delta is not None and hit.result.text:
                on_delta(hit.result.text)
            return replace(hit.to_result(), timings=Timings(total_s=time.monotonic() - start))
        if phashes and shape is None:
            shape = shape_key(request, model)

        def store(result: InferenceResult) -> None:
            if result.finish_reason in CACHEABLE_FINISH:
                self.cache.put(key, result, shape=shape, phashes=phashes)

        return await self.queue.submit(request, on_delta, key=key, on_result=store)

    async def stream(self, request: InferenceRequest) -> AsyncIterator[str]:
        """The answer as an async iterator of text deltas (closing it cancels the request)."""
        deltas: asyncio.Queue[str | None] = asyncio.Queue()
        task = asyncio.get_running_loop().create_task(self.submit(request, deltas.put_nowait))
        task.add_done_callback(lambda _: deltas.put_nowait(None))
        try:
            while (delta := await deltas.get()) is not None:
                yield delta
            await task  # re-raises the request's error
        finally:
            if not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

    def stats(self) -> ServiceStats:
        return ServiceStats(queue=self.queue.stats(), cache=self.cache.stats())

    async def close(self) -> None:
        await self.queue.close()
        await self.cache.close()
