"""Turn any image into a `PreparedImage`: resized to a visual-token budget, encoded, hashed.

The pixel hash is computed on the RGB pixels that are sent (after resizing), with their size,
so the same screenshot saved as PNG, BMP or straight from the capture gives the same cache key.
For lossy encodings the encoder settings are part of the hash (the model sees other pixels).
The perceptual hash is computed only when asked: it exists for the opt-in near-duplicate cache.

Default encoding: PNG (lossless, unfiltered, zlib level 1; see docs/benchmarks.md, "Queue,
cache and image preparation"): small text survives exactly and it fits the 30 ms budget.
Large images are resized in two horizontal bands on two threads (Pillow releases the GIL;
the bands are pixel-identical to a single resize), and the hash runs beside the encoder.
"""

from __future__ import annotations

import hashlib
import io
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Literal

import numpy as np
from PIL import Image

from qwen3vl_agent.errors import ImageError
from qwen3vl_agent.imaging.fast_png import encode_png
from qwen3vl_agent.imaging.loading import DEFAULT_MAX_INPUT_PIXELS, ImageSource, load_image
from qwen3vl_agent.imaging.sizing import SizingError, fit_budget
from qwen3vl_agent.inference.request import PreparedImage

Encoding = Literal["png", "webp", "jpeg"]

MIME = {"png": "image/png", "webp": "image/webp", "jpeg": "image/jpeg"}
PNG_COMPRESS_LEVEL = 1
DEFAULT_QUALITY = 90
BAND_MIN_PIXELS = 1_000_000  # below this a second thread costs more than it saves

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _forget_pool_in_child() -> None:
    """A forked child has none of the parent's threads: it must build its own pool."""
    global _pool
    _pool = None


os.register_at_fork(after_in_child=_forget_pool_in_child)


def _workers() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="image-prep")
        return _pool


def _hash(header: str, data: bytes | memoryview) -> str:
    h = hashlib.blake2b(digest_size=16)
    h.update(header.encode())
    h.update(data)
    return h.hexdigest()


def pixel_hash(image: Image.Image, salt: str = "") -> str:
    """Exact content hash of an RGB image's pixels and size (blake2b, 128 bits, hex)."""
    return _hash(f"{image.mode}:{image.width}x{image.height}:{salt}", image.tobytes())


def perceptual_hash(image: Image.Image) -> str:
    """imagehash's pHash (64 bits, hex): equal for images that look alike, even when text differs."""
    import imagehash

    return str(imagehash.phash(image))


def encode(image: Image.Image, encoding: Encoding, quality: int = DEFAULT_QUALITY) -> bytes:
    """Encode RGB pixels for the wire."""
    buf = io.BytesIO()
    if encoding == "png":
        return encode_png(image, PNG_COMPRESS_LEVEL)
    if encoding == "webp":
        image.save(buf, format="WEBP", quality=quality, method=0)
    elif encoding == "jpeg":
        image.save(buf, format="JPEG", quality=quality, subsampling=0 if quality >= 90 else 2)
    else:
        raise ValueError(f"unknown image encoding {encoding!r}; use png, webp or jpeg")
    return buf.getvalue()


def resize_to_budget(image: Image.Image, budget_tokens: int) -> Image.Image:
    """Resize to the Qwen3-VL size that fits `budget_tokens` (a no-op when it already does).

    Bilinear: Pillow widens its support when shrinking (antialiased), so 11 px text stays
    legible (box filtering loses it, bicubic costs twice as much; docs/benchmarks.md).
    """
    target = fit_budget(image.width, image.height, budget_tokens)
    size = (target.width, target.height)
    if size == image.size:
        return image
    if image.width * image.height < BAND_MIN_PIXELS or target.height < 64:
        return image.resize(size, Image.Resampling.BILINEAR)
    half = target.height // 2
    scale = image.height / target.height

    def band(top: int, bottom: int) -> Image.Image:
        box = (0.0, top * scale, float(image.width), bottom * scale)
        return image.resize((target.width, bottom - top), Image.Resampling.BILINEAR, box=box)

    lower = _workers().submit(band, half, target.height)
    upper = band(0, half)
    out = Image.new(image.mode, size, None)  # uninitialised: both bands cover it
    out.paste(upper, (0, 0))
    out.paste(lower.result(), (0, half))
    return out


def prepare_image(
    source: ImageSource,
    budget_tokens: int,
    encoding: Encoding = "png",
    *,
    want_phash: bool = False,
    quality: int = DEFAULT_QUALITY,
    max_input_pixels: int = DEFAULT_MAX_INPUT_PIXELS,
) -> PreparedImage:
    """Load, resize to the visual-token budget, encode and hash one image (raises `ImageError`)."""
    image = load_image(source, max_pixels=max_input_pixels)
    try:
        resized = resize_to_budget(image, budget_tokens)
    except SizingError as exc:
        where = f" ({source})" if isinstance(source, str | os.PathLike) else ""
        raise ImageError(f"The image{where} cannot be sent to the model: {exc}") from exc
    pixels = np.asarray(resized)
    salt = "" if encoding == "png" else f"{encoding}:q{quality}"
    header = f"RGB:{resized.width}x{resized.height}:{salt}"
    hashed: Future[str] = _workers().submit(_hash, header, np.ascontiguousarray(pixels).data.cast("B"))
    data = encode_png(pixels, PNG_COMPRESS_LEVEL) if encoding == "png" else encode(resized, encoding, quality)
    return PreparedImage(
        data=data,
        mime=MIME[encoding],
        width=resized.width,
        height=resized.height,
        source_width=image.width,
        source_height=image.height,
        pixel_hash=hashed.result(),
        phash=perceptual_hash(resized) if want_phash else None,
    )
