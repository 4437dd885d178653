"""One engine per user, shared by every instance of the app (desktop windows, CLI commands).

`SharedEngine` is a `ManagedEngine` that, under the cross-process `EngineLock`, first looks for a
live recorded engine serving the same model and *adopts* it (its URL and key; no process of its
own), and only otherwise starts the server itself and records it (`state_file`). Without this a
second instance started a second vLLM at 0.85 of the GPU's memory, which failed.

Every instance holds a lease in the engine's users folder (`leases`); the engine's guard stops
the server once no live user is left. So when the instance that started it quits while others
still use it, the server keeps running for them (even if that instance was SIGKILLed), and the
last user to leave takes it down, as before. An instance whose adopted engine goes away starts
(or adopts) another one, as the watchdog restarts a crashed server.

`join_or_start` is that adopt-or-start step for one server or several: `EngineReplicas` (engine
.replicas > 1) runs it over its members, so the replicas are shared by the same rules.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

import httpx

from qwen3vl_agent.config import EngineSettings
from qwen3vl_agent.engine import leases
from qwen3vl_agent.engine.managed import ManagedEngine
from qwen3vl_agent.engine.state_file import (
    EngineLock,
    EngineRecord,
    clear_record,
    live_record_for,
    users_root,
    write_record,
)
from qwen3vl_agent.engine.status import EngineState, StatusListener

log = logging.getLogger(__name__)

STOP_LOCK_WAIT_S = 5.0  # quitting never waits minutes for another instance's engine start
ADOPTED_POLL_S = 1.0


class SharedEngine(ManagedEngine):
    """A managed engine that every instance of the app shares; see the module docstring."""

    def __init__(
        self,
        settings: EngineSettings,
        log_dir: Path,
        *,
        stop_grace_s: float = 15.0,
        log_name: str = "vllm-server.log",
        http: httpx.AsyncClient | None = None,
    ) -> None:
        super().__init__(settings, log_dir, stop_grace_s=stop_grace_s, log_name=log_name, http=http)
        self._lock = EngineLock()
        self._adopted: EngineRecord | None = None
        self._users_dir: Path | None = None
        self._lease: Path | None = None
        # set by `EngineReplicas` for its members: how to record the group, how to recover
        self.record_hook: Callable[[], None] | None = None
        self.lost_hook: Callable[[SharedEngine], Awaitable[None]] | None = None

    # ------------------------------------------------------------------ what differs when adopted

    @property
    def adopted(self) -> EngineRecord | None:
        """The record of another instance's engine this one uses, or None (own engine or stopped)."""
        return self._adopted

    @property
    def pid(self) -> int | None:
        if self._adopted is not None:
            return self._adopted.pid if self._adopted.alive() else None
        return super().pid

    @property
    def log_path(self) -> Path:
        return Path(self._adopted.log_path) if self._adopted is not None else self._log_path

    def _read_log_tail(self, max_chars: int) -> str:
        if self._adopted is None:
            return super()._read_log_tail(max_chars)
        try:
            with open(self._adopted.log_path, "rb") as f:
                f.seek(0, 2)
                f.seek(max(0, f.tell() - max_chars))
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def _guard_args(self) -> list[str]:
        return ["--users-dir", str(self._users_dir)] if self._users_dir is not None else []

    # ------------------------------------------------------------------ start / stop

    async def _bring_up(self, state: EngineState, progress: StatusListener | None) -> None:
        """Adopt the recorded engine for this model, or start ours and record it (under the lock)."""
        self._launch_started = time.monotonic()
        self._set_state(state)

        def waiting(waited: float) -> None:
            if progress is not None:
                progress(self.status)

        await join_or_start(
            [self],
            self._lock,
            self._settings,
            launch=lambda: self._launch(state, progress),
            record=lambda _users_dir: self._record(),
            on_wait=waiting,
        )

    def _own(self, users_dir: Path) -> None:
        """This instance starts the server: its users are leased in `users_dir`, this one first."""
        self._adopted = None
        self._users_dir = users_dir
        self._lease = leases.register(users_dir)

    def _drop_lease(self) -> None:
        leases.release(self._lease)
        self._lease = None

    async def _start_owned(self, progress: StatusListener | None) -> None:
        """Start our server (the caller holds the lock and called `_own`), then watch it."""
        self._stopping = False
        self._restarts = 0
        self._error = None
        await self._launch(EngineState.STARTING, progress)
        self._watchdog = asyncio.create_task(self._watch(), name="engine-watchdog")

    def _adopt(self, record: EngineRecord) -> None:
        try:
            key = record.api_key()
        except OSError as exc:
            raise self._fail(
                f"a running engine was found but its API key cannot be read ({exc})",
                "stop it with `qwen3vl-agent engine stop` and start again",
            ) from exc
        if record.users_dir:
            self._lease = leases.register(Path(record.users_dir))
        self._adopted = record
        self._api_key = key
        self._port = record.port
        self._served_model_name = record.served_model_name
        self._proc = None
        log.info("using the running engine at %s (pid %s)", record.base_url, record.pid)
        self._set_state(EngineState.READY)

    def _record(self) -> None:
        if self._proc is None or self._proc.poll() is not None:
            return
        if self.record_hook is not None:
            self.record_hook()  # a replica: the group records all its servers as one engine
        else:
            write_record(self, detached=False, users_dir=self._users_dir)

    async def _launch(self, state: EngineState, progress: StatusListener | None) -> None:
        """A restart by the watchdog also holds the lock and records the new server."""
        if self._lock.held:
            await super()._launch(state, progress)
            return
        await self._lock.acquire()
        try:
            await super()._launch(state, progress)
            self._record()
        finally:
            self._lock.release()

    async def stop(self) -> None:
        """Leave the engine: stop it only when no other instance uses it."""
        await self._end_watch()
        lease, self._lease = self._lease, None
        leases.release(lease)
        if self._adopted is not None:
            self._adopted = None
            self._set_state(EngineState.STOPPED)
            return
        # the lock may be held already (a group of replicas stopping together): leave it so
        locked = not self._lock.held and await self._lock.acquire(timeout_s=STOP_LOCK_WAIT_S)
        try:
            proc = self._proc
            others = leases.live_users(self._users_dir) if self._users_dir is not None else []
            if proc is not None and proc.poll() is None and others:
                log.info("leaving the engine running for %d other instance(s)", len(others))
                self._proc = None  # its guard stops it when the last of them leaves
            else:
                if proc is not None:
                    clear_record(only_pid=proc.pid)
                await self._terminate()
        finally:
            if locked:
                self._lock.release()
        self._set_state(EngineState.STOPPED)

    async def _watch(self) -> None:
        if self._adopted is None:
            await super()._watch()
            return
        while not self._stopping and self._adopted is not None:
            await asyncio.sleep(ADOPTED_POLL_S)
            if self._stopping or self._adopted is None or self._adopted.alive():
                continue
            reason = "the shared engine stopped"
            log.warning("%s; starting or finding another", reason)
            leases.release(self._lease)
            self._lease, self._adopted = None, None
            if self.lost_hook is not None:  # a replica: the group finds or starts it again
                await self.lost_hook(self)
                return
            if not await self._restart(reason, lambda: self._bring_up(EngineState.RESTARTING, None)):
                return
            if self._adopted is None:  # we started our own: the ordinary watchdog takes over
                await super()._watch()
                return


async def join_or_start(
    members: Sequence[SharedEngine],
    lock: EngineLock,
    settings: EngineSettings,
    *,
    launch: Callable[[], Awaitable[None]],
    record: Callable[[Path], None],
    on_wait: Callable[[float], None] | None = None,
) -> None:
    """The one place that decides, under `lock`, between adopting and starting a shared engine.

    `members` are the engine's servers (one, or each replica of `engine.replicas`). A live
    recorded engine for this model is adopted, member i taking its server i; else every member
    is leased in a new users folder, `launch` starts them and `record` writes the record.
    """
    await lock.acquire(on_wait=on_wait)
    try:
        found = live_record_for(settings)
        if found is not None:
            count = len(found.replica_urls())
            if count != len(members):
                log.warning(
                    "the running engine has %d server(s), this instance asked for %d", count, len(members)
                )
            for i, member in enumerate(members[:count]):
                member._adopt(found.replica(i))
            return
        users_dir = users_root() / secrets.token_hex(6)
        for member in members:
            member._own(users_dir)
        try:
            await launch()
        except BaseException:
            for member in members:
                member._drop_lease()
            raise
        record(users_dir)
    finally:
        lock.release()
