"""Several vLLM servers on one GPU, run by the app as one engine (`engine.replicas = auto|N`).

Why: one vLLM server is bound by two single-threaded processes (the API server and EngineCore),
not by the GPU. On one H200 a 4B model served 19 req/s with the GPU 57 % busy from one server,
and 29.9 req/s at 97 % from three servers sharing its memory (docs/benchmarks.md, "H200").
The endpoint pool already routes least-outstanding, so the replicas are simply N endpoints.

Each replica is a `ManagedEngine` of its own (its own group guard, so no orphans; its own
watchdog, so a crash restarts only that one; its own log: `vllm-server.log` for the first,
`vllm-server-replica-2.log` … for the others), with `gpu_memory_utilization / N` of the GPU and the
same API key and model name. They start one after the other, each once the previous one serves:
vLLM sizes its KV cache from the GPU memory it sees used while it profiles, so replicas loading at
the same time take each other's memory for their own (on the H200, three started 20 s apart on a
cold machine: the first found "no available memory for the cache blocks").
`replica_start_stagger_s` overrides this (start after that many seconds even if the previous one
is not up: only where memory is not shared, e.g. the CPU build's fixed KV space).

Shared (`shared=True`, the app's default): every replica is a `SharedEngine` member and the group
goes through `shared.join_or_start`, the one adopt-or-start step: an instance finding a live
recorded group adopts it whole (member i takes server i, each leased in the group's users
folder, so its pool routes to all of them), else it starts all replicas, leases them in one new
users folder and records them as one engine. So the replicas outlive their starter (even a
SIGKILLed one) while another instance uses them, and go with the last user.

`auto` (see `auto_replicas`): one replica per `replica_min_gpu_gib` of usable GPU memory (at
least 2.5 × the model's weights), at most one per two host cores beyond two kept for the app,
at most 4; and 1 without an NVIDIA GPU.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import re
import secrets
import shutil
import subprocess
from pathlib import Path

from qwen3vl_agent.config import EngineSettings
from qwen3vl_agent.engine.managed import ManagedEngine
from qwen3vl_agent.engine.shared import STOP_LOCK_WAIT_S, SharedEngine, join_or_start
from qwen3vl_agent.engine.state_file import EngineLock, live_record_for, write_record
from qwen3vl_agent.engine.status import EngineState, EngineStatus, StatusListener
from qwen3vl_agent.errors import EngineStartError

log = logging.getLogger(__name__)

MAX_AUTO_REPLICAS = 4  # measured up to 3 on one H200; more is not proven to pay
CORES_PER_REPLICA = 2  # the API server and EngineCore each keep one core busy under load
CORES_FOR_APP = 2


def gpu_memory_gib(env: dict[str, str] | None = None) -> float | None:
    """Total memory of the first GPU the engine will see (nvidia-smi), or None without one."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return None
    visible = (env or {}).get("CUDA_VISIBLE_DEVICES", os.environ.get("CUDA_VISIBLE_DEVICES", ""))
    first = visible.split(",")[0].strip()
    if visible.strip() in ("-1", "none"):  # the engine is told to see no GPU
        return None
    cmd = [exe, "--query-gpu=memory.total", "--format=csv,noheader,nounits"]
    if first:
        cmd += ["-i", first]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=10, check=True).stdout
        return float(out.strip().splitlines()[0]) / 1024.0  # MiB
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return None


def model_weights_gib(model: str) -> float | None:
    """The model's weight size: the local folder's safetensors, else guessed from '…-4B…' (bf16)."""
    path = Path(model).expanduser()
    if path.is_dir():
        size = sum(f.stat().st_size for f in path.glob("*.safetensors"))
        if size:
            return size / 2**30
    match = re.search(r"(\d+(?:\.\d+)?)B\b", path.name, re.IGNORECASE)
    return float(match.group(1)) * 2 * 1e9 / 2**30 if match else None


def auto_replicas(
    gpu_gib: float | None,
    cores: int,
    *,
    memory_utilization: float,
    min_gib_per_replica: float,
    weights_gib: float | None = None,
) -> int:
    """The replica count `auto` picks (a pure function of the machine, so it can be tested)."""
    if gpu_gib is None or gpu_gib <= 0:
        return 1
    per_replica = max(min_gib_per_replica, 2.5 * (weights_gib or 0.0))
    by_memory = math.floor(gpu_gib * memory_utilization / per_replica)
    by_cores = (cores - CORES_FOR_APP) // CORES_PER_REPLICA
    return max(1, min(by_memory, by_cores, MAX_AUTO_REPLICAS))


