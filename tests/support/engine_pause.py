"""Pausing the tiny engine's core (SIGSTOP) so that engine tests decide the same way on an idle
and on a loaded machine.

On a loaded box the tiny engine's API server (which processes the images, notices a client that
left and tells the core to abort) can lag its core by many seconds, so a test that lets the core
run freely measures the machine's load. These helpers stop the core (every process below the
API server) while the API server keeps running, and read the API server's own log for the
moments that matter: the tiny engine runs with `--enable-log-requests`, so its log says
"Added request X." once a request has been handed to the core and "Aborted request(s) X." once
an abort has been sent to it. Neither needs the core: its /metrics gauges (running, waiting) are
the core's and stand still while it is stopped, but the counters the API server keeps from the
outputs it received (generated tokens, finished requests) stay live.

Pausing alone does not make a cancel test load-proof: the core must also be let run until the
request has begun and stopped before it ends, and at full speed it starved the test process
for seconds (see `PausedCore.run_for`); `cancel_mid_generation` caps its CPU meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.cpu_throttle import cpu_capped

# of one CPU. Capped at 0.05 the core took 104 s for 300 tokens here (uncapped: under 1 s)
CAPPED_SHARE = 0.2
ADDED = "Added request "
ABORTED = "Aborted request(s) "


class EngineLog:
    """The tiny engine's log from the moment this was made: counts lines that contain a text."""

    def __init__(self, engine: Any) -> None:
        self.path: Path = engine.log_path
        self.offset = self.path.stat().st_size

    def count(self, text: str) -> int:
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            return sum(text in line for line in f.read().decode(errors="replace").splitlines())

    async def wait_for(self, text: str, count: int, what: str, timeout_s: float = 300.0) -> None:
        """Until `count` lines holding `text` were logged (polled; a generous bound)."""
        for _ in range(int(timeout_s / 0.1)):
            if self.count(text) >= count:
                return
            await asyncio.sleep(0.1)
        pytest.fail(
            f"{what}: {self.count(text)} of {count} '{text.strip()}' lines in {self.path} after {timeout_s:.0f} s"
        )


class PausedCore:
    """The tiny engine's core processes, stopped until `resume` (or `run_for` lets them run)."""

    def __init__(self, engine: Any) -> None:
        import psutil

        self._no_such_process = psutil.NoSuchProcess
        self.procs = psutil.Process(engine.engine.server_pid).children(recursive=True)
        assert self.procs, "the tiny engine's API server has no core process"

    def suspend(self) -> None:
        for proc in self.procs:
            proc.suspend()

    def resume(self) -> None:
        for proc in self.procs:
            with contextlib.suppress(self._no_such_process):
                proc.resume()

    async def run_for(self, seconds: float) -> None:
        """Let the core run for about `seconds`, then stop it. Only as long as this process is
        scheduled in time: at full speed the core was seen to starve every other process (this
        one too) for 4-9 s at the start of a generation, which is why `cancel_mid_generation`
        caps its CPU instead where it can."""
        self.resume()
        try:
            await asyncio.sleep(seconds)
        finally:
            self.suspend()


@contextmanager
def engine_core_paused(engine: Any) -> Iterator[PausedCore]:
    """SIGSTOP the tiny engine's core while its API server keeps running; SIGCONT at the end."""
    core = PausedCore(engine)
    core.suspend()
    try:
        yield core
    finally:
        core.resume()


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
        )

    def tokens(self) -> float:
        """Tokens generated since the baseline, as far as the API server has received them."""
        return self.engine.metric("vllm:generation_tokens_total") - self.generated

    def finished(self) -> bool:
        return self.engine.metric("vllm:request_success_total", finished_reason="length") > self.completed

    async def wait_idle(self) -> None:
        """Until the engine runs nothing (each poll blocks the caller's loop; generous bound)."""
        for _ in range(600):
            if self.engine.metric("vllm:num_requests_running") == 0:
                return
            await asyncio.sleep(0.2)
        pytest.fail("the engine still runs a request 120 s after the test's cancel")


