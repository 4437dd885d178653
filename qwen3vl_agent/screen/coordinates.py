"""Model space -> pixels of the screenshot that was sent -> input-device points, and back.

Qwen3-VL answers on a relative 0..1000 grid (some cookbooks use 999); Qwen2.5-VL answered in
absolute pixels of the resized image it saw. Both are a fraction of the image, so shrinking
the screenshot before sending it never moves a click: the fraction is applied to the capture
geometry of the screenshot the model saw, not to the image that went over the wire.

Every mapping clamps: a device point returned here is always inside the captured area.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from qwen3vl_agent.actions.model import Action, ResolvedAction
from qwen3vl_agent.errors import CaptureError
from qwen3vl_agent.screen.geometry import CaptureGeometry, MonitorGeometry, Rect

CoordinateMode = Literal["relative", "absolute"]


@dataclass(frozen=True)
class CoordinateSpace:
    """The grid the model's numbers live on."""

    mode: CoordinateMode = "relative"
    scale: int = 1000  # relative mode: the grid size (1000 for Qwen3-VL, 999 for some cookbooks)
    image_size: tuple[int, int] | None = None  # absolute mode: the resized image the model saw

    def __post_init__(self) -> None:
        if self.mode == "absolute":
            if self.image_size is None or min(self.image_size) <= 0:
                raise ValueError("absolute coordinates need the positive size of the image the model saw")
        elif self.scale <= 0:
            raise ValueError(f"relative grid must be positive, not {self.scale}")

    @property
    def extent(self) -> tuple[float, float]:
        """The model-space value that means 'the right/bottom edge'."""
        if self.mode == "absolute":
            assert self.image_size is not None
            return (float(self.image_size[0]), float(self.image_size[1]))
        return (float(self.scale), float(self.scale))

    @classmethod
    def from_settings(
        cls, mode: CoordinateMode, scale: int = 1000, image_size: tuple[int, int] | None = None
    ) -> CoordinateSpace:
        """From `settings.screen` (`coordinate_mode`, `coordinate_scale`) and the sent image's size."""
        return cls(mode=mode, scale=scale, image_size=image_size if mode == "absolute" else None)


RELATIVE_1000 = CoordinateSpace()
_EPS = 1e-7


def _finite(x: float, y: float) -> None:
    if not (math.isfinite(x) and math.isfinite(y)):
        raise ValueError(f"model coordinates must be finite numbers, not ({x!r}, {y!r})")


def model_to_pixel(
    x: float, y: float, geometry: CaptureGeometry, space: CoordinateSpace = RELATIVE_1000
) -> tuple[int, int]:
    """The screenshot pixel (column, row) the model pointed at, clamped into the image."""
    _finite(x, y)
    ex, ey = space.extent
    col = math.floor(x / ex * geometry.width)
    row = math.floor(y / ey * geometry.height)
    return (min(max(col, 0), geometry.width - 1), min(max(row, 0), geometry.height - 1))


def pixel_to_model(
    col: float, row: float, geometry: CaptureGeometry, space: CoordinateSpace = RELATIVE_1000
) -> tuple[float, float]:
    """Model coordinates of the CENTRE of a screenshot pixel (exact inverse of `model_to_pixel`)."""
    ex, ey = space.extent
    return ((col + 0.5) / geometry.width * ex, (row + 0.5) / geometry.height * ey)


def model_to_image_xy(
    x: float, y: float, image_size: tuple[int, int], space: CoordinateSpace = RELATIVE_1000
) -> tuple[float, float]:
    """Continuous position on any rendering of the screenshot (for drawing markers), clamped."""
    _finite(x, y)
    ex, ey = space.extent
    fx, fy = min(max(x / ex, 0.0), 1.0), min(max(y / ey, 0.0), 1.0)
    return (fx * image_size[0], fy * image_size[1])


def _point_bounds(geometry: CaptureGeometry) -> tuple[int, int, int, int]:
    """Inclusive bounds of the integer device points whose unit square overlaps the captured area."""
    ox, oy = geometry.origin_points
    sw, sh = geometry.size_points
    x0, y0 = math.floor(ox + 1e-9), math.floor(oy + 1e-9)
    x1, y1 = math.ceil(ox + sw - 1e-9) - 1, math.ceil(oy + sh - 1e-9) - 1
    return x0, y0, max(x0, x1), max(y0, y1)


