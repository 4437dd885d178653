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
