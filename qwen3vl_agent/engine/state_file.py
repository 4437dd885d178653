"""Where a running managed engine is recorded, so another process can find, check or stop it.

`qwen3vl-agent engine start` writes `engine-state.json` (pid of the server's process group, port,
URL, log path) and the API key in a separate owner-only file under the app's data dir;
`engine status`/`engine stop` and the app itself (to reuse a detached engine) read them.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from qwen3vl_agent.engine.processes import group_members, pid_alive
from qwen3vl_agent.paths import app_paths

if TYPE_CHECKING:
    from qwen3vl_agent.engine.managed import ManagedEngine

STATE_NAME = "engine-state.json"
KEY_NAME = "engine-api-key"


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

    def api_key(self) -> str:
        return Path(self.api_key_path).read_text(encoding="utf-8").strip()

    def alive(self) -> bool:
        return pid_alive(self.pid) or bool(group_members(self.pid))


def state_path() -> Path:
    return app_paths().data_dir / STATE_NAME


def write_record(engine: ManagedEngine, *, detached: bool) -> EngineRecord:
    data_dir = app_paths().ensure().data_dir
    key_path = data_dir / KEY_NAME
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(engine.api_key + "\n")
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
    )
    tmp = state_path().with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(record), indent=2), encoding="utf-8")
    tmp.replace(state_path())
    return record


def read_record() -> EngineRecord | None:
    """The recorded engine, or None when there is none or the file is unreadable."""
    try:
        data = json.loads(state_path().read_text(encoding="utf-8"))
        return EngineRecord(**data)
    except (OSError, ValueError, TypeError):
        return None


def clear_record() -> None:
    for path in (state_path(), app_paths().data_dir / KEY_NAME):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
