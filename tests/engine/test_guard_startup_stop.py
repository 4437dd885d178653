"""The guard's stop rule: before the engine is ready, the group dies at once (vLLM ignores SIGTERM
while it loads); once ready, the server gets SIGTERM and its grace.

The "servers" here are a few lines of Python standing in for vLLM, so the rule is checked in
seconds; tests/engine/test_engine_no_orphan.py checks the same with the real tiny vLLM.
"""

from __future__ import annotations

import asyncio
import os
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

from qwen3vl_agent.config import EngineSettings
from qwen3vl_agent.engine.managed import ManagedEngine
from qwen3vl_agent.engine.processes import group_members
from tests.support.standin_server import POLITE_SERVER

REPO_ROOT = Path(__file__).resolve().parents[2]

# Ignores SIGTERM like a loading vLLM, forks a child like vLLM's engine core, never gets healthy.
DEAF_LOADER = (
    "import signal, subprocess, time; signal.signal(signal.SIGTERM, signal.SIG_IGN);"
    "subprocess.Popen(['sleep', '600']); time.sleep(600)"
)

APP = """
import asyncio, sys
sys.path.insert(0, {repo!r})
from pathlib import Path
from qwen3vl_agent.config import EngineSettings
from qwen3vl_agent.engine.managed import ManagedEngine

async def main():
    settings = EngineSettings(launcher="python-module", python_executable=sys.executable)
    engine = ManagedEngine(settings, Path({logs!r}), stop_grace_s=600)
    engine.command = lambda port: [sys.executable, "-c", {server!r}]
    task = asyncio.create_task(engine.start())
    while engine.server_pid is None:
        await asyncio.sleep(0.05)
    print(engine.pid, flush=True)
    await task

asyncio.run(main())
"""


def _settings() -> EngineSettings:
    return EngineSettings(launcher="python-module", python_executable=sys.executable, startup_timeout_s=600)


def test_sigkilled_app_takes_a_starting_engine_down_without_the_grace(tmp_path: Path) -> None:
    script = APP.format(repo=str(REPO_ROOT), logs=str(tmp_path), server=DEAF_LOADER)
    app = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert app.stdout is not None
        sel = selectors.DefaultSelector()
        sel.register(app.stdout, selectors.EVENT_READ)
        assert sel.select(60), "the stand-in server did not start"
        pgid = int(app.stdout.readline())
        end = time.monotonic() + 30
        while time.monotonic() < end and len(group_members(pgid)) < 3:
            time.sleep(0.05)
        assert len(group_members(pgid)) >= 3  # guard, server, server's child
    finally:
        os.kill(app.pid, signal.SIGKILL)
        app.wait()
    end = time.monotonic() + 30  # the grace is 600 s: only the not-ready rule ends it in time
    while time.monotonic() < end and group_members(pgid):
        time.sleep(0.1)
    assert group_members(pgid) == []
    assert "killing it at once" in (tmp_path / "vllm-server.log").read_text()


async def test_stop_of_a_starting_engine_does_not_wait_for_the_grace(tmp_path: Path) -> None:
    engine = ManagedEngine(_settings(), tmp_path, stop_grace_s=600)
    engine.command = lambda port: [sys.executable, "-c", DEAF_LOADER]  # type: ignore[method-assign]
    task = asyncio.create_task(engine.start())
    for _ in range(200):
        if engine.pid and len(group_members(engine.pid)) >= 3:
            break
        await asyncio.sleep(0.05)
    pgid = engine.pid
    assert pgid is not None
    await asyncio.wait_for(engine.stop(), 60)  # with the grace it would take 600 s
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert group_members(pgid) == []


async def test_a_ready_engine_is_stopped_with_sigterm_not_killed(tmp_path: Path) -> None:
    engine = ManagedEngine(_settings(), tmp_path, stop_grace_s=30)
    engine.command = lambda port: [sys.executable, "-c", POLITE_SERVER, str(port)]  # type: ignore[method-assign]
    await engine.start()
    pgid = engine.pid
    assert pgid is not None
    await asyncio.sleep(0.3)  # the ready signal is asynchronous
    await engine.stop()
    assert group_members(pgid) == []
    text = engine.log_path.read_text()
    assert "got SIGTERM, shutting down" in text
    assert "killing it at once" not in text
