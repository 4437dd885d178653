"""Privacy masks: black out user-chosen rectangles and windows before any pixel leaves capture.

Masks are rectangles in desktop (capture) pixels. They are applied to the captured image in
the capture thread, so the model, the cache, the logs and the trajectory store only ever see
the masked pixels. Failing to look up a window that must be masked is an error, never a leak.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from PIL import Image

from qwen3vl_agent.config import PrivacySettings
from qwen3vl_agent.screen.geometry import CaptureGeometry, Rect
from qwen3vl_agent.screen.windows import WindowInfo, find_windows

MASK_COLOR = (0, 0, 0)

WindowFinder = Callable[[str], list[WindowInfo]]


def privacy_rects(privacy: PrivacySettings | None, finder: WindowFinder = find_windows) -> list[Rect]:
    """The desktop rectangles to black out: the configured ones and every window with a masked title.

    Raises `CaptureError` (through the finder) when masked windows cannot be looked up.
    """
    if privacy is None:
        return []
    rects = [Rect(r.left, r.top, r.width, r.height) for r in privacy.masked_rects]
    for title in privacy.masked_window_titles:
        rects.extend(w.rect for w in finder(title))
    return [r for r in rects if not r.is_empty]


def to_image_box(rect: Rect, geometry: CaptureGeometry) -> tuple[int, int, int, int] | None:
    """A desktop rectangle as a (left, top, right, bottom) box on the screenshot, or None if outside.

    Rounded outwards: a partly covered pixel is masked too.
    """
    inter = rect.intersect(geometry.rect)
    if inter is None:
        return None
    sx = geometry.width / geometry.rect.width
    sy = geometry.height / geometry.rect.height
    left = int((inter.left - geometry.rect.left) * sx)
    top = int((inter.top - geometry.rect.top) * sy)
    right = -int(-(inter.right - geometry.rect.left) * sx // 1)
    bottom = -int(-(inter.bottom - geometry.rect.top) * sy // 1)
    return (left, top, min(right, geometry.width), min(bottom, geometry.height))


def apply_masks(image: Image.Image, geometry: CaptureGeometry, rects: Iterable[Rect]) -> list[Rect]:
    """Black out `rects` (desktop pixels) in place; returns those that touched the image."""
    applied = []
    for rect in rects:
        box = to_image_box(rect, geometry)
        if box is None:
            continue
        image.paste(MASK_COLOR, box)
        applied.append(rect)
    return applied
