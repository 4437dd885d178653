"""No orphaned server: SIGKILL the process that started the engine and every engine process dies."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from qwen3vl_agent.engine.processes import group_members, pid_alive

pytestmark = [pytest.mark.engine, pytest.mark.slow]

REPO_ROOT = Path(__file__).resolve().parents[2]

APP_SCRIPT = """
import asyncio, sys
sys.path.insert(0, {repo!r})
from pathlib import Path
from qwen3vl_agent.engine.managed import ManagedEngine
from tests.support.engine_fixtures import tiny_engine_settings

async def main():
    engine = ManagedEngine(tiny_engine_settings(Path({model!r})), Path({logs!r}))
    await engine.start()
    print(engine.pid, engine.server_pid, flush=True)
    await asyncio.sleep(3600)

asyncio.run(main())
"""


def _read_line(proc: subprocess.Popen, timeout_s: float) -> str:
    assert proc.stdout is not None
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    if not sel.select(timeout_s):
        return ""
    return proc.stdout.readline()


def test_sigkilled_app_leaves_no_engine_process(tiny_model_dir: Path, tmp_path: Path) -> None:
    script = APP_SCRIPT.format(repo=str(REPO_ROOT), model=str(tiny_model_dir), logs=str(tmp_path))
    app = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        line = _read_line(app, 600)
        assert line, f"engine did not start; log:\n{(tmp_path / 'vllm-server.log').read_text()[-3000:]}"
        pgid, server = (int(x) for x in line.split())
        members = group_members(pgid)
        assert server in members and len(members) >= 3  # guard, API server, engine core (+ workers)
    finally:
        os.kill(app.pid, signal.SIGKILL)  # the app dies without any chance to clean up
        app.wait()
    end = time.monotonic() + 90
    while time.monotonic() < end and group_members(pgid):
        time.sleep(0.2)
    assert group_members(pgid) == []
    assert not pid_alive(server)


STARTING_APP_SCRIPT = """
import asyncio, sys
sys.path.insert(0, {repo!r})
from pathlib import Path
from qwen3vl_agent.engine.managed import ManagedEngine
from tests.support.engine_fixtures import tiny_engine_settings

async def main():
    # a grace far longer than the test waits: only the 'not ready yet' rule can end it in time
    engine = ManagedEngine(tiny_engine_settings(Path({model!r})), Path({logs!r}), stop_grace_s=600)
    task = asyncio.create_task(engine.start())
    while engine.server_pid is None:
        await asyncio.sleep(0.05)
    print(engine.pid, engine.server_pid, flush=True)
    await task

asyncio.run(main())
"""


def _server_output(log: Path) -> list[str]:
    """Lines vLLM itself wrote (not the app's header or the guard's notes)."""
    lines = log.read_text(errors="replace").splitlines()
    return [x for x in lines if x.strip() and not x.startswith(("===", "group_guard:"))]


def test_app_killed_while_the_engine_starts_takes_it_down_at_once(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    """vLLM ignores SIGTERM while it loads; the guard must not wait out its grace for it."""
    script = STARTING_APP_SCRIPT.format(repo=str(REPO_ROOT), model=str(tiny_model_dir), logs=str(tmp_path))
    app = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    log = tmp_path / "vllm-server.log"
    try:
        line = _read_line(app, 120)
        assert line, f"the engine process did not appear; log:\n{log.read_text()[-3000:]}"
        pgid, server = (int(x) for x in line.split())
        # let vLLM get into its start-up (past its imports, into argument parsing / model loading)
        end = time.monotonic() + 120
        while time.monotonic() < end and not _server_output(log):
            time.sleep(0.2)
        time.sleep(2.0)
        assert pid_alive(server), f"the server died on its own; log:\n{log.read_text()[-3000:]}"
        assert "Application startup complete" not in log.read_text()  # still starting
    finally:
        os.kill(app.pid, signal.SIGKILL)
        app.wait()
    end = time.monotonic() + 30  # far below the 600 s grace the engine was given
    while time.monotonic() < end and group_members(pgid):
        time.sleep(0.1)
    assert group_members(pgid) == [], log.read_text()[-2000:]
    assert "killing it at once" in log.read_text()
