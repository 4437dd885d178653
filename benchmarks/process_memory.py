"""Memory of a process tree for the OCR benchmarks: PSS (shared pages counted once, so forked
workers are not counted twice) of a process and its descendants, through psutil.

psutil is imported inside the functions: an OCR job's worker processes import the benchmark's
main module again, and that import must stay cheap (benchmarks/ocr_memory.py says why).
"""

from __future__ import annotations


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
