"""Loading images: formats, EXIF, transparency, and every kind of bad input."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image

from qwen3vl_agent.errors import ImageError
from qwen3vl_agent.imaging.loading import load_image


def png_bytes(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue()


def png_header_claiming(width: int, height: int) -> bytes:
    """A PNG signature + IHDR that claims `width` x `height` and a tiny IDAT: a cheap "bomb"."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def sample(mode: str = "RGB", size: tuple[int, int] = (64, 48)) -> Image.Image:
    img = Image.new(mode, size)
    img.putpixel((0, 0), (255, 0, 0) if mode == "RGB" else img.getpixel((0, 0)))
    return img


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "BMP", "WEBP", "GIF", "TIFF"])
def test_common_formats_load_as_rgb(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / f"x.{fmt.lower()}"
    Image.new("RGB", (64, 48), (10, 200, 30)).save(path, fmt)
    image = load_image(path)
    assert image.mode == "RGB" and image.size == (64, 48)
    assert load_image(path.read_bytes()).size == (64, 48)
    assert load_image(str(path)).size == (64, 48)


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    img = Image.new("RGB", (80, 40), "white")
    img.paste((255, 0, 0), (0, 0, 10, 10))  # red in the top-left corner
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 CW to display
    path = tmp_path / "phone.jpg"
    img.save(path, "JPEG", exif=exif, quality=95)
    loaded = load_image(path)
    assert loaded.size == (40, 80)
    r, g, b = loaded.getpixel((35, 3))  # the red corner moved to the top-right
    assert r > 200 and g < 60 and b < 60


def test_transparency_is_flattened_onto_white() -> None:
    img = Image.new("RGBA", (10, 10), (0, 0, 0, 0))
    img.putpixel((1, 1), (255, 0, 0, 255))
    loaded = load_image(png_bytes(img))
    assert loaded.getpixel((5, 5)) == (255, 255, 255)
    assert loaded.getpixel((1, 1)) == (255, 0, 0)


def test_pil_images_pass_through() -> None:
    img = Image.new("L", (20, 10), 128)
    loaded = load_image(img)
    assert loaded.mode == "RGB" and loaded.getpixel((0, 0)) == (128, 128, 128)


def test_zero_byte_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    with pytest.raises(ImageError, match=r"empty.png.*empty \(0 bytes\)"):
        load_image(path)
    with pytest.raises(ImageError, match="empty"):
        load_image(b"")


def test_non_image_file(tmp_path: Path) -> None:
    path = tmp_path / "notes.png"
    path.write_text("this is a shopping list, not a picture\n")
    with pytest.raises(ImageError, match=r"notes.png is not an image"):
        load_image(path)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_truncated_file(tmp_path: Path, fmt: str) -> None:
    img = Image.effect_noise((256, 256), 64).convert("RGB")
    buf = io.BytesIO()
    img.save(buf, fmt)
    data = buf.getvalue()
    path = tmp_path / f"cut.{fmt.lower()}"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError, match=r"cut\.\w+ is (truncated|corrupt)"):
        load_image(path)


def test_corrupt_file(tmp_path: Path) -> None:
    data = bytearray(png_bytes(Image.effect_noise((128, 128), 64).convert("RGB")))
    for i in range(60, len(data) - 20, 7):  # scramble the compressed pixels, keep the header
        data[i] ^= 0x5A
    path = tmp_path / "scrambled.png"
    path.write_bytes(bytes(data))
    with pytest.raises(ImageError, match=r"scrambled\.png"):
        load_image(path)


def test_garbage_after_a_valid_signature(tmp_path: Path) -> None:
    path = tmp_path / "garbage.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    with pytest.raises(ImageError, match=r"garbage\.png"):
        load_image(path)


def test_30000_by_30000_is_refused_before_decoding(tmp_path: Path) -> None:
    path = tmp_path / "bomb.png"
    path.write_bytes(png_header_claiming(30000, 30000))
    assert path.stat().st_size < 200  # the file is tiny: only the header claims the size
    with pytest.raises(ImageError, match=r"bomb.png is too large") as info:
        load_image(path)
    # had the pixels been decoded, the tiny IDAT would have failed as "truncated" instead
    assert "truncated" not in str(info.value)


def test_the_configured_pixel_limit_applies_before_decoding(tmp_path: Path) -> None:
    path = tmp_path / "big.png"
    path.write_bytes(png_header_claiming(4000, 3000))  # header only: decoding would fail
    with pytest.raises(ImageError, match=r"4000x3000 = 12,000,000 pixels.*limit is 10,000,000"):
        load_image(path, max_pixels=10_000_000)


def test_byte_limit(tmp_path: Path) -> None:
    path = tmp_path / "x.png"
    path.write_bytes(png_bytes(sample()))
    with pytest.raises(ImageError, match="too large"):
        load_image(path, max_bytes=10)


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="does not exist"):
        load_image(tmp_path / "nope.png")
    with pytest.raises(ImageError, match="is a folder"):
        load_image(tmp_path)


def dark_text_on_transparent(mode: str, path: Path) -> Path:
    """Black "HELLO" on a fully transparent background, stored the way `mode` stores alpha:
    an alpha channel (RGBA, LA), a palette with a transparent index (P + tRNS), or a colour key
    (RGB/L + tRNS). The transparent pixels are black underneath, as most editors write them."""
    rgba = Image.new("RGBA", (120, 40), (0, 0, 0, 0))
    rgba.paste((0, 0, 0, 255), (10, 10, 110, 30))  # the "text": an opaque dark block
    if mode in ("RGBA", "LA"):
        rgba.convert(mode).save(path)
    elif mode == "P":
        pal = Image.new("P", rgba.size, 0)
        pal.putpalette([0, 0, 0, 20, 20, 20] + [0] * 762)
        pal.paste(1, (10, 10, 110, 30))
        pal.save(path, transparency=0)  # index 0 (black) is transparent
    elif mode == "RGB-key":
        key = Image.new("RGB", rgba.size, (0, 0, 0))
        key.paste((20, 20, 20), (10, 10, 110, 30))
        key.save(path, transparency=(0, 0, 0))
    elif mode == "L-key":
        grey = Image.new("L", rgba.size, 0)
        grey.paste(20, (10, 10, 110, 30))
        grey.save(path, transparency=0)
    return path


TRANSPARENT_MODES = ["RGBA", "LA", "P", "RGB-key", "L-key"]


@pytest.mark.parametrize("mode", TRANSPARENT_MODES)
def test_dark_text_on_a_transparent_background_lands_on_white(tmp_path: Path, mode: str) -> None:
    path = dark_text_on_transparent(mode, tmp_path / f"{mode}.png")
    with Image.open(path) as raw:  # the file really carries transparency in this form
        assert raw.mode in ("RGBA", "LA", "P", "RGB", "L") and (
            raw.mode in ("RGBA", "LA") or "transparency" in raw.info
        )
    for loaded in (load_image(path), load_image(path.read_bytes()), load_image(Image.open(path))):
        assert loaded.mode == "RGB"
        assert loaded.getpixel((2, 2)) == (255, 255, 255)  # background: white, not black
        assert max(loaded.getpixel((60, 20))) <= 20  # the text stays dark
