"""Start a helper program under `group_guard`, so that it and all it forks die with the app.

The managed engine and the agent workspaces (X server, window manager, launched app) use the same
guard: a new session led by `group_guard` with the kernel's parent-death signal, so a crash or a
`kill -9` of the app leaves nothing behind. The parent-death signal follows the *thread* that
spawns: call `spawn` from a thread that lives as long as the processes should (the event loop's,
or the main thread), never from a short-lived worker thread.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from qwen3vl_agent.engine.processes import group_members, kill_group_sync, set_parent_death_signal


@dataclass
class GuardedProcess:
    """One program running under its guard; `pgid` is the guard's pid (it leads the group)."""

    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path | None

    @property
    def pgid(self) -> int:
        return self.proc.pid

    def running(self) -> bool:
        return self.proc.poll() is None

    def exit_code(self) -> int | None:
        return self.proc.poll()

    def log_tail(self, chars: int = 1500) -> str:
        if self.log_path is None:
            return ""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        lines = [ln for ln in text.splitlines() if not ln.startswith("group_guard: started")]
        return "\n".join(lines)[-chars:].strip()

    def members(self) -> list[int]:
        """The live processes of the group (guard included)."""
        return group_members(self.pgid)

    def stop(self, grace_s: float = 3.0) -> None:
        """SIGTERM the guard (it ends its group), then make sure the whole group is gone."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=grace_s + 2.0)
        kill_group_sync(self.pgid, grace_s=0.5 if self.proc.poll() is not None else grace_s)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=2.0)


def spawn(
    name: str,
    cmd: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    log_path: Path | None = None,
    pass_fds: Sequence[int] = (),
    grace_s: float = 3.0,
    cwd: Path | None = None,
) -> GuardedProcess:
    """Start `cmd` under a guard in a new session; its output goes to `log_path` (or nowhere).

    Raises OSError when the guard itself cannot start (a missing `cmd` shows up as the guard's
    exit status 127 and a line in the log).
    """
    guard = [sys.executable, "-m", "qwen3vl_agent.engine.group_guard", "--grace", str(grace_s), "--ready"]
    guard += ["--parent-pid", str(os.getpid())]
    for fd in pass_fds:
        guard += ["--pass-fd", str(fd)]
    out: int = subprocess.DEVNULL
    fd_log = -1
    if log_path is not None:
        fd_log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        out = fd_log
    try:
        proc = subprocess.Popen(
            [*guard, "--", *cmd],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            pass_fds=tuple(pass_fds),
            start_new_session=True,
            preexec_fn=set_parent_death_signal,
        )
    finally:
        if fd_log >= 0:
            os.close(fd_log)
    return GuardedProcess(name, proc, log_path)
