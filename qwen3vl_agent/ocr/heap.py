"""Give the heap memory a page freed back to the system.

Why: glibc's allocator keeps what ONNX Runtime and Tesseract free after a page (PaddleOCR's
detector alone frees ~150 MB of activations per A4 page) and a worker then sits at its peak:
383 MB after a Chinese page instead of 212 MB with `malloc_trim` (docs/benchmarks.md). Where
there is no glibc (macOS, musl) this does nothing.
"""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Callable


@functools.lru_cache(maxsize=1)
def _malloc_trim() -> Callable[[int], int] | None:
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return None
    return getattr(libc, "malloc_trim", None)


def trim() -> None:
    """Return free heap pages to the system (cheap: ~1 ms)."""
    release = _malloc_trim()
    if release is not None:
        release(0)
