"""The in-process request queue in front of the engine.

Policy, in one place:
- priorities CHAT > AGENT > BATCH (`request.effective_priority`), FIFO within a priority; when
  an engine slot frees up the highest-priority waiting request takes it, so a chat question
  behind a 5,000-page OCR batch waits for at most one in-flight request to finish;
- at most `max_in_flight` requests at the engine (enough for vLLM to batch them);
- at most `max_queued` waiting requests: the next one gets `QueueFullError` at once;
- per-request deadlines, waiting or running (`DeadlineExceededError`);
- cancelling the caller's task cancels its request, and the engine call with it once no
  other caller waits for the same answer;
- identical in-flight requests (same cache key) share one engine call ("coalescing"): later
  callers get the text streamed so far, then every new delta.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import StrEnum

from qwen3vl_agent.config import QueueSettings
from qwen3vl_agent.errors import DeadlineExceededError, QueueFullError, RequestCancelledError
from qwen3vl_agent.inference.engine_protocol import EngineClient
from qwen3vl_agent.inference.request import (
    DeltaCallback,
    InferenceRequest,
    InferenceResult,
    Priority,
)
from qwen3vl_agent.percentile import percentile

log = logging.getLogger(__name__)
SAMPLES = 10_000  # recent wait/service times kept for percentiles
ABORT_WAIT_S = 5.0  # how long a cancelled caller waits for its engine call to be torn down


class _State(StrEnum):
    WAITING = "waiting"
    RUNNING = "running"
    DONE = "done"
    DROPPED = "dropped"


@dataclass(eq=False)
class _Waiter:
    future: asyncio.Future[InferenceResult]
    on_delta: DeltaCallback | None
    submitted: float
    joined: bool  # True when it joined an existing engine call


@dataclass(eq=False)
class _Flight:
    """One engine call and everyone waiting for it."""

    request: InferenceRequest
    key: str | None
    priority: Priority
    seq: int
    state: _State = _State.WAITING
    waiters: list[_Waiter] = field(default_factory=list)
    text: list[str] = field(default_factory=list)
    task: asyncio.Task[None] | None = None
    started: float = 0.0
    on_result: Callable[[InferenceResult], None] | None = None


@dataclass(frozen=True)
class QueueStats:
    depth: dict[str, int]  # waiting requests per priority name
    waiting: int
    in_flight: int
    max_in_flight: int
    max_queued: int
    submitted: int
    completed: int
    failed: int
    cancelled: int
    deadline_exceeded: int
    rejected_full: int
    coalesced: int
    wait_p50_s: float
    wait_p99_s: float
    service_p50_s: float
    service_p99_s: float


class RequestQueue:
    """Priority queue with bounded concurrency in front of an `EngineClient`."""

    def __init__(self, client: EngineClient, settings: QueueSettings) -> None:
        self.client = client
        self.settings = settings
        self._queues: dict[Priority, deque[_Flight]] = {p: deque() for p in Priority}
        self._depth: dict[Priority, int] = dict.fromkeys(Priority, 0)
        self._running: set[_Flight] = set()
        self._by_key: dict[str, _Flight] = {}
        self._seq = itertools.count()
        self._wait: deque[float] = deque(maxlen=SAMPLES)
        self._service: deque[float] = deque(maxlen=SAMPLES)
        self._counts = dict.fromkeys(
            (
                "submitted",
                "completed",
                "failed",
                "cancelled",
                "deadline_exceeded",
                "rejected_full",
                "coalesced",
            ),
            0,
        )
        self._closed = False

    # -- public --------------------------------------------------------------------------------
    @property
    def waiting(self) -> int:
        return sum(self._depth.values())

    @property
    def in_flight(self) -> int:
        return len(self._running)

    async def submit(
        self,
        request: InferenceRequest,
        on_delta: DeltaCallback | None = None,
        *,
        key: str | None = None,
        on_result: Callable[[InferenceResult], None] | None = None,
    ) -> InferenceResult:
        """Run `request` when its turn comes; `key` enables coalescing with identical requests.

        `on_result` is called once per engine call with its result, before any waiter wakes
        and before the key stops coalescing (the service stores it in the cache there, so an
        identical request arriving in between finds it).
        """
        if self._closed:
            raise RequestCancelledError("The request queue is shut down")
        loop = asyncio.get_running_loop()
        priority = request.effective_priority
        flight = self._by_key.get(key) if key is not None else None
        joined = flight is not None
        if flight is not None:
            self._counts["coalesced"] += 1
            if flight.state is _State.WAITING and priority < flight.priority:
                self._depth[flight.priority] -= 1
                flight.priority = priority  # its old queue entry is skipped as stale
                self._depth[priority] += 1
                self._queues[priority].append(flight)
        else:
            if self.waiting >= self.settings.max_queued:
                self._counts["rejected_full"] += 1
                raise QueueFullError(
                    f"The engine is busy: {self.waiting} requests are already waiting (queue.max_queued)",
                    "try again in a moment",
                )
            flight = _Flight(request, key, priority, next(self._seq), on_result=on_result)
            self._queues[priority].append(flight)
            self._depth[priority] += 1
            if key is not None:
                self._by_key[key] = flight
        self._counts["submitted"] += 1
        waiter = _Waiter(loop.create_future(), on_delta, time.monotonic(), joined)
        flight.waiters.append(waiter)
        if joined and flight.text and on_delta is not None:
            self._deliver(waiter, "".join(flight.text))
        self._pump()
        deadline = request.deadline_s if request.deadline_s is not None else self.settings.default_deadline_s
        try:
            if deadline is None:
                return await waiter.future
            async with asyncio.timeout(deadline) as scope:
                try:
                    return await waiter.future
                except asyncio.CancelledError:
                    if scope.expired():
                        stage = "waiting for the engine" if flight.state is _State.WAITING else "running"
                        self._counts["deadline_exceeded"] += 1
                        raise DeadlineExceededError(
                            f"The request did not finish within its deadline of {deadline:g} s"
                            f" (it was {stage})",
                            "the engine is overloaded or too slow; try again or raise the deadline",
                        ) from None
                    raise
        except asyncio.CancelledError:
            self._counts["cancelled"] += 1
            raise
        finally:
            aborted = self._leave(flight, waiter)
            if aborted is not None:  # the caller gave up: return once the engine call is really gone
                await asyncio.wait({aborted}, timeout=ABORT_WAIT_S)

    def stats(self) -> QueueStats:
        wait, service = list(self._wait), list(self._service)
        return QueueStats(
            depth={p.name.lower(): self._depth[p] for p in Priority},
            waiting=self.waiting,
            in_flight=self.in_flight,
            max_in_flight=self.settings.max_in_flight,
            max_queued=self.settings.max_queued,
            wait_p50_s=percentile(wait, 50) or 0.0,
            wait_p99_s=percentile(wait, 99) or 0.0,
            service_p50_s=percentile(service, 50) or 0.0,
            service_p99_s=percentile(service, 99) or 0.0,
            **self._counts,
        )

    async def close(self) -> None:
        """Fail waiting requests with `RequestCancelledError` and cancel running ones."""
        self._closed = True
        for dq in self._queues.values():
            while dq:
                flight = dq.popleft()
                if flight.state is _State.WAITING:
                    flight.state = _State.DROPPED
                    self._fail(flight, RequestCancelledError("The request queue was shut down"))
        self._depth = dict.fromkeys(Priority, 0)
        self._by_key.clear()
        tasks = [f.task for f in self._running if f.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- internals ---------------------------------------------------------------------------
    def _leave(self, flight: _Flight, waiter: _Waiter) -> asyncio.Task[None] | None:
        """The caller stopped waiting (answer, error, deadline, cancel): drop orphaned work.

        Returns the engine call it cancelled, if any.
        """
        if waiter in flight.waiters:
            flight.waiters.remove(waiter)
        if flight.waiters:
            return None
        if flight.state is _State.WAITING:
            flight.state = _State.DROPPED
            self._depth[flight.priority] -= 1
            self._forget(flight)
        elif flight.state is _State.RUNNING and flight.task is not None and not flight.task.done():
            flight.task.cancel()  # aborts the engine call; its slot frees in _run's finally
            return flight.task
        return None

    def _forget(self, flight: _Flight) -> None:
        if flight.key is not None and self._by_key.get(flight.key) is flight:
            del self._by_key[flight.key]

    def _next(self) -> _Flight | None:
        for priority in Priority:
            dq = self._queues[priority]
            while dq:
                flight = dq.popleft()
                if flight.state is _State.WAITING and flight.priority == priority:
                    self._depth[priority] -= 1
                    return flight
        return None

    def _pump(self) -> None:
        """Give free engine slots to the highest-priority waiting requests."""
        while len(self._running) < self.settings.max_in_flight and not self._closed:
            flight = self._next()
            if flight is None:
                return
            flight.state = _State.RUNNING
            flight.started = time.monotonic()
            for waiter in flight.waiters:
                self._wait.append(flight.started - waiter.submitted)
            self._running.add(flight)
            flight.task = asyncio.get_running_loop().create_task(
                self._run(flight), name=f"inference-{flight.request.request_id}"
            )

    def _deliver(self, waiter: _Waiter, delta: str) -> None:
        if waiter.on_delta is None or waiter.future.done():
            return
        try:
            waiter.on_delta(delta)
        except Exception:
            log.exception("a stream consumer failed; the request goes on")

    def _broadcaster(self, flight: _Flight) -> DeltaCallback:
        def on_delta(delta: str) -> None:
            flight.text.append(delta)
            for waiter in list(flight.waiters):
                self._deliver(waiter, delta)

        return on_delta

    def _fail(self, flight: _Flight, exc: BaseException) -> None:
        for waiter in flight.waiters:
            if not waiter.future.done():
                waiter.future.set_exception(exc)

    async def _run(self, flight: _Flight) -> None:
        try:
            # The deadline counts from submission and this queue enforces it (cancelling the
            # engine call once no caller waits); the client must not start a second clock.
            request = flight.request
            if request.deadline_s is not None:
                request = replace(request, deadline_s=None)
            result = await self.client.complete(request, self._broadcaster(flight))
        except asyncio.CancelledError:
            self._fail(flight, RequestCancelledError("The request was cancelled"))
            raise
        except Exception as exc:
            self._counts["failed"] += 1
            self._fail(flight, exc)
        else:
            self._counts["completed"] += 1
            if flight.on_result is not None:
                try:
                    flight.on_result(result)
                except Exception:
                    log.exception("a result hook failed; the answer is still delivered")
            end = time.monotonic()
            service = result.timings.service_s or (end - flight.started)
            for waiter in flight.waiters:
                if waiter.future.done():
                    continue
                timings = replace(
                    result.timings,
                    queue_wait_s=max(0.0, flight.started - waiter.submitted),
                    service_s=service,
                    total_s=end - waiter.submitted,
                )
                waiter.future.set_result(
                    replace(result, timings=timings, cached="coalesced" if waiter.joined else result.cached)
                )
        finally:
            flight.state = _State.DONE
            self._running.discard(flight)
            self._forget(flight)
            self._service.append(time.monotonic() - flight.started)
            self._pump()


__all__ = ["QueueStats", "RequestQueue"]