async def step_until_generating(core: PausedCore, check: AbortCheck, capped: bool) -> float:
    """Let the stopped core run until the API server has received tokens of the request, then
    stop it again; returns that token count.

    `capped` (the core's CPU is capped, see `cpu_capped`): it runs until then (generous bound),
    too slowly to finish the request while this process waits. Otherwise it runs in slices of
    0.2 s (after each, with the core stopped, the API server gets half a second to catch up);
    an uncapped core could still finish in one slice if this process is not scheduled for
    its whole generation, which `cancel_mid_generation` notices and tries again."""
    if capped:
        core.resume()
        try:
            for _ in range(3000):
                if (tokens := check.tokens()) > 0:
                    return tokens
                await asyncio.sleep(0.1)
        finally:
            core.suspend()
        pytest.fail("the CPU-capped engine core generated nothing in 300 s")
    for _ in range(300):
        await core.run_for(0.2)
        for _ in range(5):
            if (tokens := check.tokens()) > 0:
                return tokens
            await asyncio.sleep(0.1)
    pytest.fail("the engine core generated nothing in 300 slices of 0.2 s")


@dataclass(frozen=True)
class CancelOutcome:
    tokens_at_cancel: float  # what the API server had received when the client cancelled
    tokens: float  # what the engine generated in all


async def cancel_mid_generation(
    engine: Any, start: Callable[[], Awaitable[Any]], max_tokens: int, cancels: int = 1, tries: int = 3
) -> CancelOutcome:
    """Start a request with `start()` (it must ask for `max_tokens` and not stop at EOS), cancel
    it `cancels` times (one loop step apart) mid-generation, and fail unless the server aborted it.

    The core is stopped before the request is sent, then runs with its CPU capped at a fifth of
    a CPU until the request has generated its first tokens, and stays stopped while the client
    cancels and until the API server has logged the abort it sent to the core: the request is
    certainly running (begun, and far from finished) when the client leaves, however loaded
    the machine. After resuming at full speed, the engine must stop the request well before
    `max_tokens` and not count it as finished. A client that keeps its connection open (the API
    server sees no disconnect) fails: no abort is logged.

    Where no cgroup can be written (not root), the core runs uncapped in 0.2 s slices instead;
    if this process is then starved for a whole generation (~10 s of the core's time) within
    one slice, the request is done before any cancel and the attempt proves nothing: it is made
    again, `tries` times in all, and the test skips, saying so, if every try was overrun.
    """
    for _ in range(tries):
        check = await AbortCheck.when_idle(engine, max_tokens)
        log = EngineLog(engine)
        with engine_core_paused(engine) as core:
            task = asyncio.create_task(start())
            try:
                await log.wait_for(ADDED, 1, "the request was never handed to the engine core")
                with cpu_capped([p.pid for p in core.procs], CAPPED_SHARE) as capped:
                    at_cancel = await step_until_generating(core, check, capped)
                overrun = task.done() or check.finished()
                task.cancel()
                for _ in range(cancels - 1):
                    await asyncio.sleep(0)  # the next cancel lands while the client cleans up
                    task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
                if not overrun:
                    await log.wait_for(
                        ABORTED, 1, "the client left mid-generation but the API server sent no abort", 120.0
                    )
            finally:
                task.cancel()
        await check.wait_idle()
        if overrun:
            continue
        tokens = check.tokens()
        assert not check.finished(), (
            f"the server finished all {max_tokens} tokens although the client cancelled while the "
            f"request was mid-generation ({at_cancel:.0f} tokens in)"
        )
        assert at_cancel <= tokens < max_tokens
        return CancelOutcome(at_cancel, tokens)
    pytest.skip(
        f"the uncapped engine core finished all {max_tokens} tokens within one 0.2 s slice in each "
        f"of {tries} tries (this process was starved that long): nothing was left to abort"
    )
