"""One engine per user: a second instance adopts the recorded engine instead of starting its own;
the engine outlives the instance that started it while another one uses it, and goes with the
last user. A stand-in server (a few lines of Python answering /health) keeps these fast;
tests/engine/test_engine_no_orphan.py runs two app processes on the real tiny vLLM.
"""

from __future__ import annotations

import asyncio
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

SERVER = """
import http.server, sys, threading, time
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.send_header("Content-Length", "2"); self.end_headers()
        self.wfile.write(b"ok")
    def log_message(self, *a): pass
srv = http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H)
threading.Thread(target=srv.serve_forever, daemon=True).start()
while True:
    time.sleep(0.1)
"""


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
