"""Privacy masks on images: the right pixels go black, partly covered pixels included."""

from __future__ import annotations

import pytest
from PIL import Image

from qwen3vl_agent.config import PrivacySettings
from qwen3vl_agent.config import Rect as RectSetting
from qwen3vl_agent.errors import CaptureError
from qwen3vl_agent.screen.geometry import CaptureGeometry, Rect
from qwen3vl_agent.screen.masks import apply_masks, privacy_rects, to_image_box
from qwen3vl_agent.screen.windows import WindowInfo


def test_mask_on_a_monitor_with_negative_offset() -> None:
    g = CaptureGeometry(Rect(-1280, -200, 1280, 1024), monitor_index=2)
    img = Image.new("RGB", (1280, 1024), (255, 255, 255))
    applied = apply_masks(img, g, [Rect(-100, -200, 300, 50), Rect(5000, 0, 10, 10)])
    assert applied == [Rect(-100, -200, 300, 50)]  # the second one is not on this capture
    assert img.crop((1180, 0, 1280, 50)).getcolors() == [(100 * 50, (0, 0, 0))]
    assert img.getpixel((1179, 0)) == (255, 255, 255) and img.getpixel((1180, 50)) == (255, 255, 255)


def test_mask_on_a_scaled_image_rounds_outwards() -> None:
    """A capture whose image has more pixels than its rect (Retina): partly covered pixels go too."""
    g = CaptureGeometry(Rect(0, 0, 100, 100), image_width=250, image_height=250)
    assert to_image_box(Rect(10, 10, 1, 1), g) == (25, 25, 28, 28)
    assert to_image_box(Rect(-50, -50, 500, 500), g) == (0, 0, 250, 250)


def test_privacy_rects_from_settings_and_window_titles() -> None:
    privacy = PrivacySettings(
        masked_rects=[
            RectSetting(left=1, top=2, width=3, height=4),
            RectSetting(left=0, top=0, width=0, height=9),
        ],
        masked_window_titles=["Bank"],
    )
    asked: list[str] = []

    def finder(title: str) -> list[WindowInfo]:
        asked.append(title)
        return [WindowInfo(7, "My Bank - Browser", Rect(10, 10, 100, 50))]

    assert privacy_rects(privacy, finder) == [Rect(1, 2, 3, 4), Rect(10, 10, 100, 50)]
    assert asked == ["Bank"]
    assert privacy_rects(None) == []


def test_window_lookup_off_x11_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from qwen3vl_agent.screen.windows import WindowLookupError, find_windows

    monkeypatch.delenv("DISPLAY", raising=False)
    with pytest.raises(WindowLookupError, match="only on an X11 desktop") as info:
        find_windows("Bank")
    assert isinstance(info.value, CaptureError)
