"""Where pixels came from: monitor and capture geometry, in capture pixels and device points.

Two coordinate systems meet here:
  * capture pixels: the desktop as the screen grabber sees it (physical pixels; on a
    multi-monitor desktop the origin is the primary monitor's top-left, so other monitors
    may have negative offsets);
  * input-device points: what pyautogui moves the mouse in. On X11 and on DPI-aware Windows
    they are the same as capture pixels; on macOS (Retina) and on scaled, DPI-unaware
    Windows one point is `scale` pixels.
A `CaptureGeometry` ties one screenshot's pixel grid to both, so a click can be mapped back
exactly to the screen that was shown to the model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Rect:
    """An axis-aligned rectangle; `left`/`top` may be negative, the right/bottom edge is exclusive."""

    left: int
    top: int
    width: int
    height: int

    @property
    def right(self) -> int:
        return self.left + self.width

    @property
    def bottom(self) -> int:
        return self.top + self.height

    @property
    def is_empty(self) -> bool:
        return self.width <= 0 or self.height <= 0

    def intersect(self, other: Rect) -> Rect | None:
        """The overlap, or None when they do not overlap."""
        left, top = max(self.left, other.left), max(self.top, other.top)
        right, bottom = min(self.right, other.right), min(self.bottom, other.bottom)
        if right <= left or bottom <= top:
            return None
        return Rect(left, top, right - left, bottom - top)

    def contains(self, x: float, y: float) -> bool:
        return self.left <= x < self.right and self.top <= y < self.bottom

    def as_mss(self) -> dict[str, int]:
        return {"left": self.left, "top": self.top, "width": self.width, "height": self.height}

    @staticmethod
    def union(rects: list[Rect]) -> Rect:
        left, top = min(r.left for r in rects), min(r.top for r in rects)
        right, bottom = max(r.right for r in rects), max(r.bottom for r in rects)
        return Rect(left, top, right - left, bottom - top)


@dataclass(frozen=True)
class MonitorGeometry:
    """One monitor (mss numbering: 1.. for monitors, 0 for the whole desktop).

    `rect` is in capture pixels. `scale` is capture pixels per input-device point;
    `point_left`/`point_top` are the monitor's origin in device points (defaults to
    rect.left/scale, rect.top/scale, which is right whenever the desktop has one scale).
    """

    index: int
    rect: Rect
    scale: float = 1.0
    point_left: float | None = None
    point_top: float | None = None
    is_primary: bool = False
    name: str | None = None

    def __post_init__(self) -> None:
        if not (math.isfinite(self.scale) and self.scale > 0):
            raise ValueError(f"monitor scale must be a positive number, not {self.scale!r}")

    @property
    def origin_points(self) -> tuple[float, float]:
        left = self.rect.left / self.scale if self.point_left is None else self.point_left
        top = self.rect.top / self.scale if self.point_top is None else self.point_top
        return (left, top)


@dataclass(frozen=True)
class CaptureGeometry:
    """The pixel grid of one screenshot: which desktop area it shows and how that maps to points.

    `rect` is the captured area in capture pixels; the image is `rect.width` x `rect.height`
    unless `image_width`/`image_height` say otherwise (a grabber that returns another size).
    `monitor_index` is the monitor the area belongs to (0 = whole desktop, None = a free
    rectangle or a window). `scale` and `point_left`/`point_top` map the area to device points.
    """

    rect: Rect
    scale: float = 1.0
    point_left: float | None = None
    point_top: float | None = None
    monitor_index: int | None = None
    image_width: int | None = None
    image_height: int | None = None
    label: str = ""  # "desktop", "monitor 2", "window 'Editor'", "region"

    def __post_init__(self) -> None:
        if self.rect.is_empty:
            raise ValueError(f"a capture must cover at least one pixel, not {self.rect}")
        if not (math.isfinite(self.scale) and self.scale > 0):
            raise ValueError(f"capture scale must be a positive number, not {self.scale!r}")

    @property
    def width(self) -> int:
        """Image width in pixels (the grid the model's coordinates refer to)."""
        return self.image_width or self.rect.width

    @property
    def height(self) -> int:
        return self.image_height or self.rect.height

    @property
    def origin_points(self) -> tuple[float, float]:
        left = self.rect.left / self.scale if self.point_left is None else self.point_left
        top = self.rect.top / self.scale if self.point_top is None else self.point_top
        return (left, top)

    @property
    def size_points(self) -> tuple[float, float]:
        """The captured area's size in device points."""
        return (self.rect.width / self.scale, self.rect.height / self.scale)

    @staticmethod
    def of_monitor(monitor: MonitorGeometry, label: str | None = None) -> CaptureGeometry:
        left, top = monitor.origin_points
        return CaptureGeometry(
            rect=monitor.rect,
            scale=monitor.scale,
            point_left=left,
            point_top=top,
            monitor_index=monitor.index,
            label=label or ("desktop" if monitor.index == 0 else f"monitor {monitor.index}"),
        )

    def sub_area(self, rect: Rect, label: str = "region") -> CaptureGeometry:
        """The geometry of a part of this capture (same scale), e.g. a window inside a monitor."""
        left, top = self.origin_points
        return CaptureGeometry(
            rect=rect,
            scale=self.scale,
            point_left=left + (rect.left - self.rect.left) / self.scale,
            point_top=top + (rect.top - self.rect.top) / self.scale,
            monitor_index=self.monitor_index if self.monitor_index != 0 else None,
            label=label,
        )

    def to_json(self) -> dict[str, Any]:
        """For trajectories and logs."""
        left, top = self.origin_points
        return {
            "rect": [self.rect.left, self.rect.top, self.rect.width, self.rect.height],
            "image_size": [self.width, self.height],
            "scale": self.scale,
            "point_origin": [left, top],
            "monitor_index": self.monitor_index,
            "label": self.label,
        }

    @staticmethod
    def from_json(data: dict[str, Any]) -> CaptureGeometry:
        rect = Rect(*data["rect"])
        image = data.get("image_size") or [rect.width, rect.height]
        origin = data.get("point_origin")
        return CaptureGeometry(
            rect=rect,
            scale=float(data.get("scale", 1.0)),
            point_left=origin[0] if origin else None,
            point_top=origin[1] if origin else None,
            monitor_index=data.get("monitor_index"),
            image_width=image[0] if image[0] != rect.width else None,
            image_height=image[1] if image[1] != rect.height else None,
            label=data.get("label", ""),
        )
