"""Run leases: proof, visible to other processes, that a run (an OCR job run, a batch) is alive.

A claim in the database ("this page is mine") must outlive neither its owner nor be stolen from
a living one. Each run holds an exclusive `flock` on a small file named by its id for as long as
it lives; the kernel drops the lock when the process dies, however it dies (SIGKILL, a crash, an
out-of-memory kill), so `lease_alive` is exact: no heartbeats, no timeouts, no pid reuse.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import uuid
from pathlib import Path


class RunLease:
    """Held by a living run; `close` (or the process's death) gives it up."""

    def __init__(self, folder: Path, run_id: str | None = None) -> None:
        self.folder = folder
        self.run_id = run_id or uuid.uuid4().hex[:16]
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / f"{self.run_id}.lock"
        self._fd: int | None = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a fresh id: never held by anyone

    def close(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            self.path.unlink()
        os.close(self._fd)  # closing the descriptor drops the lock
        self._fd = None

    def __enter__(self) -> RunLease:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def lease_alive(folder: Path, run_id: str) -> bool:
    """Whether the run `run_id` still holds its lease (in this process or any other)."""
    path = folder / f"{run_id}.lock"
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True  # somebody holds it: the run lives
    else:
        with contextlib.suppress(OSError):
            path.unlink()  # the owner died without cleaning up
        return False
    finally:
        os.close(fd)
