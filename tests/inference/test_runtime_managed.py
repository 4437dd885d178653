"""`build_runtime` in managed mode: the app's own engine, started later, used, and stopped.

This starts a second tiny engine (the shared fixture must not be stopped), so it is slow.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from qwen3vl_agent.config import Settings
from qwen3vl_agent.engine.processes import group_members
from qwen3vl_agent.engine.status import EngineState
from qwen3vl_agent.errors import EngineUnavailableError
from qwen3vl_agent.inference.request import CachePolicy, InferenceRequest, Message, SamplingParams
from qwen3vl_agent.runtime import build_runtime
from tests.support.engine_fixtures import tiny_engine_settings


def question(text: str) -> InferenceRequest:
    return InferenceRequest(
        messages=[Message.user(text)], sampling=SamplingParams.greedy(4), cache=CachePolicy(use=False)
    )


@pytest.mark.engine
@pytest.mark.slow
async def test_managed_runtime_starts_later_serves_and_stops_everything(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    settings = Settings(engine=tiny_engine_settings(tiny_model_dir, restart_on_crash=False))
    runtime = await build_runtime(settings, start_engine=False, cache_path=tmp_path / "c.sqlite3")
    try:
        assert runtime.engine is not None and runtime.engine.state is EngineState.STOPPED
        assert runtime.model_name == "tiny-qwen3vl"
        with pytest.raises(EngineUnavailableError):
            await runtime.service.submit(question("too early"))

        await runtime.start_engine()
        assert runtime.engine.state is EngineState.READY
        result = await runtime.service.submit(question("hello"))
        assert result.model == "tiny-qwen3vl" and result.usage.completion_tokens > 0
        pgid = runtime.engine.pid
        assert pgid is not None and group_members(pgid)
    finally:
        await runtime.close()
    assert runtime.engine.state is EngineState.STOPPED
    assert group_members(pgid) == []  # no orphaned server process


async def test_a_failed_start_leaves_nothing_running(tmp_path: Path) -> None:
    settings = Settings(engine={"vllm_executable": str(tmp_path / "no-such-vllm")})  # type: ignore[arg-type]
    from qwen3vl_agent.errors import EngineStartError

    with pytest.raises(EngineStartError, match="not installed"):
        await build_runtime(settings, cache_path=tmp_path / "c.sqlite3")


@pytest.mark.engine
async def test_a_recorded_running_engine_is_reused_and_left_running(
    tiny_engine, tiny_model_dir: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    from qwen3vl_agent.engine.state_file import write_record

    write_record(tiny_engine.engine, detached=True)  # what `engine start --detach` leaves behind
    settings = Settings(engine=tiny_engine_settings(tiny_model_dir))
    runtime = await build_runtime(settings, cache_path=tmp_path / "c.sqlite3")
    try:
        assert runtime.engine is None and runtime.reused is not None
        assert runtime.reused.base_url == tiny_engine.base_url
        result = await runtime.service.submit(question("reuse me"))
        assert result.endpoint == tiny_engine.base_url and result.model == tiny_engine.served_model_name
    finally:
        await runtime.close()
    assert tiny_engine.engine.state is EngineState.READY  # closing the runtime did not stop it


async def test_a_recorded_engine_for_another_model_is_not_reused(tmp_path: Path) -> None:
    import json
    import os

    from qwen3vl_agent.engine.state_file import state_path
    from qwen3vl_agent.runtime import running_engine

    path = state_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "pid": os.getpid(), "port": 1, "base_url": "http://127.0.0.1:1/v1", "api_key_path": str(tmp_path / "k"),
        "log_path": "x", "model": "other/model", "served_model_name": "other/model", "detached": True,
        "owner_pid": 1, "started_at": 0.0,
    }  # fmt: skip
    path.write_text(json.dumps(record))
    assert running_engine(Settings()) is None  # alive (this process), but another model
    record["model"] = record["served_model_name"] = Settings().engine.model
    path.write_text(json.dumps(record))
    assert running_engine(Settings()) is not None
