"""PreparedMemo: a repeated source is prepared once; anything that changes the result misses."""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from PIL import Image

from qwen3vl_agent.errors import ImageError
from qwen3vl_agent.imaging.prep import prepare_image
from qwen3vl_agent.imaging.prep_memo import PreparedMemo, source_digest
from tests.imaging.test_image_prep import screenshot


def png_bytes(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def test_the_same_screenshot_again_is_answered_from_memory() -> None:
    memo = PreparedMemo()
    first = memo.prepare(screenshot(), 1024)
    again = memo.prepare(screenshot(), 1024)  # a new capture of the same screen: equal pixels
    assert again is first
    assert first == prepare_image(screenshot(), 1024)  # what the memo keeps is what prep makes
    stats = memo.stats()
    assert (stats.hits, stats.misses, stats.entries, stats.bytes) == (1, 1, 1, len(first.data))


def test_one_changed_pixel_a_budget_or_an_encoding_is_another_image() -> None:
    memo = PreparedMemo()
    base = memo.prepare(screenshot(), 1024)
    changed = screenshot()
    changed.putpixel((1919, 1079), (0, 0, 0))
    assert memo.prepare(changed, 1024).pixel_hash != base.pixel_hash
    assert memo.prepare(screenshot(), 256).visual_tokens < base.visual_tokens
    assert memo.prepare(screenshot(), 1024, "jpeg", quality=90).mime == "image/jpeg"
    assert memo.prepare(screenshot(), 1024, "jpeg", quality=50) != memo.prepare(
        screenshot(), 1024, "jpeg", quality=90
    )
    assert memo.stats().hits == 1 and memo.stats().misses == 5


def test_encoded_bytes_are_keyed_by_their_bytes() -> None:
    memo = PreparedMemo()
    data = png_bytes(screenshot())
    first = memo.prepare(data, 1024)
    assert memo.prepare(bytearray(data), 1024) is first
    assert memo.prepare(memoryview(data), 1024) is first
    assert source_digest(memoryview(data)[::2]) is None  # strided: not keyed, still prepared as before
    assert memo.prepare(png_bytes(screenshot(text="Total: 9999.99")), 1024).pixel_hash != first.pixel_hash


def test_exif_orientation_is_part_of_the_key() -> None:
    memo = PreparedMemo()
    upright = screenshot((1200, 800))
    turned = screenshot((1200, 800))
    turned.getexif()[0x0112] = 6  # "rotate 90° clockwise to view": same pixels, turned result
    a = memo.prepare(upright, 1024)
    b = memo.prepare(turned, 1024)
    assert (a.source_width, a.source_height) == (1200, 800)
    assert (b.source_width, b.source_height) == (800, 1200)


def test_paths_and_non_rgb_images_are_prepared_every_time(tmp_path: Path) -> None:
    memo = PreparedMemo()
    path = tmp_path / "shot.png"
    screenshot().save(path)
    memo.prepare(path, 1024)
    screenshot(text="changed on disk").save(path)  # a path's content can change under the same name
    assert memo.prepare(str(path), 1024).pixel_hash == prepare_image(path, 1024).pixel_hash
    palette = screenshot().convert("P")
    assert source_digest(palette) is None
    memo.prepare(palette, 1024)
    stats = memo.stats()
    assert (stats.unkeyed, stats.entries, stats.hits) == (3, 0, 0)


def test_errors_are_not_remembered() -> None:
    memo = PreparedMemo()
    for _ in range(2):
        with pytest.raises(ImageError, match=r"truncated|corrupt|not an image"):
            memo.prepare(png_bytes(screenshot())[:5000], 1024)
    assert memo.stats().entries == 0


def test_memory_is_bounded_by_encoded_bytes_least_recently_used_first() -> None:
    one = prepare_image(screenshot(), 256)
    memo = PreparedMemo(max_bytes=int(len(one.data) * 2.5))
    shots = [screenshot(text=f"screen {i}") for i in range(4)]
    memo.prepare(shots[0], 256)
    memo.prepare(shots[1], 256)
    memo.prepare(shots[0], 256)  # used again: shots[1] is now the oldest
    memo.prepare(shots[2], 256)
    stats = memo.stats()
    assert stats.entries == 2 and stats.bytes <= memo.max_bytes
    hits = stats.hits
    memo.prepare(shots[0], 256)
    assert memo.stats().hits == hits + 1  # kept
    memo.prepare(shots[1], 256)
    assert memo.stats().hits == hits + 1  # evicted: prepared again
    memo.clear()
    assert (memo.stats().entries, memo.stats().bytes) == (0, 0)
    memo.prepare(shots[0], 256)
    assert memo.stats().hits == hits + 1  # forgotten


def test_threads_preparing_the_same_image_agree() -> None:
    memo = PreparedMemo()
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: memo.prepare(screenshot(), 1024), range(8)))
    assert len({r.pixel_hash for r in results}) == 1
    stats = memo.stats()
    assert stats.hits + stats.misses == 8 and stats.entries == 1
