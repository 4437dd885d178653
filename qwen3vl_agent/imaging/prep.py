"""Turn any image into a `PreparedImage`: resized to a visual-token budget, encoded, hashed.

The pixel hash is computed on the RGB pixels that are sent (after resizing), with their size,
so the same screenshot saved as PNG, BMP or straight from the capture gives the same cache key.
For lossy encodings the encoder settings are part of the hash (the model sees other pixels).
The perceptual hash is computed only when asked: it exists for the opt-in near-duplicate cache.

Default encoding: PNG at compression level 1 (see docs/benchmarks.md, "Queue, cache and image
preparation"): lossless, so small text survives, and fast enough for a 30 ms budget.
"""

from __future__ import annotations

import hashlib
import io
from typing import Literal

from PIL import Image

from qwen3vl_agent.imaging.loading import DEFAULT_MAX_INPUT_PIXELS, ImageSource, load_image
from qwen3vl_agent.imaging.sizing import fit_budget
from qwen3vl_agent.inference.request import PreparedImage

Encoding = Literal["png", "webp", "jpeg"]

MIME = {"png": "image/png", "webp": "image/webp", "jpeg": "image/jpeg"}
PNG_COMPRESS_LEVEL = 1
DEFAULT_QUALITY = 90


def pixel_hash(image: Image.Image, salt: str = "") -> str:
    """Exact content hash of an RGB image's pixels and size (blake2b, 128 bits, hex)."""
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{image.mode}:{image.width}x{image.height}:{salt}".encode())
    h.update(image.tobytes())
    return h.hexdigest()


def perceptual_hash(image: Image.Image) -> str:
    """imagehash's pHash (64 bits, hex): equal for images that look alike, even when text differs."""
    import imagehash

    return str(imagehash.phash(image))


def encode(image: Image.Image, encoding: Encoding, quality: int = DEFAULT_QUALITY) -> bytes:
    """Encode RGB pixels for the wire."""
    buf = io.BytesIO()
    if encoding == "png":
        image.save(buf, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
    elif encoding == "webp":
        image.save(buf, format="WEBP", quality=quality, method=0)
    elif encoding == "jpeg":
        image.save(buf, format="JPEG", quality=quality, subsampling=0 if quality >= 90 else 2)
    else:
        raise ValueError(f"unknown image encoding {encoding!r}; use png, webp or jpeg")
    return buf.getvalue()


def resize_to_budget(image: Image.Image, budget_tokens: int) -> Image.Image:
    """Resize to the Qwen3-VL size that fits `budget_tokens` (a no-op when it already does)."""
    target = fit_budget(image.width, image.height, budget_tokens)
    if (target.width, target.height) == image.size:
        return image
    # Pillow's bilinear filter widens its support when shrinking (antialiased), so text stays
    # legible at half the cost of bicubic; reducing_gap adds a fast box pre-reduce for big factors
    return image.resize((target.width, target.height), Image.Resampling.BILINEAR, reducing_gap=3.0)


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
    resized = resize_to_budget(image, budget_tokens)
    data = encode(resized, encoding, quality)
    salt = "" if encoding == "png" else f"{encoding}:q{quality}"
    return PreparedImage(
        data=data,
        mime=MIME[encoding],
        width=resized.width,
        height=resized.height,
        source_width=image.width,
        source_height=image.height,
        pixel_hash=pixel_hash(resized, salt),
        phash=perceptual_hash(resized) if want_phash else None,
    )
