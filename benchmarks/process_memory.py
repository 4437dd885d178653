"""Memory of a process tree for the OCR benchmarks: PSS (shared pages counted once, so forked
workers are not counted twice) of a process and its descendants, through psutil, and
`sampled`, a thread that records the peak (and each descendant's VmHWM and CPU seconds) while
a job runs.

psutil is imported inside the functions: an OCR job's worker processes import the benchmark's
main module again, and that import must stay cheap (benchmarks/ocr_memory.py says why).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager


def pss_mb(pid: int) -> float:
    """The PSS of one process in MB; 0 for a process that is gone or unreadable."""
    import psutil

    try:
        return float(psutil.Process(pid).memory_full_info().pss) / (1024 * 1024)
    except (psutil.Error, AttributeError):  # gone, no access, or no PSS on this platform
        return 0.0


def descendants(root: int) -> list[int]:
    """The pids of every process below `root`."""
    import psutil

    try:
        return [p.pid for p in psutil.Process(root).children(recursive=True)]
    except psutil.Error:
        return []


def tree_pss_mb(root: int) -> float:
    """The PSS of `root` and all its descendants, in MB."""
    return pss_mb(root) + sum(pss_mb(pid) for pid in descendants(root))


def _status_mb(pid: int, key: str) -> float:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _cpu_s(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


class TreeSampler(threading.Thread):
    """Peak tree PSS of this process, each descendant's VmHWM and CPU seconds, sampled every
    `interval_s` until `stop` is set."""

    def __init__(self, interval_s: float = 0.02) -> None:
        super().__init__(daemon=True)
        self.interval_s = interval_s
        self.stop = threading.Event()
        self.peak_pss = 0.0
        self.hwm: dict[int, float] = {}
        self.cpu: dict[int, float] = {}

    def sample(self) -> None:
        me = os.getpid()
        pids = descendants(me)
        self.peak_pss = max(self.peak_pss, pss_mb(me) + sum(pss_mb(p) for p in pids))
        for pid in pids:
            self.hwm[pid] = max(self.hwm.get(pid, 0.0), _status_mb(pid, "VmHWM"))
            self.cpu[pid] = max(self.cpu.get(pid, 0.0), _cpu_s(pid))

    def run(self) -> None:
        while not self.stop.is_set():
            self.sample()
            time.sleep(self.interval_s)


@contextmanager
def sampled(interval_s: float = 0.02) -> Iterator[TreeSampler]:
    """A running `TreeSampler` for the body of the `with`; stopped (and joined) after it."""
    sampler = TreeSampler(interval_s)
    sampler.start()
    try:
        yield sampler
    finally:
        sampler.stop.set()
        sampler.join()
