"""Cap the CPU of processes with a cgroup's CPU quota (v1 `cpu.cfs_quota_us` or v2 `cpu.max`).

The kernel enforces the cap however busy the machine is and however late the test process
runs: the tiny engine's core, capped, cannot finish a long request in the seconds a loaded
machine may keep the test from acting (measured here: at full speed the core starved every
other process, the test included, for 4-9 s at the start of a generation).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PERIOD_US = 100_000


V1 = Path("/sys/fs/cgroup/cpu")
V2 = Path("/sys/fs/cgroup")


def _capped_group(name: str, share: float) -> Path | None:
    """A new cgroup capped at `share` of one CPU, or None where none can be made."""
    quota = int(share * PERIOD_US)
    try:
        if (V1 / "cpu.cfs_quota_us").exists():
            group = V1 / name
            group.mkdir(exist_ok=True)
            (group / "cpu.cfs_period_us").write_text(str(PERIOD_US))
            (group / "cpu.cfs_quota_us").write_text(str(quota))
            return group
        if "cpu" in (V2 / "cgroup.subtree_control").read_text().split():
            group = V2 / name
            group.mkdir(exist_ok=True)
            (group / "cpu.max").write_text(f"{quota} {PERIOD_US}")
            return group
    except OSError:
        return None
    return None


def _home(pid: int, group: Path) -> Path:
    """The cgroup `pid` is in now, in the hierarchy of `group`."""
    v1 = group.parent == V1
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if (v1 and "cpu" in controllers.split(",")) or (not v1 and controllers == ""):
            return (V1 if v1 else V2) / path.lstrip("/")
    return group.parent


@contextmanager
def cpu_capped(pids: list[int], share: float) -> Iterator[bool]:
    """Run `pids` (whole processes) capped at `share` of one CPU; yields whether the cap is in
    place (False where cgroups cannot be written: not root, no cpu controller). At the end they
    go back to the groups they came from and the new group is removed."""
    group = _capped_group(f"qwen3vl-test-{os.getpid()}", share)
    if group is None:
        yield False
        return
    homes = {pid: _home(pid, group) for pid in pids}
    try:
        for pid in pids:
            (group / "cgroup.procs").write_text(str(pid))
        yield True
    finally:
        for pid, home in homes.items():
            with contextlib.suppress(OSError):  # a process that ended has nothing to move
                (home / "cgroup.procs").write_text(str(pid))
        with contextlib.suppress(OSError):
            group.rmdir()