def resolve_replicas(settings: EngineSettings) -> int:
    """The number of servers to run for these settings (`auto` looks at this machine)."""
    if settings.replicas != "auto":
        return int(settings.replicas)
    return auto_replicas(
        gpu_memory_gib(settings.env),
        os.cpu_count() or 1,
        memory_utilization=settings.gpu_memory_utilization,
        min_gib_per_replica=settings.replica_min_gpu_gib,
        weights_gib=model_weights_gib(settings.model),
    )


def replica_settings(settings: EngineSettings, count: int, index: int, api_key: str) -> EngineSettings:
    """Replica `index`'s settings: its share of GPU memory, its port (when fixed), the shared key."""
    update: dict[str, object] = {"api_key": api_key, "replicas": 1}
    if count > 1:
        update["gpu_memory_utilization"] = math.floor(settings.gpu_memory_utilization / count * 1000) / 1000
        if settings.port:
            update["port"] = settings.port + index
    return settings.model_copy(update=update)


def replica_log_name(index: int) -> str:
    return "vllm-server.log" if index == 0 else f"vllm-server-replica-{index + 1}.log"


class EngineReplicas:
    """The app's managed engine: N `ManagedEngine` servers that start, stop and report as one.

    It offers what callers used from a single `ManagedEngine` (start, stop, state, status,
    listeners, the first replica's URL, log and pid); the pool attaches every replica.
    """

    def __init__(
        self,
        settings: EngineSettings,
        log_dir: Path,
        *,
        detached: bool = False,
        stop_grace_s: float = 15.0,
        count: int | None = None,
        shared: bool = False,
    ) -> None:
        self._settings = settings
        # shared: one engine per user (see `shared.SharedEngine`): every member is a SharedEngine,
        # and `shared.join_or_start` adopts a recorded group or starts and records this one
        self._shared = shared
        self._lock = EngineLock()
        self._users_dir: Path | None = None
        self._recovering = asyncio.Lock()
        n = count if count is not None else resolve_replicas(settings)
        if n < 1:
            raise EngineStartError(f"engine.replicas must be at least 1, not {n}")
        self._api_key = settings.api_key or secrets.token_urlsafe(24)
        self.replicas: list[ManagedEngine] = []
        for i in range(n):
            part = replica_settings(settings, n, i, self._api_key)
            if shared:
                member = SharedEngine(part, log_dir, stop_grace_s=stop_grace_s, log_name=replica_log_name(i))
                member._lock = self._lock  # one lock for the group: its members start as one
                member.record_hook = self._write_record
                member.lost_hook = self._recover
                self.replicas.append(member)
            else:
                self.replicas.append(
                    ManagedEngine(
                        part,
                        log_dir,
                        detached=detached,
                        stop_grace_s=stop_grace_s,
                        log_name=replica_log_name(i),
                    )
                )
        self._listeners: list[StatusListener] = []
        for replica in self.replicas:
            replica.add_listener(self._on_replica_status)

    # ------------------------------------------------------------------ what callers read

    @property
    def settings(self) -> EngineSettings:
        return self._settings

    @property
    def count(self) -> int:
        return len(self.replicas)

    @property
    def first(self) -> ManagedEngine:
        return self.replicas[0]

    @property
    def host(self) -> str:
        return self.first.host

    @property
    def port(self) -> int | None:
        return self.first.port

    @property
    def base_url(self) -> str:
        return self.first.base_url

    @property
    def root_url(self) -> str:
        return self.first.root_url

    @property
    def api_key(self) -> str:
        return self.first.api_key  # an adopted group's key is the recorded one

    @property
    def members(self) -> list[SharedEngine]:
        return [r for r in self.replicas if isinstance(r, SharedEngine)]

    @property
    def served_model_name(self) -> str:
        return self.first.served_model_name

    @property
    def log_path(self) -> Path:
        return self.first.log_path

    @property
    def pid(self) -> int | None:
        return self.first.pid

    @property
    def server_pid(self) -> int | None:
        return self.first.server_pid

    @property
    def restarts(self) -> int:
        return sum(r.restarts for r in self.replicas)

    @property
    def state(self) -> EngineState:
        """READY while any replica serves; else the liveliest of the others' states."""
        states = [r.state for r in self.replicas]
        for state in (EngineState.READY, EngineState.RESTARTING, EngineState.STARTING, EngineState.FAILED):
            if state in states:
                return state
        return EngineState.STOPPED

    @property
    def status(self) -> EngineStatus:
        each = tuple(r.status for r in self.replicas)
        first = each[0]
        errors = [s.error for s in each if s.error]
        return EngineStatus(
            state=self.state,
            elapsed_s=max(s.elapsed_s for s in each),
            last_log_line=first.last_log_line,
            pid=first.pid,
            base_url=first.base_url,
            restarts=self.restarts,
            error=errors[0] if errors and self.state != EngineState.READY else None,
            replicas=each if len(each) > 1 else (),
        )

    def add_listener(self, listener: StatusListener) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: StatusListener) -> None:
        with contextlib.suppress(ValueError):
            self._listeners.remove(listener)

    def last_log_line(self) -> str:
        return self.first.last_log_line()

    def log_tail(self, max_chars: int = 4000) -> str:
        return self.first.log_tail(max_chars)

    # ------------------------------------------------------------------ lifecycle

    async def start(self, progress: StatusListener | None = None) -> None:
        """Start every replica (staggered) and wait for all; on any failure none is left running.

        Shared: adopt the recorded group of another instance instead, when there is one.
        """
        report = None if progress is None else (lambda _s: progress(self.status))
        if not self._shared:
            await self._start_all(report)
            return

        def waiting(_waited: float) -> None:
            if report is not None:
                report(self.status)

        await join_or_start(
            self.members,
            self._lock,
            self._settings,
            launch=lambda: self._start_all(report),
            record=self._recorded_in,
            on_wait=waiting,
        )
        for member in self.members:
            if member.adopted is not None and member._watchdog is None:
                member._stopping = False
                member._watchdog = asyncio.create_task(member._watch(), name="engine-replica-watch")

    def _recorded_in(self, users_dir: Path) -> None:
        self._users_dir = users_dir
        self._write_record()

    async def _recover(self, member: SharedEngine) -> None:
        """A replica this instance adopted went away: re-adopt it once another instance restarted
        it, or (when the whole recorded engine is gone) find or start the group again."""
        index = self.replicas.index(member)
        member._set_state(EngineState.RESTARTING, error="the shared engine stopped")
        async with self._recovering:
            end = asyncio.get_running_loop().time() + self._settings.startup_timeout_s
            while not member._stopping and asyncio.get_running_loop().time() < end:
                if member.adopted is not None or member._proc is not None:
                    return  # another member's recovery took care of this one
                found = live_record_for(self._settings)
                if found is None:
                    await self.stop()
                    await self.start()
                    return
                if index < len(found.replicas) and found.replica(index).alive():
                    member._adopt(found.replica(index))
                    member._watchdog = asyncio.create_task(member._watch(), name="engine-replica-watch")
                    return
                await asyncio.sleep(1.0)
            if not member._stopping:
                member._set_state(
                    EngineState.FAILED, error="a replica of the shared engine did not come back"
                )

    async def _start_all(self, report: StatusListener | None) -> None:
        stagger = self._settings.replica_start_stagger_s
        tasks = [
            asyncio.create_task(self._start_one(i, stagger, report), name=f"engine-replica-{i + 1}")
            for i in range(len(self.replicas))
        ]
        try:
            await asyncio.gather(*tasks)
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.stop()
            raise

    async def _start_one(self, index: int, stagger: float | None, report: StatusListener | None) -> None:
        """Start replica `index` once the previous one serves (or after `index * stagger` s)."""
        if index > 0:
            loop = asyncio.get_running_loop()
            end = None if stagger is None else loop.time() + index * stagger
            previous = self.replicas[index - 1]
            # if the previous one fails, its task raises and the gather cancels this wait
            while previous.state != EngineState.READY and (end is None or loop.time() < end):
                await asyncio.sleep(0.2)
        replica = self.replicas[index]
        if isinstance(replica, SharedEngine):
            await replica._start_owned(report)  # the group holds the lock and leased it
        else:
            await replica.start(report)

    def _write_record(self) -> None:
        if self._users_dir is not None and all(r.pid is not None for r in self.replicas):
            write_record(self, detached=False, users_dir=self._users_dir)

    async def stop(self) -> None:
        """Stop every replica (each SIGTERM, then SIGKILL of its group after the grace); shared:
        leave them running while another instance still holds a lease."""
        locked = self._shared and not self._lock.held and await self._lock.acquire(timeout_s=STOP_LOCK_WAIT_S)
        for member in self.members:
            member._drop_lease()  # all of ours first: a member must not count its siblings as users
        try:
            results = await asyncio.gather(*(r.stop() for r in self.replicas), return_exceptions=True)
        finally:
            if locked:
                self._lock.release()
        for result in results:
            if isinstance(result, BaseException) and not isinstance(result, Exception):
                raise result

    async def wait_ready(self, timeout_s: float) -> bool:
        """Wait until every replica is READY again; False once one FAILED/STOPPED or on timeout."""
        results = await asyncio.gather(*(r.wait_ready(timeout_s) for r in self.replicas))
        return all(results)

    def _on_replica_status(self, _status: EngineStatus) -> None:
        status = self.status
        for listener in list(self._listeners):
            try:
                listener(status)
            except Exception:  # a broken listener must not break the engine
                log.exception("engine status listener failed")
