"""One log file per running instance: no two processes append to (or rotate) the same file.

The first instance of the app takes slot 1 and writes `app.log` / `vllm-server.log` as before; a
second one running at the same time gets `app-2.log` / `vllm-server-2.log`, and so on. A slot is
an exclusive `flock` on `.instance-N.lock` in the log folder, held for the life of the process,
so a slot frees itself when its process ends (even when killed) and names stay few and stable.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from qwen3vl_agent.file_modes import open_private

MAX_SLOTS = 64

_slots: dict[Path, int] = {}  # log folder -> this process's slot there
_held: list[int] = []  # the lock fds, open until the process ends


def instance_slot(log_dir: Path) -> int:
    """This process's slot (1, 2, ...) among the instances writing logs to `log_dir`."""
    key = log_dir.resolve()
    if key in _slots:
        return _slots[key]
    log_dir.mkdir(parents=True, exist_ok=True)
    for slot in range(1, MAX_SLOTS + 1):
        fd = open_private(log_dir / f".instance-{slot}.lock", os.O_RDWR | os.O_CREAT)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        os.set_inheritable(fd, False)
        _held.append(fd)
        _slots[key] = slot
        return slot
    _slots[key] = os.getpid()  # more instances than slots: a name of our own all the same
    return _slots[key]


def instance_log_name(log_dir: Path, stem: str, suffix: str = ".log") -> str:
    """`stem.log` for the first instance, `stem-N.log` for the N-th one running at once."""
    slot = instance_slot(log_dir)
    return f"{stem}{suffix}" if slot == 1 else f"{stem}-{slot}{suffix}"
