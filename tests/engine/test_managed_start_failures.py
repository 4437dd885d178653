"""The managed engine turns a failed start into a clear EngineStartError and leaves nothing running."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest

from qwen3vl_agent.config import EngineSettings
from qwen3vl_agent.engine.managed import ManagedEngine
from qwen3vl_agent.engine.processes import group_members
from qwen3vl_agent.engine.status import EngineState
from qwen3vl_agent.errors import EngineStartError
from tests.support.engine_fixtures import tiny_engine_settings


async def test_missing_vllm_executable_is_reported_as_not_installed(tmp_path: Path) -> None:
    engine = ManagedEngine(EngineSettings(vllm_executable=str(tmp_path / "no-such-vllm")), tmp_path)
    with pytest.raises(EngineStartError, match="vLLM is not installed"):
        await engine.start()
    assert engine.pid is None


async def test_python_without_vllm_is_reported_as_not_installed(tmp_path: Path) -> None:
    # The app's own interpreter has no vLLM: the server really starts and dies on the import.
    settings = EngineSettings(
        launcher="python-module", python_executable=sys.executable, startup_timeout_s=120
    )
    engine = ManagedEngine(settings, tmp_path)
    seen = []
    engine.add_listener(lambda status: seen.append(status.state))
    with pytest.raises(EngineStartError, match="not installed in the engine's Python") as info:
        await engine.start()
    assert engine.state == EngineState.FAILED and seen[-1] == EngineState.FAILED
    assert str(engine.log_path) in str(info.value)
    assert "No module named" in engine.log_path.read_text()


@pytest.mark.engine
async def test_missing_model_is_reported_as_not_found(tmp_path: Path, tiny_model_dir: Path) -> None:
    settings = tiny_engine_settings(tmp_path / "no-such-model", startup_timeout_s=300)
    engine = ManagedEngine(settings, tmp_path)
    with pytest.raises(EngineStartError, match="model was not found"):
        await engine.start()
    assert engine.pid is None


@pytest.mark.engine
async def test_taken_port_is_reported(tmp_path: Path, tiny_model_dir: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        engine = ManagedEngine(tiny_engine_settings(tiny_model_dir, port=port), tmp_path)
        with pytest.raises(EngineStartError, match="port is already in use"):
            await engine.start()
    assert engine.pid is None


async def test_stop_leaves_no_process_of_the_group(tmp_path: Path) -> None:
    # A stand-in server (sleep) that never becomes healthy; stop() must take its whole group down.
    settings = EngineSettings(
        launcher="python-module",
        python_executable=sys.executable,
        startup_timeout_s=600,
    )
    engine = ManagedEngine(settings, tmp_path, stop_grace_s=2)
    engine.command = lambda port: [
        sys.executable,
        "-c",
        "import subprocess,time; subprocess.Popen(['sleep','300']); time.sleep(300)",
    ]  # type: ignore[method-assign]
    import asyncio

    task = asyncio.create_task(engine.start())
    for _ in range(100):
        if engine.pid and len(group_members(engine.pid)) >= 3:
            break
        await asyncio.sleep(0.05)
    pgid = engine.pid
    assert pgid is not None and len(group_members(pgid)) >= 3  # guard, server, server's child
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await engine.stop()
    assert group_members(pgid) == []


async def test_server_dies_with_its_guard_even_when_the_guard_is_sigkilled(tmp_path: Path) -> None:
    import asyncio
    import os
    import signal

    from qwen3vl_agent.engine.processes import children_of, pid_alive

    engine = ManagedEngine(
        EngineSettings(launcher="python-module", python_executable=sys.executable), tmp_path
    )
    engine.command = lambda port: [sys.executable, "-c", "import time; time.sleep(300)"]  # type: ignore[method-assign]
    task = asyncio.create_task(engine.start())
    for _ in range(100):
        if engine.pid and children_of(engine.pid):
            break
        await asyncio.sleep(0.05)
    guard = engine.pid
    assert guard is not None
    server = children_of(guard)[0]
    os.kill(guard, signal.SIGKILL)  # no chance for the guard to forward anything
    for _ in range(100):
        if not pid_alive(server):
            break
        await asyncio.sleep(0.05)
    assert not pid_alive(server)  # the kernel's parent-death signal reached the server
    task.cancel()
    with pytest.raises((asyncio.CancelledError, EngineStartError)):
        await task
    await engine.stop()


@pytest.mark.parametrize("flags", [["--api-server-count", "4"], ["--api-server-count=2"], ["--headless"]])
async def test_a_serve_only_flag_on_the_module_launcher_is_refused_not_ignored(
    tmp_path: Path, flags: list[str]
) -> None:
    # vllm.entrypoints.openai.api_server takes these flags and runs one API server anyway
    settings = EngineSettings(launcher="python-module", python_executable=sys.executable, extra_args=flags)
    engine = ManagedEngine(settings, tmp_path)
    with pytest.raises(EngineStartError, match=f"{flags[0].split('=')[0]} needs `vllm serve`") as info:
        await engine.start()
    assert info.value.hint and "engine.launcher = vllm-serve" in info.value.hint
    assert engine.pid is None and not engine.log_path.exists()  # refused before anything started
