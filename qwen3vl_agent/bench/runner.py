"""Load generation through the app's own path: N closed-loop users or an open-loop arrival rate.

Every request is prepared on the client (image resize + encode, in a worker thread as the app
does) and handed to something with the `InferenceService.submit` signature: the queue, the
cache and the engine client do the rest. Times are taken from hand-over (`sent_at`) to the
first streamed delta (TTFT) and to the result (end to end); image preparation is reported
apart (`prep_ms`).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from qwen3vl_agent.bench.plan import RequestPlan, RequestSpec
from qwen3vl_agent.bench.stats import Sample
from qwen3vl_agent.bench.workloads import BuiltRequest, RequestFactory
from qwen3vl_agent.inference.request import DeltaCallback, InferenceRequest, InferenceResult


class Submitter(Protocol):
    async def submit(
        self, request: InferenceRequest, on_delta: DeltaCallback | None = None
    ) -> InferenceResult: ...


@dataclass
class LoadConfig:
    users: int = 8  # closed loop: simulated users, each waits for its answer before the next
    rate: float | None = None  # open loop: Poisson arrivals per second (users is then ignored)
    count: int | None = 100  # requests to measure (None: until duration_s)
    duration_s: float | None = None  # stop sending after this many seconds
    think_time_s: float = 0.0  # closed loop: pause between a user's answer and next question
    warmup: int = 0  # unmeasured requests first (distinct from the measured ones)
    seed: int = 0

    def __post_init__(self) -> None:
        if self.count is None and self.duration_s is None:
            raise ValueError("give a request count or a duration")
        if self.users < 1:
            raise ValueError("at least one user")
        if self.rate is not None and self.rate <= 0:
            raise ValueError("the arrival rate must be positive")


Clock = Callable[[], float]


async def run_one(
    submitter: Submitter,
    factory: RequestFactory,
    spec: RequestSpec,
    clock: Clock = time.perf_counter,
    built: BuiltRequest | None = None,
) -> Sample:
    """Prepare (unless given), submit and time one request; failures become a Sample with `error`."""
    if built is None:
        built = await asyncio.to_thread(factory.build, spec)
    first: list[float] = []

    def on_delta(_text: str) -> None:
        if not first:
            first.append(clock())

    sent = clock()
    try:
        result = await submitter.submit(built.request, on_delta)
    except Exception as exc:  # a failed request is a data point, not the end of the run
        return Sample(
            index=spec.index,
            spec_class=spec.spec_class.value,
            key=spec.key,
            sent_at=sent,
            done_at=clock(),
            ttft_s=None,
            prep_s=built.prep_s,
            error=f"{type(exc).__name__}: {exc}",
        )
    done = clock()
    return Sample(
        index=spec.index,
        spec_class=spec.spec_class.value,
        key=spec.key,
        sent_at=sent,
        done_at=done,
        # a whole answer arrives at once: its "first token" would only repeat the end-to-end time
        ttft_s=((first[0] if first else done) - sent) if built.request.stream else None,
        prep_s=built.prep_s,
        queue_wait_s=result.timings.queue_wait_s,
        service_s=result.timings.service_s,
        cached=result.cached,
        prompt_tokens=result.usage.prompt_tokens or None,
        completion_tokens=result.usage.completion_tokens or None,
        image_bytes=len(built.image.data),
        image_size=(built.image.width, built.image.height),
        visual_tokens=built.image.visual_tokens,
    )


async def run_specs(
    submitter: Submitter, factory: RequestFactory, specs: Iterable[RequestSpec], concurrency: int
) -> list[Sample]:
    """Run a fixed list of requests with at most `concurrency` at once (warm-ups, prior sessions)."""
    queue: asyncio.Queue[RequestSpec] = asyncio.Queue()
    for spec in specs:
        queue.put_nowait(spec)
    out: list[Sample] = []

    async def worker() -> None:
        while not queue.empty():
            out.append(await run_one(submitter, factory, queue.get_nowait()))

    await asyncio.gather(*(worker() for _ in range(max(1, concurrency))))
    return out


async def run_load(
    submitter: Submitter,
    factory: RequestFactory,
    plan: RequestPlan,
    load: LoadConfig,
    clock: Clock = time.perf_counter,
) -> list[Sample]:
    """Measure: warm-up first (unrecorded), then the closed- or open-loop run."""
    if load.warmup:
        await run_specs(submitter, factory, plan.warmup(load.warmup), min(load.users, load.warmup))
    if load.rate is not None:
        return await _open_loop(submitter, factory, plan, load, clock)
    return await _closed_loop(submitter, factory, plan, load, clock)


def _budget(load: LoadConfig, clock: Clock) -> Callable[[int], bool]:
    stop_at = clock() + load.duration_s if load.duration_s is not None else None

    def may_send(issued: int) -> bool:
        if load.count is not None and issued >= load.count:
            return False
        return stop_at is None or clock() < stop_at

    return may_send


async def _closed_loop(
    submitter: Submitter, factory: RequestFactory, plan: RequestPlan, load: LoadConfig, clock: Clock
) -> list[Sample]:
    may_send = _budget(load, clock)
    samples: list[Sample] = []
    issued = 0

    async def user() -> None:
        nonlocal issued
        while may_send(issued):
            spec = plan.next()
            issued += 1
            samples.append(await run_one(submitter, factory, spec, clock))
            if load.think_time_s > 0:
                await asyncio.sleep(load.think_time_s)

    await asyncio.gather(*(user() for _ in range(load.users)))
    return sorted(samples, key=lambda s: s.index)


async def _open_loop(
    submitter: Submitter, factory: RequestFactory, plan: RequestPlan, load: LoadConfig, clock: Clock
) -> list[Sample]:
    assert load.rate is not None
    may_send = _budget(load, clock)
    rng = random.Random(load.seed)
    tasks: list[Awaitable[Sample]] = []
    issued = 0
    next_at = clock()
    while may_send(issued):
        tasks.append(asyncio.ensure_future(run_one(submitter, factory, plan.next(), clock)))
        issued += 1
        next_at += rng.expovariate(load.rate)
        delay = next_at - clock()
        if delay > 0:
            await asyncio.sleep(delay)
    samples = list(await asyncio.gather(*tasks))
    return sorted(samples, key=lambda s: s.index)
