"""Give the heap memory a page freed back to the system, and keep big short-lived buffers off it.

Why: glibc's allocator keeps what ONNX Runtime and Tesseract free after a page (PaddleOCR's
detector alone frees ~150 MB of activations per A4 page) and a worker then sits at its peak:
383 MB after a Chinese page instead of 212 MB with `malloc_trim` (docs/benchmarks.md). Where
there is no glibc (macOS, musl) this does nothing.

`mapped_allocations`: inside it, every allocation of 1 MiB or more gets its own memory map,
unmapped when freed, so a step's big buffers (the detector's activations) cost exactly their
size while they live and leave no holes in the heap. Outside it the threshold is glibc's
ceiling (32 MiB), where its own sliding threshold ends up after the first big buffers: many
small maps (one per recogniser run) cost page faults, measured +12-20 % CPU per page.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
from collections.abc import Callable, Iterator

M_MMAP_THRESHOLD = -3  # mallopt's parameter number (malloc.h)
MAPPED_FROM = 1 << 20  # inside `mapped_allocations`
HEAP_UP_TO = 32 << 20  # outside: glibc's DEFAULT_MMAP_THRESHOLD_MAX on 64-bit systems


@functools.lru_cache(maxsize=1)
def _libc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return None
    return libc if hasattr(libc, "malloc_trim") and hasattr(libc, "mallopt") else None


def _malloc_trim() -> Callable[[int], int] | None:
    libc = _libc()
    return None if libc is None else libc.malloc_trim


def trim() -> None:
    """Return free heap pages to the system (cheap: ~1 ms)."""
    release = _malloc_trim()
    if release is not None:
        release(0)


def set_mmap_threshold(size: int) -> bool:
    """glibc's `M_MMAP_THRESHOLD`: allocations of `size` bytes or more get their own memory map.
    False where there is no glibc."""
    libc = _libc()
    return libc is not None and bool(libc.mallopt(M_MMAP_THRESHOLD, size))


@contextlib.contextmanager
def mapped_allocations() -> Iterator[None]:
    """Big buffers allocated inside get their own memory maps (see the module's note)."""
    set_mmap_threshold(MAPPED_FROM)
    try:
        yield
    finally:
        set_mmap_threshold(HEAP_UP_TO)
