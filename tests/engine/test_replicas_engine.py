"""Two real (tiny, CPU) vLLM replicas: both serve, both are in the pool, both die with their owner."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from qwen3vl_agent.engine.processes import group_members

pytestmark = [pytest.mark.engine, pytest.mark.slow]

REPO_ROOT = Path(__file__).resolve().parents[2]

OWNER_SCRIPT = """
import asyncio, json, sys
sys.path.insert(0, {repo!r})
from pathlib import Path
from qwen3vl_agent.engine.client import OpenAIEngineClient
from qwen3vl_agent.engine.endpoints import EndpointPool
from qwen3vl_agent.engine.replicas import EngineReplicas
from tests.support.engine_fixtures import tiny_engine_settings
from tests.support.engine_requests import image_request

async def main():
    settings = tiny_engine_settings(Path({model!r}), replicas=2, replica_start_stagger_s=0)
    group = EngineReplicas(settings, Path({logs!r}))
    pool = EndpointPool([], settings)
    pool.attach_managed(group)
    await group.start()
    await pool.start()
    client = OpenAIEngineClient(pool, settings)
    results = await asyncio.gather(*(client.complete(image_request(max_tokens=2)) for _ in range(4)))
    print(json.dumps({{
        "pgids": [r.pid for r in group.replicas],
        "servers": [r.server_pid for r in group.replicas],
        "pool": pool.snapshot(),
        "served_by": sorted({{r.endpoint for r in results}}),
        "status": group.status.describe(),
    }}), flush=True)
    await asyncio.sleep(3600)

asyncio.run(main())
"""


def test_two_replicas_serve_from_one_pool_and_die_with_their_owner(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    script = OWNER_SCRIPT.format(repo=str(REPO_ROOT), model=str(tiny_model_dir), logs=str(tmp_path))
    owner = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    pgids: list[int] = []
    try:
        assert owner.stdout is not None
        line = owner.stdout.readline()  # the owner prints once both serve (or dies trying)
        logs = "".join(p.read_text()[-2000:] for p in sorted(tmp_path.glob("vllm-server*.log")))
        assert line, f"the replicas did not start; logs:\n{logs}"
        seen = json.loads(line)
        pgids = seen["pgids"]
        assert len(set(pgids)) == 2 and all(seen["servers"])
        urls = [e["url"] for e in seen["pool"]]
        assert len(set(urls)) == 2 and all(e["managed"] and e["healthy"] for e in seen["pool"])
        assert sorted(seen["served_by"]) == sorted(urls)  # least-outstanding spread the four requests
        assert "2/2 replicas ready" in seen["status"]
        assert {p.name for p in tmp_path.glob("vllm-server*.log")} == {
            "vllm-server.log",
            "vllm-server-replica-2.log",
        }
        for pgid in pgids:
            assert len(group_members(pgid)) >= 3  # guard, API server, engine core
    finally:
        os.kill(owner.pid, signal.SIGKILL)  # the owner dies without any chance to clean up
        owner.wait()
    end = time.monotonic() + 90
    while time.monotonic() < end and any(group_members(p) for p in pgids):
        time.sleep(0.2)
    assert [group_members(p) for p in pgids] == [[], []]
