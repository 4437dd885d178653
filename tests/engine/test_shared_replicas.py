"""engine.replicas shared like one engine: a second instance adopts the whole recorded group (all
its servers in its endpoint pool), every replica outlives the instance that started it (even a
SIGKILLed one) while another user holds a lease, and the last user leaving stops them all.
Stand-in servers (tests/engine/test_shared_engine.py's) keep it fast; it needs no vLLM.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from qwen3vl_agent.config import EngineSettings
from qwen3vl_agent.engine.endpoints import EndpointPool
from qwen3vl_agent.engine.processes import group_members
from qwen3vl_agent.engine.replicas import EngineReplicas
from qwen3vl_agent.engine.state_file import read_record
from qwen3vl_agent.engine.status import EngineState
from tests.support.standin_server import SERVER


def _settings(restart: bool = False) -> EngineSettings:
    return EngineSettings(
        launcher="python-module",
        python_executable=sys.executable,
        served_model_name="m",
        restart_on_crash=restart,
        replicas=2,
        replica_start_stagger_s=0,
    )


def _group(log_dir: Path, *, restart: bool = False) -> EngineReplicas:
    group = EngineReplicas(_settings(restart), log_dir, stop_grace_s=5, count=2, shared=True)
    for replica in group.replicas:
        replica.command = lambda port: [sys.executable, "-c", SERVER, str(port)]  # type: ignore[method-assign]
    return group


async def _all_gone(pgids: list[int], within_s: float) -> bool:
    end = time.monotonic() + within_s
    while time.monotonic() < end and any(group_members(p) for p in pgids):
        await asyncio.sleep(0.1)
    return not any(group_members(p) for p in pgids)


def _routes(group: EngineReplicas) -> set[str]:
    """The URLs an instance's endpoint pool sends requests to (as runtime.build_runtime wires it)."""
    pool = EndpointPool([], group.settings)
    pool.attach_managed(group)
    picked = set()
    for _ in range(4):
        endpoint = pool.acquire()
        picked.add(endpoint.base_url)
    return picked


async def test_two_instances_share_one_set_of_replicas_until_the_last_user_leaves(tmp_path: Path) -> None:
    first, second = _group(tmp_path), _group(tmp_path)
    await asyncio.gather(first.start(), second.start())  # both at once: one starts, one adopts
    try:
        owner, user = (first, second) if first.members[0].adopted is None else (second, first)
        assert all(m.adopted is None for m in owner.members)
        assert all(m.adopted is not None for m in user.members)
        urls = [r.base_url for r in owner.replicas]
        pgids = [p for p in (r.pid for r in owner.replicas) if p is not None]
        assert len(set(urls)) == 2 and len(set(pgids)) == 2
        assert [r.base_url for r in user.replicas] == urls and [r.pid for r in user.replicas] == pgids
        assert user.api_key == owner.api_key and user.state is EngineState.READY
        record = read_record()
        assert record is not None and record.replica_urls() == urls and record.users_dir
        assert _routes(owner) == set(urls) and _routes(user) == set(urls)  # both route to both

        await owner.stop()  # the starter quits while the other instance uses the replicas
        await asyncio.sleep(2.5)  # a few lease checks of the guards
        assert all(group_members(p) for p in pgids), "a replica was stopped under its other user"
        async with httpx.AsyncClient() as http:
            for url in urls:
                assert (await http.get(url.removesuffix("/v1") + "/health")).status_code == 200

        await user.stop()  # the last user leaves: every replica goes
        assert await _all_gone(pgids, 30)
        assert read_record() is None or not read_record().alive()  # type: ignore[union-attr]
    finally:
        await first.stop()
        await second.stop()


async def test_a_crashed_replica_restarted_by_its_starter_is_adopted_again(tmp_path: Path) -> None:
    owner = _group(tmp_path / "owner", restart=True)
    await owner.start()
    user = _group(tmp_path / "user")
    await user.start()
    try:
        assert all(m.adopted is not None for m in user.members)
        old = owner.replicas[1].pid
        assert old is not None
        os.killpg(old, signal.SIGKILL)  # replica 2 crashes; its starter's watchdog restarts it
        for _ in range(300):
            new = owner.replicas[1].pid
            if new not in (None, old) and user.replicas[1].pid == new and user.state is EngineState.READY:
                break
            await asyncio.sleep(0.1)
        new = owner.replicas[1].pid
        assert new not in (None, old) and user.replicas[1].pid == new  # the user follows the restart
        assert user.replicas[1].base_url == owner.replicas[1].base_url
        assert user.replicas[0].pid == owner.replicas[0].pid  # the other replica was left alone
        record = read_record()
        assert record is not None and record.replica_pids()[1] == new
    finally:
        await user.stop()
        await owner.stop()


APP = """
import asyncio, sys
sys.path.insert(0, {repo!r})
from pathlib import Path
from qwen3vl_agent.config import EngineSettings
from qwen3vl_agent.engine.replicas import EngineReplicas

async def main():
    settings = EngineSettings(launcher="python-module", python_executable=sys.executable, served_model_name="m",
                              restart_on_crash=False, replicas=2, replica_start_stagger_s=0)
    group = EngineReplicas(settings, Path({logs!r}), stop_grace_s=5, count=2, shared=True)
    for replica in group.replicas:
        replica.command = lambda port: [sys.executable, "-c", {server!r}, str(port)]
    await group.start()
    print(" ".join(str(r.pid) for r in group.replicas), flush=True)
    await asyncio.sleep(3600)

asyncio.run(main())
"""


async def test_replicas_survive_a_sigkilled_starter_for_the_other_instance(tmp_path: Path) -> None:
    repo = str(Path(__file__).resolve().parents[2])
    app = subprocess.Popen(
        [sys.executable, "-c", APP.format(repo=repo, logs=str(tmp_path / "app"), server=SERVER)],
        stdout=subprocess.PIPE,
        text=True,
    )
    pgids: list[int] = []
    user = _group(tmp_path / "user")
    try:
        assert app.stdout is not None
        sel = selectors.DefaultSelector()
        sel.register(app.stdout, selectors.EVENT_READ)
        assert await asyncio.to_thread(sel.select, 60), "the app did not start its replicas"
        pgids = [int(p) for p in app.stdout.readline().split()]
        assert len(pgids) == 2

        await user.start()
        assert [r.pid for r in user.replicas] == pgids  # adopted, not started again

        app.kill()  # SIGKILL: no clean stop; the guards get their parent-death SIGTERM
        app.wait()
        await asyncio.sleep(3)
        assert all(group_members(p) for p in pgids), "the starter's death took a replica from its user"
        assert user.state is EngineState.READY and _routes(user) == {r.base_url for r in user.replicas}

        await user.stop()
        assert await _all_gone(pgids, 30)
    finally:
        app.kill()
        app.wait()
        await user.stop()
        for pgid in pgids:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
