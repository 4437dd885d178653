"""Real engines dying and coming back: fail-over between two servers, a crash mid-request, restart."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator

import pytest

from qwen3vl_agent.engine.processes import group_members, pid_alive
from qwen3vl_agent.engine.status import EngineState
from qwen3vl_agent.errors import EngineError
from tests.support.engine_fixtures import TinyEngine
from tests.support.engine_requests import engine_client, image_request

pytestmark = [pytest.mark.engine, pytest.mark.slow]


@pytest.fixture(scope="module")
def second_engine(start_tiny_engine) -> Iterator[TinyEngine]:
    engine = start_tiny_engine(restart_on_crash=True, max_restarts=2)
    yield engine
    engine.stop()


async def _wait_until(predicate, timeout_s: float, interval_s: float = 0.2) -> bool:
    for _ in range(int(timeout_s / interval_s)):
        if predicate():
            return True
        await asyncio.sleep(interval_s)
    return predicate()


async def test_fail_over_between_two_real_servers(tiny_engine: TinyEngine, second_engine: TinyEngine) -> None:
    first_before = tiny_engine.metric("vllm:request_success_total")
    second_before = second_engine.metric("vllm:request_success_total")
    endpoints = [tiny_engine.endpoint_settings(), second_engine.endpoint_settings()]
    async with engine_client(endpoints, probe_interval_s=0.5) as client:
        # Both healthy: concurrent requests spread over both (fewest outstanding first).
        results = await asyncio.gather(
            *(client.complete(image_request(seed=i, max_tokens=24, ignore_eos=True)) for i in range(4))
        )
        assert {r.endpoint for r in results} == {tiny_engine.base_url, second_engine.base_url}
        assert tiny_engine.metric("vllm:request_success_total") == first_before + 2
        assert second_engine.metric("vllm:request_success_total") == second_before + 2

        # The second server goes away: every request still succeeds, on the first one.
        second_engine.run(second_engine.engine.stop(), timeout=120)
        results = await asyncio.gather(*(client.complete(image_request(seed=10 + i)) for i in range(4)))
        assert {r.endpoint for r in results} == {tiny_engine.base_url}
        second_ep = next(e for e in client.pool.endpoints if e.base_url == second_engine.base_url)
        assert not second_ep.healthy

        # It comes back on the same port: the probe puts it back in rotation.
        second_engine.run(second_engine.engine.start(), timeout=600)
        assert await _wait_until(lambda: second_ep.healthy, 30)
        results = await asyncio.gather(
            *(client.complete(image_request(seed=20 + i, max_tokens=24, ignore_eos=True)) for i in range(4))
        )
        assert second_engine.base_url in {r.endpoint for r in results}


async def test_killing_the_engine_mid_request_fails_cleanly_and_the_engine_restarts(
    second_engine: TinyEngine,
) -> None:
    engine = second_engine.engine
    assert engine.state == EngineState.READY
    old_group, old_server = engine.pid, engine.server_pid
    assert old_group and old_server
    async with engine_client([second_engine.endpoint_settings()], probe_interval_s=0.5) as client:
        first_text = asyncio.Event()
        task = asyncio.create_task(
            client.complete(image_request(max_tokens=3000, ignore_eos=True), lambda _: first_text.set())
        )
        await asyncio.wait_for(first_text.wait(), 120)
        os.kill(old_server, signal.SIGKILL)  # the vLLM API server dies mid-answer
        with pytest.raises(EngineError):
            await asyncio.wait_for(task, 120)

        # The watchdog notices, restarts it (same port, same key); nothing of the old server is left.
        assert await _wait_until(lambda: engine.restarts == 1, 60)
        assert second_engine.run(engine.wait_ready(600), timeout=660)
        assert engine.restarts == 1 and engine.pid != old_group
        assert not pid_alive(old_server) and group_members(old_group) == []
        endpoint = client.pool.endpoints[0]
        assert await _wait_until(lambda: endpoint.healthy, 30)
        result = await client.complete(image_request(max_tokens=4))
    assert result.usage.completion_tokens >= 1
