"""One engine per user: a second instance adopts the recorded engine instead of starting its own;
the engine outlives the instance that started it while another one uses it, and goes with the
last user. A stand-in server (a few lines of Python answering /health) keeps these fast;
tests/engine/test_engine_no_orphan.py runs two app processes on the real tiny vLLM.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import sys
import time
from pathlib import Path

from qwen3vl_agent.config import EngineSettings
from qwen3vl_agent.engine.processes import group_members, signal_group
from qwen3vl_agent.engine.shared import SharedEngine
from qwen3vl_agent.engine.state_file import read_record
from qwen3vl_agent.engine.status import EngineState
from qwen3vl_agent.log_names import instance_log_name
from tests.support.standin_server import SERVER


def _engine(log_dir: Path, *, restart: bool = False) -> SharedEngine:
    settings = EngineSettings(
        launcher="python-module",
        python_executable=sys.executable,
        served_model_name="m",
        restart_on_crash=restart,
    )
    engine = SharedEngine(settings, log_dir, stop_grace_s=5)
    engine.command = lambda port: [sys.executable, "-c", SERVER, str(port)]  # type: ignore[method-assign]
    return engine


async def _gone(pgid: int, within_s: float) -> bool:
    end = time.monotonic() + within_s
    while time.monotonic() < end and group_members(pgid):
        await asyncio.sleep(0.1)
    return not group_members(pgid)


async def test_second_instance_adopts_and_the_engine_lives_until_its_last_user_leaves(tmp_path: Path) -> None:
    first, second = _engine(tmp_path), _engine(tmp_path)
    await asyncio.gather(first.start(), second.start())  # both at once: the lock lets one start
    try:
        owner, user = (first, second) if first.adopted is None else (second, first)
        assert owner.adopted is None and user.adopted is not None
        pgid = owner.pid
        assert pgid is not None and user.pid == pgid and user.base_url == owner.base_url
        assert user.api_key == owner.api_key and user.state is EngineState.READY
        record = read_record()
        assert record is not None and record.pid == pgid and record.users_dir

        await owner.stop()  # the instance that started it quits while the other still uses it
        assert owner.state is EngineState.STOPPED
        await asyncio.sleep(2.5)  # a few lease checks of the guard
        assert group_members(pgid), "the engine was stopped under its other user"
        assert user.pid == pgid

        await user.stop()  # the last user leaves: the guard sees no lease and stops the server
        assert await _gone(pgid, 30)
    finally:
        await first.stop()
        await second.stop()


async def test_an_instance_whose_shared_engine_dies_starts_its_own(tmp_path: Path) -> None:
    owner, user = _engine(tmp_path), _engine(tmp_path, restart=True)  # the owner does not restart
    await owner.start()
    await user.start()
    try:
        assert user.adopted is not None
        old = owner.pid
        assert old is not None
        signal_group(old, signal.SIGKILL)  # the shared engine dies
        for _ in range(200):
            if user.adopted is None and user.state is EngineState.READY and user.pid not in (None, old):
                break
            await asyncio.sleep(0.1)
        assert user.adopted is None and user.state is EngineState.READY
        new = user.pid
        assert new is not None and new != old and group_members(new)
        record = read_record()
        assert record is not None and record.pid == new  # recorded for the next instance
    finally:
        await user.stop()
        await owner.stop()


def test_log_names_are_per_instance(tmp_path: Path) -> None:

    assert instance_log_name(tmp_path, "app") == "app.log"
    assert instance_log_name(tmp_path, "app") == "app.log"  # stable within a process
    code = (
        "import sys; from pathlib import Path; sys.path.insert(0, sys.argv[2]);"
        "from qwen3vl_agent.log_names import instance_log_name;"
        "print(instance_log_name(Path(sys.argv[1]), 'app'))"
    )
    repo = str(Path(__file__).resolve().parents[2])
    other = subprocess.run([sys.executable, "-c", code, str(tmp_path), repo], capture_output=True, text=True)
    assert other.stdout.strip() == "app-2.log", other.stderr  # this process holds the first slot


APP = """
import asyncio, sys
sys.path.insert(0, {repo!r})
from pathlib import Path
from qwen3vl_agent.config import EngineSettings
from qwen3vl_agent.engine.shared import SharedEngine

async def main():
    settings = EngineSettings(launcher="python-module", python_executable=sys.executable, served_model_name="m",
                              restart_on_crash=False)
    engine = SharedEngine(settings, Path({logs!r}), stop_grace_s=5)
    engine.command = lambda port: [sys.executable, "-c", {server!r}, str(port)]
    await engine.start()
    print(engine.pid, flush=True)
    await asyncio.sleep(3600)

asyncio.run(main())
"""


def test_engine_status_and_stop_handle_an_apps_shared_engine_without_touching_the_app(tmp_path: Path) -> None:
    import json
    import os
    import selectors

    repo = str(Path(__file__).resolve().parents[2])
    app = subprocess.Popen(
        [sys.executable, "-c", APP.format(repo=repo, logs=str(tmp_path), server=SERVER)],
        stdout=subprocess.PIPE,
        text=True,
    )
    pgid = 0
    try:
        assert app.stdout is not None
        sel = selectors.DefaultSelector()
        sel.register(app.stdout, selectors.EVENT_READ)
        assert sel.select(60), "the app did not start its engine"
        pgid = int(app.stdout.readline())

        def cli(*args: str) -> subprocess.CompletedProcess[str]:
            argv = [sys.executable, "-m", "qwen3vl_agent", "engine", *args]
            return subprocess.run(argv, capture_output=True, text=True, timeout=120)

        status = cli("status", "--json")
        assert status.returncode == 0, status.stdout + status.stderr
        info = json.loads(status.stdout)
        assert info["pid"] == pgid and info["user_pids"] == [app.pid]
        assert "shared by 1 running instance" in cli("status").stdout

        stopped = cli("stop", "--grace", "5")
        assert stopped.returncode == 0 and "Engine stopped" in stopped.stdout, stopped.stderr
        assert group_members(pgid) == []  # the lease of the running app did not keep it
        assert app.poll() is None  # and the app itself was not signalled
        assert read_record() is None
    finally:
        app.kill()
        app.wait()
        if pgid:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
