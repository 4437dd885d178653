"""Preparing images for the wire: size, encodings, exact pixel hash, optional perceptual hash."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from qwen3vl_agent.errors import ImageError
from qwen3vl_agent.imaging.prep import pixel_hash, prepare_image


def screenshot(size: tuple[int, int] = (1920, 1080), text: str = "Total: 1234.56") -> Image.Image:
    img = Image.new("RGB", size, (240, 240, 240))
    draw = ImageDraw.Draw(img)
    draw.rectangle((100, 100, 900, 600), fill="white", outline="black")
    for i in range(20):
        draw.text((120, 120 + 22 * i), f"row {i}: {text}", fill="black")
    return img


def test_1920x1080_at_1024_tokens() -> None:
    prepared = prepare_image(screenshot(), 1024)
    assert (prepared.width, prepared.height) == (1344, 768)
    assert prepared.visual_tokens == 1008
    assert (prepared.source_width, prepared.source_height) == (1920, 1080)
    assert prepared.mime == "image/png"
    decoded = Image.open(io.BytesIO(prepared.data))
    assert decoded.size == (1344, 768)
    # PNG is lossless: the hash describes exactly the pixels the model gets
    assert pixel_hash(decoded.convert("RGB")) == prepared.pixel_hash


@pytest.mark.parametrize(("encoding", "mime"), [("webp", "image/webp"), ("jpeg", "image/jpeg")])
def test_other_encodings(encoding: str, mime: str) -> None:
    png = prepare_image(screenshot(), 1024, "png")
    other = prepare_image(screenshot(), 1024, encoding)  # type: ignore[arg-type]
    assert other.mime == mime
    assert Image.open(io.BytesIO(other.data)).size == (1344, 768)
    assert other.pixel_hash != png.pixel_hash  # lossy: the model sees other pixels


def test_a_re_encoded_identical_screenshot_has_the_same_pixel_hash(tmp_path: Path) -> None:
    img = screenshot()
    img.save(tmp_path / "a.png", compress_level=9)
    img.save(tmp_path / "b.bmp")
    hashes = {
        prepare_image(img, 1024).pixel_hash,
        prepare_image(tmp_path / "a.png", 1024).pixel_hash,
        prepare_image(tmp_path / "b.bmp", 1024).pixel_hash,
        prepare_image((tmp_path / "a.png").read_bytes(), 1024).pixel_hash,
    }
    assert len(hashes) == 1


def test_one_changed_pixel_changes_the_hash() -> None:
    a = screenshot((640, 480))
    b = a.copy()
    b.putpixel((300, 300), (0, 0, 0))
    assert prepare_image(a, 1024).pixel_hash != prepare_image(b, 1024).pixel_hash


def test_size_is_part_of_the_hash() -> None:
    assert pixel_hash(Image.new("RGB", (64, 32))) != pixel_hash(Image.new("RGB", (32, 64)))


def test_phash_only_when_asked() -> None:
    assert prepare_image(screenshot(), 512).phash is None
    phash = prepare_image(screenshot(), 512, want_phash=True).phash
    assert phash is not None and len(phash) == 16


def test_small_image_is_not_blown_up_past_its_rounded_size() -> None:
    prepared = prepare_image(Image.new("RGB", (320, 256), "white"), 2048)
    assert (prepared.width, prepared.height) == (320, 256)


def test_bad_input_is_an_image_error(tmp_path: Path) -> None:
    (tmp_path / "x.png").write_bytes(b"")
    with pytest.raises(ImageError, match=r"x\.png"):
        prepare_image(tmp_path / "x.png", 1024)
    with pytest.raises(ValueError, match="unknown image encoding"):
        prepare_image(screenshot((64, 64)), 64, "gif")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("size", "budget"),
    [((1920, 1080), 1024), ((2560, 1440), 1280), ((3840, 2160), 2048), ((1240, 1754), 2048)],
)
def test_banded_resize_is_pixel_identical_to_one_resize(size: tuple[int, int], budget: int) -> None:
    from PIL import ImageChops

    from qwen3vl_agent.imaging.prep import resize_to_budget
    from qwen3vl_agent.imaging.sizing import fit_budget

    img = Image.effect_noise(size, 80).convert("RGB")
    target = fit_budget(*size, budget)
    single = img.resize((target.width, target.height), Image.Resampling.BILINEAR)
    assert ImageChops.difference(resize_to_budget(img, budget), single).getbbox() is None


def test_fast_png_is_a_standard_lossless_png() -> None:
    from qwen3vl_agent.imaging.fast_png import encode_png

    img = Image.effect_noise((333, 77), 90).convert("RGB")
    decoded = Image.open(io.BytesIO(encode_png(img)))
    decoded.load()
    assert decoded.mode == "RGB" and decoded.tobytes() == img.tobytes()
    with pytest.raises(ValueError, match="RGB"):
        encode_png(__import__("numpy").zeros((4, 4), dtype="uint8"))


def test_prepare_works_in_a_forked_child_after_use_in_the_parent() -> None:
    import multiprocessing

    prepare_image(screenshot(), 1024)  # the parent's worker threads exist now
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(1) as pool:
        tokens = pool.apply_async(_child_prepare).get(timeout=120)
    assert tokens == 1008


def _child_prepare() -> int:
    return prepare_image(screenshot(), 1024).visual_tokens


def test_absurd_aspect_ratio_is_an_image_error(tmp_path: Path) -> None:
    path = tmp_path / "ribbon.png"
    Image.new("RGB", (30000, 10), "white").save(path)
    with pytest.raises(ImageError, match=r"ribbon\.png.*elongated"):
        prepare_image(path, 1024)