def point_rect(geometry: CaptureGeometry) -> Rect:
    """The device points a capture covers, as a rectangle (the scope of a monitor or region run)."""
    x0, y0, x1, y1 = _point_bounds(geometry)
    return Rect(x0, y0, x1 - x0 + 1, y1 - y0 + 1)


def pixel_to_point(col: int, row: int, geometry: CaptureGeometry) -> tuple[int, int]:
    """The device point over the centre of screenshot pixel (col, row), clamped inside the capture."""
    ox, oy = geometry.origin_points
    sw, sh = geometry.size_points
    # the epsilon keeps a pixel centre that falls exactly on a point boundary on one side,
    # whichever way the float error of the origin went
    px = math.floor(ox + (col + 0.5) / geometry.width * sw + _EPS)
    py = math.floor(oy + (row + 0.5) / geometry.height * sh + _EPS)
    x0, y0, x1, y1 = _point_bounds(geometry)
    return (min(max(px, x0), x1), min(max(py, y0), y1))


def point_to_pixel(px: float, py: float, geometry: CaptureGeometry) -> tuple[int, int]:
    """The screenshot pixel under the centre of device point (px, py), clamped into the image."""
    ox, oy = geometry.origin_points
    sw, sh = geometry.size_points
    col = math.floor((px - ox + 0.5) / sw * geometry.width + _EPS)
    row = math.floor((py - oy + 0.5) / sh * geometry.height + _EPS)
    return (min(max(col, 0), geometry.width - 1), min(max(row, 0), geometry.height - 1))


def model_to_point(
    x: float, y: float, geometry: CaptureGeometry, space: CoordinateSpace = RELATIVE_1000
) -> tuple[int, int]:
    """Where pyautogui must put the pointer for model coordinates (x, y); always inside the capture."""
    col, row = model_to_pixel(x, y, geometry, space)
    return pixel_to_point(col, row, geometry)


def point_to_model(
    px: float, py: float, geometry: CaptureGeometry, space: CoordinateSpace = RELATIVE_1000
) -> tuple[float, float]:
    """Model coordinates of a device point (tests, drawing what the agent did)."""
    col, row = point_to_pixel(px, py, geometry)
    return pixel_to_model(col, row, geometry, space)


def resolve_action(
    action: Action, geometry: CaptureGeometry, space: CoordinateSpace = RELATIVE_1000
) -> ResolvedAction:
    """Map an action's model-space coordinates (and a drag's start) to device points."""
    point = model_to_point(*action.coordinate, geometry, space) if action.coordinate is not None else None
    start = (
        model_to_point(*action.start_coordinate, geometry, space)
        if action.start_coordinate is not None
        else None
    )
    return ResolvedAction(action=action, point=point, start_point=start)


def ensure_capture_still_valid(geometry: CaptureGeometry, monitors: list[MonitorGeometry]) -> None:
    """Refuse to act on a screenshot whose monitor is gone or has changed size or place.

    `monitors` is the current list (index 0 = whole desktop, as `screen.capture.list_monitors`
    returns). A free region or window must still lie on the current desktop.
    """
    current = {m.index: m for m in monitors}
    idx = geometry.monitor_index
    if idx is not None:
        mon = current.get(idx)
        if mon is None:
            raise CaptureError(
                f"Monitor {idx} of the screenshot is no longer connected ({len(monitors) - 1} monitor(s) now).",
                "capture the screen again before acting",
            )
        if mon.rect != geometry.rect and geometry.rect.intersect(mon.rect) != geometry.rect:
            raise CaptureError(
                f"Monitor {idx} changed since the screenshot (was {geometry.rect}, now {mon.rect}).",
                "capture the screen again before acting",
            )
        return
    desktop = current.get(0)
    if desktop is not None and desktop.rect.intersect(geometry.rect) is None:
        raise CaptureError(
            f"The captured area {geometry.rect} is no longer on the desktop ({desktop.rect}).",
            "capture the screen again before acting",
        )
