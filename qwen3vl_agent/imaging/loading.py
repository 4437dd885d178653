"""Load any image the user hands us into an RGB `PIL.Image`, or fail with a clear `ImageError`.

Inputs come from files, the clipboard, drag and drop and screen capture. A file may be empty,
truncated, not an image at all, or a decompression bomb (a tiny file that claims 30000x30000
pixels). The size in the header is checked BEFORE any pixel is decoded, EXIF orientation is
applied (phone photos), and transparency is flattened onto white (what a viewer shows).
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from qwen3vl_agent.errors import ImageError

DEFAULT_MAX_INPUT_PIXELS = 200_000_000
DEFAULT_MAX_INPUT_BYTES = 512 * 1024 * 1024

ImageSource = Path | str | bytes | bytearray | memoryview | Image.Image
EXIF_ORIENTATION = 0x0112  # the EXIF tag that says how a photo is turned

_DECODE_ERRORS = (OSError, ValueError, SyntaxError, EOFError, IndexError, TypeError, KeyError)


def _describe(source: ImageSource) -> str:
    if isinstance(source, Path | str):
        return f"the file {source}"
    if isinstance(source, Image.Image):
        return "the image"
    return f"the image data ({len(source)} bytes)"


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _check_pixels(width: int, height: int, what: str, max_pixels: int) -> None:
    if width <= 0 or height <= 0:
        raise ImageError(f"{_cap(what)} has no pixels ({width}x{height})")
    if width * height > max_pixels:
        raise ImageError(
            f"{_cap(what)} is too large: {width}x{height} = {width * height:,} pixels"
            f" (the limit is {max_pixels:,}; images.max_input_pixels)",
            "shrink or crop it first",
        )


def has_transparency(image: Image.Image) -> bool:
    """An alpha channel, a palette with transparent entries, or an RGB/L colour key (PNG tRNS)."""
    return image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info


def to_rgb(image: Image.Image) -> Image.Image:
    """RGB pixels; transparent areas become white instead of whatever colour hides under alpha.

    Every path that turns a user's image into model or OCR input goes through here: a bare
    `convert("RGB")` drops the alpha and shows the colour under it, usually black, so dark text
    on a transparent background reads as nothing."""
    if image.mode == "RGB" and "transparency" not in image.info:
        return image
    if has_transparency(image):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit greyscale (scans, medical): scale to 8 bits instead of clipping to white
        image = image.point(lambda v: v / 256).convert("L") if image.mode != "I" else image.convert("L")
    return image.convert("RGB")


def _upright(image: Image.Image) -> Image.Image:
    """Apply the EXIF orientation; images without one (screenshots) pass through uncopied."""
    if image.getexif().get(EXIF_ORIENTATION, 1) == 1:
        return image
    return ImageOps.exif_transpose(image)


def _read(source: Path | str, max_bytes: int) -> bytes:
    path = Path(source)
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise ImageError(
                f"The file {path} is too large to be an image we accept ({size:,} bytes; limit {max_bytes:,})"
            )
        return path.read_bytes()
    except FileNotFoundError as exc:
        raise ImageError(f"The file {path} does not exist") from exc
    except IsADirectoryError as exc:
        raise ImageError(f"{path} is a folder, not an image file") from exc
    except PermissionError as exc:
        raise ImageError(f"The file {path} cannot be read (permission denied)") from exc
    except OSError as exc:
        raise ImageError(f"The file {path} cannot be read: {exc.strerror or exc}") from exc


def load_image(
    source: ImageSource,
    *,
    max_pixels: int = DEFAULT_MAX_INPUT_PIXELS,
    max_bytes: int = DEFAULT_MAX_INPUT_BYTES,
) -> Image.Image:
    """Decode `source` (path, encoded bytes or a PIL image) into an RGB image, EXIF-rotated.

    Raises `ImageError` naming the file for empty, truncated, corrupt, non-image and oversized
    input. The pixel limit is checked from the header, before decoding.
    """
    what = _describe(source)
    if isinstance(source, Image.Image):
        _check_pixels(source.width, source.height, what, max_pixels)
        try:
            return to_rgb(_upright(source))
        except _DECODE_ERRORS as exc:
            raise ImageError(f"{_cap(what)} cannot be decoded: {exc}") from exc
    data = _read(source, max_bytes) if isinstance(source, Path | str) else bytes(source)
    if not data:
        raise ImageError(f"{_cap(what)} is empty (0 bytes)")
    if len(data) > max_bytes:
        raise ImageError(f"{_cap(what)} is too large ({len(data):,} bytes; limit {max_bytes:,})")
    try:
        with warnings.catch_warnings():
            # our own limit below replaces Pillow's warning; its hard error (2x its limit) stays
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))  # reads the header only
    except Image.DecompressionBombError as exc:
        raise ImageError(f"{_cap(what)} is too large (refused before decoding): {exc}") from exc
    except UnidentifiedImageError as exc:
        raise ImageError(f"{_cap(what)} is not an image (or not a format we can read)") from exc
    except _DECODE_ERRORS as exc:
        raise ImageError(f"{_cap(what)} cannot be read as an image: {exc}") from exc
    _check_pixels(image.width, image.height, what, max_pixels)
    try:
        image.load()
        return to_rgb(_upright(image))
    except _DECODE_ERRORS as exc:
        text = str(exc)
        if "truncated" in text or isinstance(exc, EOFError):
            raise ImageError(f"{_cap(what)} is truncated (the file ends before the image does)") from exc
        raise ImageError(f"{_cap(what)} is corrupt: {text or type(exc).__name__}") from exc
    except Image.DecompressionBombError as exc:
        raise ImageError(f"{_cap(what)} is too large (refused): {exc}") from exc
