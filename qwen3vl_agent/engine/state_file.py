"""Where a running managed engine is recorded, so another process can find, check or stop it.

`qwen3vl-agent engine start` writes `engine-state.json` (pid of the server's process group, port,
URL, log path) and the API key in a separate owner-only file under the app's data dir;
`engine status`/`engine stop` and the app itself (to reuse a detached engine) read them.
An engine the app (or any command) starts for itself is recorded the same way, so that every
instance of the app finds and shares ONE engine per user (`engine.shared`). `EngineLock` makes
"look for a recorded engine, else start one and record it" atomic across processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from qwen3vl_agent.engine.processes import group_members, pid_alive
from qwen3vl_agent.file_modes import open_private, write_private_bytes
from qwen3vl_agent.paths import app_paths

if TYPE_CHECKING:
    from qwen3vl_agent.config import EngineSettings
    from qwen3vl_agent.engine.managed import ManagedEngine
    from qwen3vl_agent.engine.replicas import EngineReplicas

log = logging.getLogger(__name__)

STATE_NAME = "engine-state.json"
KEY_NAME = "engine-api-key"
LOCK_NAME = "engine.lock"
USERS_NAME = "engine-users"


@dataclass(frozen=True)
class EngineRecord:
    pid: int  # the guard, leader of the server's process group
    port: int
    base_url: str
    api_key_path: str
    log_path: str
    model: str
    served_model_name: str
    detached: bool
    owner_pid: int  # the process that started it
    started_at: float
    users_dir: str = ""  # a shared engine's users' leases (`leases`); "" for `engine start`
    # every replica of the engine (engine.replicas): pid, port, base_url, log_path each;
    # the fields above are the first one's. Empty in records of one server written before.
    replicas: list[dict[str, object]] = field(default_factory=list)

    def replica_urls(self) -> list[str]:
        return [str(r["base_url"]) for r in self.replicas] or [self.base_url]

    def replica_pids(self) -> list[int]:
        return [int(str(r["pid"])) for r in self.replicas if r.get("pid") is not None] or [self.pid]

    def replica(self, index: int) -> EngineRecord:
        """Replica `index` alone (its pid, port, URL, log), as a record of one server."""
        if not self.replicas:
            return self
        r = self.replicas[index]
        return replace(
            self,
            pid=int(str(r["pid"])),
            port=int(str(r["port"])),
            base_url=str(r["base_url"]),
            log_path=str(r.get("log_path", self.log_path)),
            replicas=[r],
        )

    def api_key(self) -> str:
        return Path(self.api_key_path).read_text(encoding="utf-8").strip()

    def alive(self) -> bool:
        return any(pid_alive(pid) or bool(group_members(pid)) for pid in self.replica_pids())


def state_path() -> Path:
    return app_paths().data_dir / STATE_NAME


def users_root() -> Path:
    """Where shared engines keep their users' leases (one sub-folder per engine)."""
    return app_paths().data_dir / USERS_NAME


def write_record(
    engine: ManagedEngine | EngineReplicas,
    *,
    detached: bool,
    users_dir: Path | None = None,
) -> EngineRecord:
    data_dir = app_paths().ensure().data_dir
    key_path = data_dir / KEY_NAME
    write_private_bytes(key_path, (engine.api_key + "\n").encode("utf-8"))
    assert engine.pid is not None and engine.port is not None
    record = EngineRecord(
        pid=engine.pid,
        port=engine.port,
        base_url=engine.base_url,
        api_key_path=str(key_path),
        log_path=str(engine.log_path),
        model=engine.settings.model,
        served_model_name=engine.served_model_name,
        detached=detached,
        owner_pid=os.getpid(),
        started_at=time.time(),
        users_dir=str(users_dir or ""),
        replicas=[
            {"pid": r.pid, "port": r.port, "base_url": r.base_url, "log_path": str(r.log_path)}
            for r in getattr(engine, "replicas", [engine])
        ],
    )
    tmp = state_path().with_suffix(".tmp")
    write_private_bytes(tmp, json.dumps(asdict(record), indent=2).encode("utf-8"))
    tmp.replace(state_path())
    return record


def read_record() -> EngineRecord | None:
    """The recorded engine, or None when there is none or the file is unreadable."""
    try:
        data = json.loads(state_path().read_text(encoding="utf-8"))
        return EngineRecord(**data)
    except (OSError, ValueError, TypeError):
        return None


def live_record_for(settings: EngineSettings) -> EngineRecord | None:
    """The recorded engine if it runs and serves the model `settings` ask for, else None."""
    record = read_record()
    if record is None or not record.alive():
        return None
    wanted = settings.served_name()
    if record.model != settings.model or record.served_model_name != wanted:
        log.warning("a running engine serves %s, not %s: starting another one", record.model, settings.model)
        return None
    return record


def clear_record(only_pid: int | None = None) -> None:
    """Forget the recorded engine (with `only_pid`: only if the record is still that engine's)."""
    if only_pid is not None:
        record = read_record()
        if record is None or record.pid != only_pid:
            return
    for path in (state_path(), app_paths().data_dir / KEY_NAME):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


class EngineLock:
    """An exclusive `flock` on the data dir's `engine.lock`, across threads and processes.

    Held while an instance looks for a recorded engine and, finding none, starts and records
    one (minutes), so a second instance waits and then reuses it instead of starting its own.
    Acquiring polls without blocking, so an event loop (the desktop app's Qt thread) stays free.
    """

    def __init__(self) -> None:
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def try_acquire(self) -> bool:
        if self._fd is not None:
            return True
        path = app_paths().ensure().data_dir / LOCK_NAME
        fd = open_private(path, os.O_RDWR | os.O_CREAT)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    async def acquire(
        self, timeout_s: float | None = None, on_wait: Callable[[float], None] | None = None
    ) -> bool:
        """Wait for the lock (False after `timeout_s`); `on_wait(waited_s)` is called while waiting."""
        began = time.monotonic()
        while not self.try_acquire():
            waited = time.monotonic() - began
            if timeout_s is not None and waited >= timeout_s:
                return False
            if on_wait is not None:
                with contextlib.suppress(Exception):
                    on_wait(waited)
            await asyncio.sleep(0.25)
        return True

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
