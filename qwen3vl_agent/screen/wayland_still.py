"""Capture on a Wayland desktop from still frames: the Screenshot portal, one call per capture.

Used by `WaylandGrabber` (`wayland_capture.py`) when `screen.wayland_capture` asks for it
("screenshot"), or ("auto") when the screen-cast route cannot be used or its streams send no
frame (KWin without a GPU: see docs/desktop-app.md). `monitors()` takes the picture and keeps it
for the `grab()` of the same capture, so one capture is one portal call (listing the monitors
alone takes a picture too: the picture is what tells the layout's pixels).

Geometry: the portal's picture is the whole desktop at physical pixels (the bounding box of every
monitor at the largest scale). Where the monitor layout in points is known (a screen-cast or
remote-desktop session opened, even one whose streams send nothing), the picture is laid over it:
scale = picture width / desktop width in points, each monitor at `scale` pixels per point, as the
screen-cast grabber lays them out. Without a layout the picture is one monitor at scale 1 (right
on a single monitor at scale 1; elsewhere the pixels are right, only the points are unknown,
which matters to the agent's clicks, not to chat or OCR).
"""

from __future__ import annotations

from PIL import Image

from qwen3vl_agent.errors import CaptureError
from qwen3vl_agent.screen.geometry import CaptureGeometry, MonitorGeometry, Rect
from qwen3vl_agent.wayland.bus import WaylandDesktopError
from qwen3vl_agent.wayland.remote import WaylandMonitor
from qwen3vl_agent.wayland.screenshot import SCREENSHOT_TIMEOUT_S, take_screenshot


def still_layout(size: tuple[int, int], layout: list[WaylandMonitor] | None) -> list[MonitorGeometry]:
    """[0] = the whole desktop, then one per monitor, for a picture of `size` pixels."""
    width, height = size
    if layout:
        left = min(m.left for m in layout)
        top = min(m.top for m in layout)
        span_w = max(m.left + m.width for m in layout) - left
        span_h = max(m.top + m.height for m in layout) - top
        scale = width / span_w
        if abs(height / span_h - scale) * span_h < 1.5:  # the picture fits the layout
            monitors = [
                MonitorGeometry(
                    i,
                    Rect(
                        round(m.left * scale),
                        round(m.top * scale),
                        round(m.width * scale),
                        round(m.height * scale),
                    ),
                    scale,
                    point_left=m.left,
                    point_top=m.top,
                    is_primary=m.primary,
                    name=m.connector,
                )
                for i, m in enumerate(layout, start=1)
            ]
            whole = Rect(round(left * scale), round(top * scale), width, height)
            return [MonitorGeometry(0, whole, scale, point_left=left, point_top=top), *monitors]
    whole = Rect(0, 0, width, height)
    return [MonitorGeometry(0, whole), MonitorGeometry(1, whole, is_primary=True)]


class StillGrabber:
    """Captures through the Screenshot portal. Not thread-safe: the capture thread only."""

    def __init__(
        self, layout: list[WaylandMonitor] | None = None, *, timeout_s: float = SCREENSHOT_TIMEOUT_S
    ):
        self.layout = layout
        self.timeout_s = timeout_s
        self._picture: Image.Image | None = None  # taken by monitors(), used by the next grab
        self._monitors: list[MonitorGeometry] = []

    def monitors(self) -> list[MonitorGeometry]:
        try:
            picture = take_screenshot(timeout_s=self.timeout_s)
        except WaylandDesktopError as exc:
            raise CaptureError(str(exc.message), exc.hint) from exc
        self._picture = picture
        self._monitors = still_layout(picture.size, self.layout)
        return self._monitors

    def grab(self, geometry: CaptureGeometry) -> Image.Image:
        """The pixels of `geometry.rect` (capture pixels) from the picture `monitors()` took
        (a new one when there is none)."""
        if self._picture is None:
            self.monitors()
        picture, self._picture = self._picture, None
        assert picture is not None
        desktop = self._monitors[0].rect
        area = geometry.rect
        if area == desktop:
            return picture
        inter = area.intersect(desktop)
        if inter is None:
            raise CaptureError(f"The {geometry.label or 'area'} {area} is on no monitor of this desktop.")
        box = (
            inter.left - desktop.left,
            inter.top - desktop.top,
            inter.right - desktop.left,
            inter.bottom - desktop.top,
        )
        if inter == area:
            return picture.crop(box)
        canvas = Image.new("RGB", (area.width, area.height))
        canvas.paste(picture.crop(box), (inter.left - area.left, inter.top - area.top))
        return canvas

    def close(self) -> None:
        self._picture = None
