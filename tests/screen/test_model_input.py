"""From a real screenshot to the model's input and back to the desktop, through the resize."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from qwen3vl_agent.actions.model import Action, ActionType
from qwen3vl_agent.actions.parser import parse_response
from qwen3vl_agent.screen.capture import CaptureTarget, ScreenCapturer
from qwen3vl_agent.screen.geometry import Rect
from qwen3vl_agent.screen.model_input import screenshot_to_model_input
from tests.support.x11_windows import ColorWindow
from tests.support.xvfb import XvfbDisplay

pytestmark = pytest.mark.xvfb

WINDOW = Rect(2020, 276, 300, 200)


def _red_box(image: Image.Image) -> tuple[int, int, int, int]:
    """Bounding box of the (mostly) red pixels of an RGB image."""
    r, g, b = image.split()
    mask = Image.merge("RGB", (r.point(lambda v: 255 if v > 200 else 0), g, b)).convert("L")
    mask = mask.point(lambda v: 255 if v > 60 else 0)
    box = mask.getbbox()
    assert box is not None
    return box


@pytest.mark.parametrize("mode", ["relative", "absolute"])
def test_a_target_found_on_the_resized_image_is_clicked_on_the_desktop(xvfb: XvfbDisplay, mode: str) -> None:
    with (
        ColorWindow(xvfb.name, "Target", WINDOW.left, WINDOW.top, WINDOW.width, WINDOW.height, (255, 0, 0)),
        ScreenCapturer() as c,
    ):
        shot = c.capture(CaptureTarget.monitor(2))
    mi = screenshot_to_model_input(shot, budget_tokens=512, coordinate_mode=mode)  # type: ignore[arg-type]
    assert (mi.image.source_width, mi.image.source_height) == (1280, 1024)
    assert mi.image.width < 1280 and mi.image.visual_tokens <= 512
    # "the model": find the red box on the image it was sent, answer with its centre on its grid
    sent = Image.open(io.BytesIO(mi.image.data)).convert("RGB")
    assert sent.size == (mi.image.width, mi.image.height)
    left, top, right, bottom = _red_box(sent)
    cx, cy = (left + right) / 2 / sent.width, (top + bottom) / 2 / sent.height
    gx, gy = mi.grid
    assert mi.grid == ((1000, 1000) if mode == "relative" else (sent.width, sent.height))
    answer = (
        f'<tool_call>{{"name": "computer_use", "arguments": {{"action": "left_click", '
        f'"coordinate": [{round(cx * gx)}, {round(cy * gy)}]}}}}</tool_call>'
    )
    action = parse_response(answer, mi.parse_options(out_of_range="reject")).actions[0]
    resolved = mi.resolve(action)
    assert resolved.point is not None
    px, py = resolved.point
    centre = (WINDOW.left + WINDOW.width / 2, WINDOW.top + WINDOW.height / 2)
    # within a few desktop pixels of the true centre (the sent image is ~2.7x smaller)
    assert abs(px - centre[0]) <= 4 and abs(py - centre[1]) <= 4
    assert WINDOW.contains(px, py)


def test_the_corners_of_the_grid_stay_on_the_captured_monitor(xvfb: XvfbDisplay) -> None:
    with ScreenCapturer() as c:
        mi = screenshot_to_model_input(c.capture(CaptureTarget.monitor(2)), budget_tokens=256)
    assert mi.resolve(Action(ActionType.LEFT_CLICK, coordinate=(0, 0))).point == (1920, 176)
    assert mi.resolve(Action(ActionType.LEFT_CLICK, coordinate=(1000, 1000))).point == (3199, 1199)
