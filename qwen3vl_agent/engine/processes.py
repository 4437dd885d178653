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
from pathlib import Path

PR_SET_PDEATHSIG = 1


def set_parent_death_signal(sig: int = signal.SIGTERM) -> None:
    """Ask the kernel to send `sig` to this process when its parent thread dies (Linux)."""
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")


def group_members(pgid: int) -> list[int]:
    """PIDs of the live (non-zombie) processes whose process group is `pgid` (Linux /proc)."""
    members: list[int] = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        # pid (comm) state ppid pgrp ...; comm may contain spaces and parentheses
        fields = text[text.rfind(")") + 2 :].split()
        if len(fields) > 2 and fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(stat.parent.name))
    return sorted(members)


def children_of(pid: int) -> list[int]:
    """Direct children of `pid` (Linux /proc)."""
    kids: list[int] = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        fields = text[text.rfind(")") + 2 :].split()
        if len(fields) > 1 and fields[0] != "Z" and int(fields[1]) == pid:
            kids.append(int(stat.parent.name))
    return sorted(kids)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    with contextlib.suppress(OSError):
        text = stat.read_text()
        if text[text.rfind(")") + 2 :].startswith("Z"):
            return False
    return True


def signal_group(pgid: int, sig: int) -> bool:
    """Send `sig` to a whole process group; False when the group is already gone."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    return True


def kill_group_sync(pgid: int, grace_s: float) -> None:
    """SIGTERM the group, wait up to `grace_s` for it to empty, then SIGKILL what is left."""
    if not signal_group(pgid, signal.SIGTERM):
        return
    end = time.monotonic() + grace_s
    while time.monotonic() < end:
        if not group_members(pgid):
            return
        time.sleep(0.1)
    signal_group(pgid, signal.SIGKILL)
