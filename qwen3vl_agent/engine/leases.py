"""Who uses a shared engine: one small file per user (an app window, a CLI command) in the
engine's users folder, named after the user's pid and the kernel's start time of that pid (so a
recycled pid never counts as a user).

The engine's guard reads the folder: it stops the engine once no live user is left, and a stop
request from a user that leaves (or dies) does not take the engine from the others.
Only the standard library and psutil: `group_guard` imports it.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

import psutil


def process_start_time(pid: int) -> int | None:
    """When `pid` started, in hundredths of a second since the epoch, or None (gone or a zombie)."""
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
        return round(proc.create_time() * 100)
    except psutil.Error:
        return None


def register(users_dir: Path, pid: int | None = None) -> Path:
    """Add a user (this process by default); returns the lease to `release`."""
    pid = os.getpid() if pid is None else pid
    users_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    lease = users_dir / f"{pid}-{process_start_time(pid) or 0}-{secrets.token_hex(4)}"
    fd = os.open(lease, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.close(fd)
    return lease


def release(lease: Path | None) -> None:
    if lease is not None:
        with contextlib.suppress(FileNotFoundError):
            lease.unlink()


def live_users(users_dir: Path) -> list[int]:
    """PIDs holding a lease whose process still runs; leases of dead processes are removed."""
    pids: list[int] = []
    try:
        names = os.listdir(users_dir)
    except OSError:
        return []
    for name in names:
        parts = name.split("-")
        if len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit():
            continue
        pid, started = int(parts[0]), int(parts[1])
        if process_start_time(pid) == started:
            pids.append(pid)
        else:
            with contextlib.suppress(OSError):
                (users_dir / name).unlink()
    return sorted(pids)
