"""Qwen3-VL resize rules: multiples of 32, one token per 32x32, budgets, bounds."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qwen3vl_agent.imaging.sizing import SizingError, fit_budget, smart_resize, visual_tokens


def test_known_sizes_from_the_design_notes() -> None:
    assert visual_tokens(1920, 1080) == 2040  # 60 x 34 at the processor's defaults
    assert smart_resize(1920, 1080).width == 1920 and smart_resize(1920, 1080).height == 1088
    target = fit_budget(1920, 1080, 1024)
    assert (target.width, target.height, target.tokens) == (1344, 768, 1008)
    assert fit_budget(1920, 1080, 512).tokens == 480
    assert visual_tokens(1920, 1080, 1280) == fit_budget(1920, 1080, 1280).tokens <= 1280


def test_small_images_are_scaled_up_to_the_minimum() -> None:
    target = smart_resize(40, 30)
    assert target.tokens >= 64
    assert target.width % 32 == 0 and target.height % 32 == 0


def test_an_image_that_fits_keeps_its_rounded_size() -> None:
    assert fit_budget(640, 480, 1024) == smart_resize(640, 480)
    assert (fit_budget(640, 480, 1024).width, fit_budget(640, 480, 1024).height) == (640, 480)


@pytest.mark.parametrize("size", [(0, 10), (10, 0), (-5, 10)])
def test_degenerate_sizes_are_refused(size: tuple[int, int]) -> None:
    with pytest.raises(SizingError, match="no pixels"):
        smart_resize(*size)


def test_extreme_aspect_ratio_is_refused() -> None:
    with pytest.raises(SizingError, match="elongated"):
        smart_resize(20_100, 100)


@given(
    width=st.integers(16, 8000),
    height=st.integers(16, 8000),
    budget=st.integers(64, 16384),
)
def test_budget_is_respected_and_sides_are_multiples_of_32(width: int, height: int, budget: int) -> None:
    if max(width, height) / min(width, height) > 200:
        return
    target = fit_budget(width, height, budget)
    assert target.width % 32 == 0 and target.height % 32 == 0
    assert target.tokens <= max(budget, 64) or min(target.width, target.height) == 32
    # aspect ratio kept up to the rounding of each side to a multiple of 32
    assert abs(target.width / target.height - width / height) <= 2 * (width / height) * (
        32 / target.width + 32 / target.height
    )
