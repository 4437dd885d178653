"""A minimal PNG writer for RGB screenshots: no row filter, zlib level 1.

Measured here (docs/benchmarks.md): on 1344x768 screenshots Pillow's PNG encoder at level 1
spends ~19 ms of CPU, mostly choosing an adaptive filter per row, for files the same size as
unfiltered rows deflated at level 1 (~7 ms). Flat UI colours and text gain nothing from PNG's
filters. The output is a standard PNG (signature, IHDR, one IDAT, IEND) any decoder reads.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np
from PIL import Image

SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def png_rows(pixels: np.ndarray) -> np.ndarray:
    """The raw PNG scanlines of an (H, W, 3) uint8 array: filter byte 0 then the row."""
    height, width, _ = pixels.shape
    rows = np.empty((height, 1 + width * 3), dtype=np.uint8)
    rows[:, 0] = 0
    rows[:, 1:] = pixels.reshape(height, width * 3)
    return rows


def encode_png(image: Image.Image | np.ndarray, level: int = 1) -> bytes:
    """Encode RGB pixels (a PIL image or an (H, W, 3) uint8 array) as PNG."""
    pixels = np.asarray(image.convert("RGB") if isinstance(image, Image.Image) else image, dtype=np.uint8)
    if pixels.ndim != 3 or pixels.shape[2] != 3:
        raise ValueError(f"expected RGB pixels, got an array of shape {pixels.shape}")
    height, width, _ = pixels.shape
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB, no interlace
    idat = zlib.compress(png_rows(pixels).data, level)
    return SIGNATURE + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")
