"""Exclusive process locks (flock on a file in the app's data dir) with a named holder.

Two `agent fill` runs on one data file would each submit every row; two batches on one desktop
would fight over the same mouse. Each takes an exclusive, non-blocking `flock` on a lock file:
the kernel drops it when the process dies (also on SIGKILL), so a crash never leaves a stale
lock. The holder writes its pid and command line into the file, so a refused second process can
say which process holds it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import sys
import time
from pathlib import Path
from typing import IO, Any

from qwen3vl_agent.errors import UserFacingError
from qwen3vl_agent.file_modes import private_mkdir


class LockHeldError(UserFacingError):
    """Another process holds the lock; carries what is locked and who holds it."""

    def __init__(self, what: str, holder: dict[str, Any], path: Path) -> None:
        pid = holder.get("pid")
        command = holder.get("command") or "?"
        who = f"process {pid} ({command})" if pid else "another process"
        super().__init__(
            f"{what} is already in use by {who}",
            "wait for it to finish or stop it, then run again",
        )
        self.what = what
        self.holder = holder
        self.path = path


class ProcessLock:
    """An exclusive flock held until `release()` (or the process ends)."""

    def __init__(self, path: Path, what: str) -> None:
        self.path = path
        self.what = what
        self._file: IO[str] | None = None

    def acquire(self) -> ProcessLock:
        """Take the lock now or raise `LockHeldError` naming the holder (never waits)."""
        private_mkdir(self.path.parent)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        f = os.fdopen(fd, "r+", encoding="utf-8")
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            try:
                holder = json.loads(f.read() or "{}")
            except ValueError:
                holder = {}
            f.close()
            raise LockHeldError(self.what, holder, self.path) from None
        except BaseException:
            f.close()
            raise
        f.seek(0)
        f.truncate()
        command = " ".join(os.path.basename(a) if i == 0 else a for i, a in enumerate(sys.argv))
        f.write(json.dumps({"pid": os.getpid(), "command": command[:300], "since": time.time()}))
        f.flush()
        self._file = f
        return self

    def release(self) -> None:
        f, self._file = self._file, None
        if f is not None:
            with contextlib.suppress(OSError):
                f.truncate(0)
                fcntl.flock(f.fileno(), fcntl.LOCK_UN)
            f.close()

    def __enter__(self) -> ProcessLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def _key(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def batch_lock(lock_dir: Path, data_path: str) -> ProcessLock:
    """One batch process per data file (whatever the task: both would drive the same form)."""
    return ProcessLock(lock_dir / f"batch-{_key(data_path)}.lock", f"The data file {data_path}")


def desktop_name() -> str:
    """The desktop this process's input goes to: the X display, the Wayland socket, or this host's."""
    from qwen3vl_agent.screen.session import current_session

    session = current_session()
    if session.x_display:
        return f"display {session.x_display}"
    if session.wayland_display:
        return f"Wayland display {session.wayland_display}"
    return "this desktop"


def desktop_lock(lock_dir: Path, name: str | None = None) -> ProcessLock:
    """One batch at a time per desktop: two would move the same mouse."""
    name = name or desktop_name()
    return ProcessLock(lock_dir / f"desktop-{_key(name)}.lock", f"The desktop ({name})")
