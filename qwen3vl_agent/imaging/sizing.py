"""Qwen3-VL's resize rules: how many visual tokens an image costs and what size fits a budget.

Qwen3-VL cuts images into 16x16 patches and merges 2x2 of them into one visual token, so one
token covers 32x32 pixels and both sides are rounded to multiples of 32. The server applies
the same rules (`smart_resize` in the model's processor); by sending an image whose sides
already follow them, the client decides the cost instead of the server, and the pixels that
are hashed for the cache are exactly the pixels the model sees.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

FACTOR = 32  # pixels per visual token side: patch 16 x merge 2
MIN_TOKENS = 64  # the processor's default shortest_edge 65536 pixels = 64 tokens
MAX_TOKENS = 16384  # the processor's default longest_edge 16777216 pixels
MAX_ASPECT_RATIO = 200  # the processor refuses more elongated images


class SizingError(ValueError):
    """The image cannot be resized under Qwen3-VL's rules (degenerate or too elongated)."""


@dataclass(frozen=True)
class TargetSize:
    width: int
    height: int

    @property
    def tokens(self) -> int:
        return (self.width // FACTOR) * (self.height // FACTOR)


def _round(x: float) -> int:
    return max(FACTOR, round(x / FACTOR) * FACTOR)


def _floor(x: float) -> int:
    return max(FACTOR, math.floor(x / FACTOR) * FACTOR)


def _ceil(x: float) -> int:
    return max(FACTOR, math.ceil(x / FACTOR) * FACTOR)


def smart_resize(
    width: int,
    height: int,
    *,
    min_tokens: int = MIN_TOKENS,
    max_tokens: int = MAX_TOKENS,
) -> TargetSize:
    """The size Qwen3-VL's processor would give an image, with the token bounds given.

    Sides are rounded to multiples of 32; if that costs more than `max_tokens` the image is
    scaled down (aspect ratio kept, sides floored), if fewer than `min_tokens` scaled up.
    """
    if width <= 0 or height <= 0:
        raise SizingError(f"image has no pixels ({width}x{height})")
    if max(width, height) / min(width, height) > MAX_ASPECT_RATIO:
        raise SizingError(
            f"image {width}x{height} is more elongated than {MAX_ASPECT_RATIO}:1, which Qwen3-VL refuses"
        )
    if min_tokens > max_tokens:
        raise SizingError(f"min_tokens {min_tokens} exceeds max_tokens {max_tokens}")
    min_pixels = min_tokens * FACTOR * FACTOR
    max_pixels = max_tokens * FACTOR * FACTOR
    w, h = _round(width), _round(height)
    if w * h > max_pixels:
        beta = math.sqrt(width * height / max_pixels)
        w, h = _floor(width / beta), _floor(height / beta)
    elif w * h < min_pixels:
        beta = math.sqrt(min_pixels / (width * height))
        w, h = _ceil(width * beta), _ceil(height * beta)
        if w * h > max_pixels:  # rounding up overshot a tight budget: round down instead
            beta = math.sqrt(max_pixels / (width * height))
            w, h = _floor(width * beta), _floor(height * beta)
    return TargetSize(w, h)


def fit_budget(width: int, height: int, budget_tokens: int, *, min_tokens: int = MIN_TOKENS) -> TargetSize:
    """The largest Qwen3-VL size of this aspect ratio that costs at most `budget_tokens`.

    An image that already fits keeps its (32-rounded) size: never upscaled past the source
    except to reach `min_tokens` (tiny images are unreadable otherwise).
    """
    budget = max(1, min(budget_tokens, MAX_TOKENS))
    return smart_resize(width, height, min_tokens=min(min_tokens, budget), max_tokens=budget)


def visual_tokens(width: int, height: int, budget_tokens: int | None = None) -> int:
    """How many visual tokens an image of this size costs (at the server's defaults, or a budget)."""
    if budget_tokens is None:
        return smart_resize(width, height).tokens
    return fit_budget(width, height, budget_tokens).tokens
