"""Process-group plumbing for the managed server: die with the parent, kill the whole group.

The server runs in its own session/process group (so one signal reaches vLLM's API server and
the engine-core processes it forks) under `group_guard`, which the kernel signals when the app
dies (`PR_SET_PDEATHSIG`), even when the app is SIGKILLed. Linux only; elsewhere the group is
still killed on a clean stop.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import time

import psutil

PR_SET_PDEATHSIG = 1


def set_parent_death_signal(sig: int = signal.SIGTERM) -> None:
    """Ask the kernel to send `sig` to this process when its parent thread dies (Linux)."""
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")


def _live(proc: psutil.Process) -> bool:
    try:
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except OSError:
        return None


def group_members(pgid: int, exclude: int | None = None) -> list[int]:
    """PIDs of the live (non-zombie) processes whose process group is `pgid`, but `exclude`."""
    return sorted(
        proc.pid
        for proc in psutil.process_iter()
        if proc.pid != exclude and _pgid(proc.pid) == pgid and _live(proc)
    )


def children_of(pid: int) -> list[int]:
    """Direct live children of `pid`."""
    try:
        kids = psutil.Process(pid).children()
    except psutil.NoSuchProcess:
        return []
    return sorted(kid.pid for kid in kids if _live(kid))


def pid_alive(pid: int) -> bool:
    """True while `pid` exists and is not a zombie (also for another user's process)."""
    try:
        return _live(psutil.Process(pid))
    except psutil.NoSuchProcess:
        return False


def signal_group(pgid: int, sig: int) -> bool:
    """Send `sig` to a whole process group; False when the group is already gone."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    return True


def signal_members(pgid: int, sig: int, exclude: int | None = None) -> None:
    """Send `sig` to each member of the group but `exclude` (the guard, which is a member)."""
    for pid in group_members(pgid, exclude):
        with contextlib.suppress(psutil.NoSuchProcess):
            psutil.Process(pid).send_signal(sig)


def wait_group_gone(pgid: int, timeout_s: float, exclude: int | None = None) -> bool:
    """Wait up to `timeout_s` until no member but `exclude` is left; True if none is.

    The group is scanned again each round, not waited on as a fixed list: members may still
    be forking while they are stopped.
    """
    end = time.monotonic() + timeout_s
    while group_members(pgid, exclude):
        if time.monotonic() >= end:
            return False
        time.sleep(0.1)
    return True


def kill_group_sync(pgid: int, grace_s: float) -> None:
    """SIGTERM the group, wait up to `grace_s` for it to empty, then SIGKILL what is left."""
    if not signal_group(pgid, signal.SIGTERM):
        return
    if not wait_group_gone(pgid, grace_s):
        signal_group(pgid, signal.SIGKILL)
