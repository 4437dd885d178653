"""The watchdog restarts a crashed server up to `max_restarts`, then reports FAILED to listeners
and to the endpoint pool. The "server" here is a few lines of Python that answer /health and then
crash after a moment: it stands in for vLLM so the restart policy can be exercised in seconds."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from qwen3vl_agent.config import EngineSettings
from qwen3vl_agent.engine.client import OpenAIEngineClient
from qwen3vl_agent.engine.endpoints import EndpointPool
from qwen3vl_agent.engine.managed import ManagedEngine
from qwen3vl_agent.engine.status import EngineState
from qwen3vl_agent.errors import EngineUnavailableError
from tests.support.engine_requests import image_request
from tests.support.standin_server import CRASHING_SERVER


async def test_crashing_server_is_restarted_then_reported_failed(tmp_path: Path) -> None:
    settings = EngineSettings(
        launcher="python-module", python_executable=sys.executable, max_restarts=2, served_model_name="m"
    )
    engine = ManagedEngine(settings, tmp_path, stop_grace_s=2)
    engine.command = lambda port: [sys.executable, "-c", CRASHING_SERVER, str(port)]  # type: ignore[method-assign]
    states: list[EngineState] = []
    engine.add_listener(lambda status: states.append(status.state))
    pool = EndpointPool([], settings)
    pool.attach_managed(engine)
    try:
        await engine.start()
        await pool.start()
        for _ in range(300):
            if engine.state == EngineState.FAILED:
                break
            await asyncio.sleep(0.1)
        assert engine.state == EngineState.FAILED
        assert engine.restarts == 2
        assert states.count(EngineState.RESTARTING) >= 2 and states.count(EngineState.READY) == 3
        assert "simulated engine crash" in (engine.status.error or "")
        client = OpenAIEngineClient(pool, settings)
        with pytest.raises(EngineUnavailableError, match="stopped unexpectedly"):
            await client.complete(image_request())
        await client.aclose()
    finally:
        await pool.close()
        await engine.stop()
    assert engine.state == EngineState.STOPPED
