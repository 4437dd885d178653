"""Two app instances (two processes building a managed runtime at the same moment) share ONE real
vLLM: the second finds the first's engine instead of starting its own; the engine stays while
either uses it, and goes with the last one. Starts a tiny engine, so it is slow."""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from qwen3vl_agent.engine.managed import API_SERVER_MODULE
from qwen3vl_agent.engine.processes import group_members
from qwen3vl_agent.engine.state_file import read_record

pytestmark = [pytest.mark.engine, pytest.mark.slow]

REPO_ROOT = Path(__file__).resolve().parents[2]

APP = """
import asyncio, sys
sys.path.insert(0, {repo!r})
from pathlib import Path
from qwen3vl_agent.config import Settings
from qwen3vl_agent.inference.request import CachePolicy, InferenceRequest, Message, SamplingParams
from qwen3vl_agent.runtime import build_runtime
from tests.support.engine_fixtures import tiny_engine_settings

async def main():
    settings = Settings(engine=tiny_engine_settings(Path({model!r})))
    rt = await build_runtime(settings, cache_path=Path(sys.argv[1]))
    print("ready", flush=True)
    loop = asyncio.get_running_loop()
    while True:
        command = (await loop.run_in_executor(None, sys.stdin.readline)).strip()
        if command == "ask":
            request = InferenceRequest(
                messages=[Message.user("hi")], sampling=SamplingParams.greedy(4), cache=CachePolicy(use=False)
            )
            result = await rt.service.submit(request)
            print("answer", result.usage.completion_tokens, flush=True)
        else:
            await rt.close()
            print("closed", flush=True)
            return

asyncio.run(main())
"""


def _line(proc: subprocess.Popen[str], timeout_s: float) -> str:
    assert proc.stdout is not None
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    return proc.stdout.readline().strip() if sel.select(timeout_s) else ""


def _say(proc: subprocess.Popen[str], command: str) -> None:
    assert proc.stdin is not None
    proc.stdin.write(command + "\n")
    proc.stdin.flush()


def _ours(home: Path) -> list[tuple[int, int, list[str]]]:
    """(pid, ppid, argv) of every process started with this test's app home."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            env = (entry / "environ").read_bytes().split(b"\0")
            argv = [a.decode() for a in (entry / "cmdline").read_bytes().split(b"\0") if a]
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if f"QWEN3VL_AGENT_HOME={home}".encode() in env and argv:
            ppid = int(stat[stat.rfind(")") + 2 :].split()[1])
            found.append((int(entry.name), ppid, argv))
    return found


def _servers(home: Path) -> tuple[list[int], list[int]]:
    """Engine guards, and vLLM API servers that a guard started (not their forked children)."""
    procs = _ours(home)
    guards = [pid for pid, _, argv in procs if "qwen3vl_agent.engine.group_guard" in argv]
    servers = [pid for pid, ppid, argv in procs if argv[1:3] == ["-m", API_SERVER_MODULE] and ppid in guards]
    return guards, servers


def _logs(home: Path) -> str:
    return "\n".join(f"{p.name}: {p.read_text()[-1500:]}" for p in sorted((home / "logs").glob("*.log")))


def test_two_instances_share_one_engine(tiny_model_dir: Path, app_home: Path, tmp_path: Path) -> None:
    script = APP.format(repo=str(REPO_ROOT), model=str(tiny_model_dir))
    apps = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(tmp_path / f"cache-{n}.sqlite3")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for n in (1, 2)
    ]
    try:
        for app in apps:
            assert _line(app, 600) == "ready", _logs(app_home)
        guards, servers = _servers(app_home)
        assert len(guards) == 1 and len(servers) == 1, _ours(app_home)
        pgid = guards[0]
        record = read_record()
        assert record is not None and record.pid == pgid
        owner = next(a for a in apps if a.pid == record.owner_pid)
        other = next(a for a in apps if a is not owner)

        _say(owner, "close")  # the instance that started the engine quits first
        assert _line(owner, 120) == "closed"
        owner.wait(30)
        _say(other, "ask")  # the other one still has its engine
        answer = _line(other, 300)
        assert answer.startswith("answer") and int(answer.split()[1]) > 0, answer
        assert _servers(app_home) == (guards, servers)  # the very same server, no second one

        _say(other, "close")  # the last user leaves: the engine goes with it
        assert _line(other, 120) == "closed"
        end = time.monotonic() + 60
        while time.monotonic() < end and group_members(pgid):
            time.sleep(0.2)
        assert group_members(pgid) == []
        assert _servers(app_home) == ([], [])
    finally:
        for app in apps:
            if app.poll() is None:
                app.kill()
                app.wait()
        for pid, _, _ in _ours(app_home):  # nothing may outlive a failed test
            if pid != os.getpid():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
