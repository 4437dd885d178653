"""Queue + cache on the tiny real engine: overhead over a direct client call, L1/L2 hit latency
for a request carrying a 1920x1080 screenshot, and throughput of 32 concurrent clients through
the queue vs the same requests one at a time.

    .venv/bin/python benchmarks/queue_cache.py [--requests 64] [--base-url URL --api-key KEY --model NAME]

Without --base-url it starts the tiny CPU vLLM engine itself through the app's ManagedEngine
(the same settings as the test fixture) and stops it at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from qwen3vl_agent.bench.images import ImageKind, render  # noqa: E402
from qwen3vl_agent.config import CacheSettings, EndpointSettings, EngineSettings, QueueSettings  # noqa: E402
from qwen3vl_agent.engine.client import OpenAIEngineClient  # noqa: E402
from qwen3vl_agent.engine.endpoints import EndpointPool  # noqa: E402
from qwen3vl_agent.imaging.prep import prepare_image  # noqa: E402
from qwen3vl_agent.inference.request import (  # noqa: E402
    CachePolicy,
    DeltaCallback,
    ImagePart,
    InferenceRequest,
    InferenceResult,
    Message,
    PreparedImage,
    SamplingParams,
)
from qwen3vl_agent.inference.service import InferenceService  # noqa: E402
from qwen3vl_agent.percentile import percentile_or_nan  # noqa: E402


def ms(samples: list[float]) -> str:
    return f"median {statistics.median(samples) * 1000:.3f} ms, p99 {percentile_or_nan(samples, 99) * 1000:.3f} ms (n={len(samples)})"


@dataclass
class TimedClient:
    """Forwards to the real client and records how long each engine call took."""

    inner: OpenAIEngineClient
    engine_s: dict[int, float] = field(default_factory=dict)

    async def complete(
        self, request: InferenceRequest, on_delta: DeltaCallback | None = None
    ) -> InferenceResult:
        t = time.perf_counter()
        try:
            return await self.inner.complete(request, on_delta)
        finally:
            self.engine_s[request.request_id] = time.perf_counter() - t


def request(image: PreparedImage, text: str, max_tokens: int = 1, **kw: object) -> InferenceRequest:
    sampling = SamplingParams(
        temperature=0.0, top_p=1.0, top_k=-1, presence_penalty=0.0, max_tokens=max_tokens, ignore_eos=True
    )
    return InferenceRequest(messages=[Message.user(ImagePart(image), text)], sampling=sampling, **kw)  # type: ignore[arg-type]


async def bench(endpoint: EndpointSettings, n: int, repeats: int) -> None:
    settings = EngineSettings(mode="endpoints", endpoints=[endpoint])
    pool = EndpointPool([endpoint], settings)
    await pool.start()
    client = OpenAIEngineClient(pool, settings)
    model = endpoint.model or "tiny-qwen3vl"
    shot = render(ImageKind.DESKTOP, 3)
    image = prepare_image(shot, 1024)
    small = prepare_image(shot, 256)
    print(
        f"screenshot 1920x1080 -> {image.width}x{image.height} ({image.visual_tokens} tokens, {len(image.data)} bytes PNG)"
    )
    with tempfile.TemporaryDirectory() as tmp:
        timed = TimedClient(client)
        service = InferenceService(
            timed, QueueSettings(), CacheSettings(), model, cache_path=Path(tmp) / "c.sqlite3"
        )
        for i in range(3):  # warm up the engine and the HTTP connection
            await client.complete(request(image, f"warm {i}"))
            await service.submit(request(image, f"warm service {i}"))

        # 1. overhead on the miss path: cache key + L1/L2 lookup + queue + store, per request
        overhead, direct, through = [], [], []
        for i in range(n):
            t = time.perf_counter()
            await client.complete(request(image, f"direct {i}"))
            direct.append(time.perf_counter() - t)
            r = request(image, f"service {i}")
            t = time.perf_counter()
            await service.submit(r)
            total = time.perf_counter() - t
            through.append(total)
            overhead.append(total - timed.engine_s[r.request_id])
        await service.cache.flush()
        print("\n### Overhead of queue + cache over a direct client call (cache misses, unique prompts)")
        print(f"- service time outside the engine call: {ms(overhead)}")
        print(f"- direct client call:                   {ms(direct)}")
        print(f"- through InferenceService:             {ms(through)}")
        print(
            f"- difference of medians (interleaved):  {(statistics.median(through) - statistics.median(direct)) * 1000:.2f} ms"
        )

        # 2. hits: L1, then L2 only (an L1 of zero entries sends every lookup to SQLite)
        keys = [request(image, f"service {i}") for i in range(n)]
        l1 = []
        for _rep in range(10):
            for r in keys:
                t = time.perf_counter()
                res = await service.submit(r)
                l1.append(time.perf_counter() - t)
                assert res.cached == "l1", res.cached
        l2_service = InferenceService(
            timed, QueueSettings(), CacheSettings(l1_max_entries=0), model, cache_path=Path(tmp) / "c.sqlite3"
        )
        l2 = []
        for _rep in range(10):
            for r in keys:
                t = time.perf_counter()
                res = await l2_service.submit(r)
                l2.append(time.perf_counter() - t)
                assert res.cached == "l2", res.cached
        print("\n### Cache hits for a request carrying a 1920x1080 screenshot (1008 visual tokens)")
        print(f"- L1 (memory) hit: {ms(l1)}")
        print(f"- L2 (SQLite) hit: {ms(l2)}")
        await l2_service.close()
        await service.close()

    # 3. throughput: 32 concurrent clients through the queue vs one at a time (the synchronous
    # baseline). Repeated with the order alternated, so warm caches favour neither side.
    async def one_at_a_time() -> float:
        reqs = [
            request(small, f"seq {i} {time.time()}", max_tokens=16, cache=CachePolicy(use=False))
            for i in range(n)
        ]
        t = time.perf_counter()
        for r in reqs:
            await client.complete(r)
        return time.perf_counter() - t

    async def through_queue() -> tuple[float, object]:
        with tempfile.TemporaryDirectory() as tmp:
            service = InferenceService(
                client,
                QueueSettings(max_in_flight=32),
                CacheSettings(),
                model,
                cache_path=Path(tmp) / "c.sqlite3",
            )
            pending = [
                request(small, f"conc {i} {time.time()}", max_tokens=16, cache=CachePolicy(use=False))
                for i in range(n)
            ]

            async def worker() -> None:
                while pending:
                    await service.submit(pending.pop())

            t = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(32)))
            elapsed = time.perf_counter() - t
            stats = service.stats().queue
            await service.close()
        return elapsed, stats

    print(
        f"\n### Throughput, {n} requests per run (1920x1080 screenshot at 256 tokens = {small.visual_tokens}"
        " visual tokens, 16 output tokens)"
    )
    print("| run | one at a time s | req/s | 32 clients via queue s | req/s | ratio |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    ratios = []
    for run in range(repeats):
        if run % 2 == 0:
            sequential = await one_at_a_time()
            concurrent, stats = await through_queue()
        else:
            concurrent, stats = await through_queue()
            sequential = await one_at_a_time()
        ratios.append(sequential / concurrent)
        print(
            f"| {run + 1} | {sequential:.2f} | {n / sequential:.1f} | {concurrent:.2f} | {n / concurrent:.1f} |"
            f" {sequential / concurrent:.2f}x |"
        )
    print(f"- median ratio: {statistics.median(ratios):.2f}x")
    print(
        f"- last run: queue wait p50/p99 {stats.wait_p50_s * 1000:.0f}/{stats.wait_p99_s * 1000:.0f} ms,"  # type: ignore[attr-defined]
        f" service p50/p99 {stats.service_p50_s * 1000:.0f}/{stats.service_p99_s * 1000:.0f} ms"  # type: ignore[attr-defined]
    )
    await client.aclose()
    await pool.close()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=4, help="throughput runs (order alternates)")
    parser.add_argument("--base-url")
    parser.add_argument("--api-key")
    parser.add_argument("--model", default="tiny-qwen3vl")
    args = parser.parse_args()
    if args.base_url:
        await bench(
            EndpointSettings(url=args.base_url, api_key=args.api_key, model=args.model), args.requests
        )
        return
    from tests.support.engine_fixtures import running_tiny_engine

    async with running_tiny_engine() as engine:
        endpoint = EndpointSettings(
            url=engine.base_url, api_key=engine.api_key, model=engine.served_model_name
        )
        await bench(endpoint, args.requests, args.repeats)


if __name__ == "__main__":
    asyncio.run(main())
