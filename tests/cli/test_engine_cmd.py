"""`qwen3vl-agent engine start|status|stop` as a user runs them: separate processes, a real engine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from qwen3vl_agent.config import Settings, save_settings
from qwen3vl_agent.engine.processes import group_members
from qwen3vl_agent.engine.state_file import read_record
from tests.support.engine_fixtures import tiny_engine_settings


def agent(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "qwen3vl_agent", *args], capture_output=True, text=True, timeout=timeout
    )


def test_status_and_stop_without_an_engine() -> None:
    status = agent("engine", "status")
    assert status.returncode == 1 and "No engine is running" in status.stdout
    stop = agent("engine", "stop")
    assert stop.returncode == 0 and "No engine is running" in stop.stdout


def test_start_without_vllm_is_one_clear_line(tmp_path: Path) -> None:
    save_settings(Settings(engine={"vllm_executable": str(tmp_path / "no-vllm")}))
    result = agent("engine", "start")
    assert result.returncode == 2
    assert "vLLM is not installed" in result.stderr and "Traceback" not in result.stderr


def test_status_during_an_automatic_restart_says_so_and_keeps_the_record() -> None:
    """The server's process is gone while its owner (here: this test process) lives."""
    from dataclasses import asdict

    from qwen3vl_agent.engine.state_file import EngineRecord, state_path

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    record = EngineRecord(
        pid=gone.pid, port=1, base_url="http://127.0.0.1:1", api_key_path="", log_path="", model="m",
        served_model_name="m", detached=False, owner_pid=os.getpid(), started_at=time.time(),
    )  # fmt: skip
    state_path().parent.mkdir(parents=True, exist_ok=True)
    state_path().write_text(json.dumps(asdict(record)), encoding="utf-8")
    status = agent("engine", "status")
    assert status.returncode == 1 and "restarting" in status.stdout and "No engine" not in status.stdout
    assert json.loads(agent("engine", "status", "--json").stdout)["restarting"] is True
    assert read_record() == record  # not cleared as a stale one: the owner writes the new pid


@pytest.mark.engine
@pytest.mark.slow
def test_detached_engine_outlives_start_and_is_stopped_by_stop(tiny_model_dir: Path) -> None:
    save_settings(Settings(engine=tiny_engine_settings(tiny_model_dir)))
    started = agent("engine", "start", "--detach", timeout=600)
    assert started.returncode == 0, started.stderr[-2000:]
    assert "Engine ready" in started.stderr
    record = read_record()
    assert record is not None and record.detached
    try:
        status = agent("engine", "status", "--json")
        assert status.returncode == 0, status.stdout
        info = json.loads(status.stdout)
        assert info["healthy"] and info["base_url"] == record.base_url
        assert (os.stat(record.api_key_path).st_mode & 0o077) == 0  # the key file is owner-only
    finally:
        stopped = agent("engine", "stop")
    assert stopped.returncode == 0 and "Engine stopped" in stopped.stdout
    assert group_members(record.pid) == []
    assert read_record() is None
    assert agent("engine", "status").returncode == 1


@pytest.mark.engine
@pytest.mark.slow
def test_foreground_engine_is_stopped_from_another_terminal(tiny_model_dir: Path) -> None:
    save_settings(Settings(engine=tiny_engine_settings(tiny_model_dir)))
    fg = subprocess.Popen(
        [sys.executable, "-m", "qwen3vl_agent", "engine", "start"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        end = time.monotonic() + 600
        while time.monotonic() < end and read_record() is None and fg.poll() is None:
            time.sleep(0.5)
        record = read_record()
        assert record is not None and not record.detached, fg.stderr.read() if fg.poll() is not None else ""
        stopped = agent("engine", "stop")
        assert stopped.returncode == 0
        assert fg.wait(60) == 0
    finally:
        if fg.poll() is None:
            fg.kill()
            fg.wait()
    assert group_members(record.pid) == []
    assert "Engine stopped." in fg.stderr.read()


def test_status_and_stop_cover_every_replica(tmp_path: Path) -> None:
    """A record of two replicas (here two real process groups that answer no /health): `status`
    lists both as not answering, `stop` ends both groups and clears the record."""
    from qwen3vl_agent.engine.state_file import KEY_NAME, state_path

    groups = [
        subprocess.Popen(["sleep", "600"], start_new_session=True, stdin=subprocess.DEVNULL) for _ in range(2)
    ]
    try:
        key = state_path().parent / KEY_NAME
        state_path().parent.mkdir(parents=True, exist_ok=True)
        key.write_text("k\n")
        replicas = [
            {
                "pid": p.pid,
                "port": 9 + i,
                "base_url": f"http://127.0.0.1:{9 + i}/v1",
                "log_path": f"/x/{i}.log",
            }
            for i, p in enumerate(groups)
        ]
        record = {
            **{k: v for k, v in replicas[0].items()},
            "api_key_path": str(key),
            "model": "m",
            "served_model_name": "m",
            "detached": True,
            "owner_pid": os.getpid(),
            "started_at": time.time(),
            "replicas": replicas,
        }
        state_path().write_text(json.dumps(record))
        status = agent("engine", "status")
        assert status.returncode == 1
        assert "replica 1: not answering at http://127.0.0.1:9/v1" in status.stdout
        assert "replica 2: not answering at http://127.0.0.1:10/v1" in status.stdout
        info = json.loads(agent("engine", "status", "--json").stdout)
        assert [r["healthy"] for r in info["replicas"]] == [False, False]
        stopped = agent("engine", "stop", "--grace", "2")
        assert stopped.returncode == 0 and "Engine stopped" in stopped.stdout
        for p in groups:
            assert p.wait(10) is not None
        assert read_record() is None
    finally:
        for p in groups:
            if p.poll() is None:
                p.kill()
                p.wait()
