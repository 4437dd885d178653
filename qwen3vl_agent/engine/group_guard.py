"""A tiny supervisor between the app and the vLLM server: the server's process group dies with it.

Run as `python -m qwen3vl_agent.engine.group_guard --grace S -- CMD...` by `ManagedEngine` (and by
`qwen3vl_agent.engine.guarded` for agent workspaces: their X server, window manager and apps) in a
new session (so it leads the group) with a parent-death signal set. It starts CMD in its group and

* when it gets SIGTERM/SIGINT/SIGHUP (a clean stop, or the kernel telling it the app died), it
  forwards SIGTERM to the whole group, waits up to the grace period, then SIGKILLs the group;
* unless the engine was not ready yet (the app sends SIGUSR1 once `/health` answers): then it
  SIGKILLs the group at once. vLLM ignores SIGTERM while it loads the model, so the grace would
  only keep a half-started server (and its GPU memory) alive after the app is gone;
* with `--users-dir` (an engine shared by several app instances, see `leases`), a stop request
  is ignored while another live user holds a lease, and the engine is stopped once none is left;
* when CMD exits by itself (a crash), it kills what CMD left behind in the group (vLLM's
  engine-core processes) and exits with CMD's status, so the app sees the crash.

Only the standard library and psutil: it runs before anything heavy is imported.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

from qwen3vl_agent.engine.leases import live_users
from qwen3vl_agent.engine.processes import (
    group_members,
    set_parent_death_signal,
    signal_members,
    wait_group_gone,
)

READY_SIGNAL = signal.SIGUSR1  # sent by ManagedEngine when the server answers /health

_stop_requested = False
_ready = False


def _on_signal(signum: int, frame: FrameType | None) -> None:
    global _stop_requested
    _stop_requested = True


def _on_ready(signum: int, frame: FrameType | None) -> None:
    global _ready
    _ready = True


def _kill_rest_of_group_now() -> None:
    """SIGKILL every other member of our group until none is left (they may still be forking)."""
    me = os.getpid()
    pgid = os.getpgid(0)
    for _ in range(50):
        if not group_members(pgid, exclude=me):
            return
        signal_members(pgid, signal.SIGKILL, exclude=me)
        time.sleep(0.05)


def _kill_rest_of_group(grace_s: float) -> None:
    """SIGTERM every other member of our group, wait, then SIGKILL the stragglers."""
    me = os.getpid()
    pgid = os.getpgid(0)
    signal_members(pgid, signal.SIGTERM, exclude=me)
    if not wait_group_gone(pgid, grace_s, exclude=me):
        signal_members(pgid, signal.SIGKILL, exclude=me)


def main(argv: list[str] | None = None) -> int:
    global _stop_requested
    parser = argparse.ArgumentParser(prog="group_guard")
    parser.add_argument("--grace", type=float, default=10.0)
    parser.add_argument("--parent-pid", type=int, default=0, help="exit at once if this pid is gone")
    parser.add_argument(
        "--pass-fd", type=int, action="append", default=[], help="keep this fd open for CMD (repeatable)"
    )
    parser.add_argument(
        "--ready", action="store_true", help="CMD has no start-up phase: a stop always gets the grace"
    )
    parser.add_argument("--users-dir", type=Path, default=None, help="shared engine: its users' leases")
    parser.add_argument("--users-poll", type=float, default=1.0, help="seconds between lease checks")
    parser.add_argument("cmd", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    if not cmd:
        parser.error("no command given")
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, _on_signal)
    signal.signal(READY_SIGNAL, _on_ready)
    if args.ready:
        _on_ready(READY_SIGNAL, None)
    if args.parent_pid:
        set_parent_death_signal(signal.SIGTERM)  # again, in case exec reset it
        if os.getppid() != args.parent_pid:  # the app died before we could ask
            return 143
    try:
        # The server gets its own parent-death signal: if this guard is SIGKILLed, it still goes.
        child = subprocess.Popen(cmd, preexec_fn=set_parent_death_signal, pass_fds=tuple(args.pass_fd))
    except OSError as exc:
        print(f"group_guard: cannot execute {cmd[0]!r}: {exc.strerror or exc}", flush=True)
        return 127
    print(f"group_guard: started pid {child.pid}: {' '.join(cmd)}", flush=True)
    next_poll = time.monotonic() + args.users_poll
    while True:
        if args.users_dir is not None and (_stop_requested or time.monotonic() >= next_poll):
            next_poll = time.monotonic() + args.users_poll
            users = live_users(args.users_dir)
            if _stop_requested and users:
                print(f"group_guard: still used by pid(s) {users}: keeping the engine", flush=True)
                _stop_requested = False
            elif not users and not _stop_requested:
                print("group_guard: no instance uses the engine any more: stopping it", flush=True)
                _stop_requested = True
        if _stop_requested:
            if _ready:
                _kill_rest_of_group(args.grace)
            else:
                print("group_guard: stopped before the engine was ready: killing it at once", flush=True)
                _kill_rest_of_group_now()
            child.wait()
            return 0
        code = child.poll()
        if code is not None:
            print(f"group_guard: server exited with status {code}", flush=True)
            _kill_rest_of_group(min(args.grace, 5.0))
            return 128 - code if code < 0 else code
        time.sleep(0.1)


if __name__ == "__main__":
    sys.exit(main())
