"""Screen capture with mss: the desktop, one monitor, a rectangle or a window, masked, with geometry.

mss objects belong to the thread that created them, so a `ScreenCapturer` owns ONE worker
thread where its mss instance lives; `capture()` (blocking) and `capture_async()` (awaitable,
never blocks the event loop) both run the grab there, strictly one at a time. Privacy masks
and the app's own windows are blacked out in that thread, before the `Screenshot` exists.

Geometry: mss reports monitors in desktop coordinates. On X11 and DPI-aware Windows those
are physical pixels and also the mouse's points (scale 1). On macOS they are points and the
grabbed image is larger (Retina): the image/rect ratio gives the scale. On scaled, DPI-unaware
Windows, pyautogui's screen size differs from mss's: that ratio gives it. A configured
`input_scale` overrides both.

On a Wayland session the live desktop is read from the compositor's screen-cast streams
(`wayland_capture.py`) instead of mss, whose XWayland root would show native windows black.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from PIL import Image

from qwen3vl_agent.config import PrivacySettings, Settings
from qwen3vl_agent.errors import CaptureError
from qwen3vl_agent.screen.geometry import CaptureGeometry, MonitorGeometry, Rect
from qwen3vl_agent.screen.masks import WindowFinder, apply_masks, privacy_rects
from qwen3vl_agent.screen.session import (
    WaylandRoute,
    current_session,
    require_x11_live_desktop,
)
from qwen3vl_agent.screen.wayland_capture import CaptureMode, WaylandGrabber, new_wayland_grabber
from qwen3vl_agent.screen.windows import find_windows

TargetKind = Literal["desktop", "monitor", "region", "window"]
_T = TypeVar("_T")


@dataclass(frozen=True)
class CaptureTarget:
    """What to capture. Build with `desktop()`, `monitor(i)`, `region(rect)` or `window(title)`."""

    kind: TargetKind
    monitor_index: int | None = None
    rect: Rect | None = None
    title: str | None = None

    @staticmethod
    def desktop() -> CaptureTarget:
        return CaptureTarget("desktop", monitor_index=0)

    @staticmethod
    def monitor(index: int) -> CaptureTarget:
        """`index` counts from 1 as mss does (0 is the whole desktop)."""
        return CaptureTarget("monitor", monitor_index=index)

    @staticmethod
    def region(rect: Rect) -> CaptureTarget:
        return CaptureTarget("region", rect=rect)

    @staticmethod
    def window(title: str) -> CaptureTarget:
        return CaptureTarget("window", title=title)

    def describe(self) -> str:
        if self.kind == "monitor":
            return f"monitor {self.monitor_index}"
        if self.kind == "region":
            return f"region {self.rect}"
        if self.kind == "window":
            return f"window {self.title!r}"
        return "desktop"


@dataclass(frozen=True)
class Screenshot:
    """Captured, masked pixels and the geometry they came from."""

    image: Image.Image  # RGB, geometry.width x geometry.height
    geometry: CaptureGeometry
    monitors: tuple[MonitorGeometry, ...]  # the layout at capture time; [0] is the whole desktop
    masked: tuple[Rect, ...] = ()  # desktop rectangles that were blacked out
    captured_at: float = field(default_factory=time.time)

    @property
    def size(self) -> tuple[int, int]:
        return self.image.size


def _mss_factory() -> Callable[..., Any]:
    """mss 10 renamed `mss.mss()` to `mss.MSS()` (the old name warns); support both."""
    import mss

    factory = getattr(mss, "MSS", None)
    return factory if callable(factory) else mss.mss


def _check_display(allow_xwayland: bool) -> None:
    """The live desktop only: refuse a Wayland session (XWayland's root is black for native
    windows) unless overridden, and say so when there is no display at all."""
    if not sys.platform.startswith("linux"):
        return
    session = current_session()
    require_x11_live_desktop("capture the screen", allow_xwayland=allow_xwayland, session=session)
    if not session.has_x11:
        raise CaptureError(
            "No display to capture: DISPLAY is not set.",
            "run the app in a desktop session, or start a virtual one with Xvfb",
        )


def detect_input_scale(desktop: Rect, primary: Rect | None = None) -> float:
    """Capture pixels per pyautogui point, measured by comparing the two screen sizes.

    X11 (and XWayland) use one coordinate system for both: 1.0 without asking pyautogui.
    """
    if sys.platform.startswith("linux"):
        return 1.0
    try:
        import pyautogui

        width, _ = pyautogui.size()
    except Exception:  # pyautogui unusable: assume the systems agree
        return 1.0
    ref = primary or desktop
    if width <= 0:
        return 1.0
    scale = ref.width / width
    return 1.0 if abs(scale - 1.0) < 0.01 else round(scale, 4)


class ScreenCapturer:
    """Captures on one dedicated thread. Thread-safe; use one per app (or per test)."""

    def __init__(
        self,
        *,
        privacy: PrivacySettings | None = None,
        input_scale: float | None = None,
        exclude_rects: Callable[[], list[Rect]] | None = None,
        around_grab: Callable[[], contextlib.AbstractContextManager[object]] | None = None,
        window_finder: WindowFinder = find_windows,
        display: str | None = None,
        allow_xwayland: bool = False,
        wayland_route: WaylandRoute = "auto",
        wayland_capture: CaptureMode = "auto",
    ) -> None:
        """
        privacy: masked rectangles and window titles (settings.privacy).
        input_scale: override of the capture-pixel/point scale (settings.screen.input_scale).
        exclude_rects: called before each grab; returns the app's own windows to black out.
        around_grab: a context manager entered around the grab in the capture thread (e.g.
            to hide the app's own windows); the caller makes it safe for that thread.
        display: an X display to capture (":N", an agent workspace) instead of $DISPLAY.
        allow_xwayland: capture XWayland's root on a Wayland session (settings.screen.allow_xwayland).
        wayland_route: on a Wayland session, Mutter's API or the portal (settings.screen.wayland_route).
        wayland_capture: on a Wayland session, screen-cast streams, the Screenshot portal or the
            streams with the portal as fallback (settings.screen.wayland_capture).
        """
        self.privacy = privacy
        self.input_scale = input_scale
        self.exclude_rects = exclude_rects
        self.around_grab = around_grab
        self.window_finder = window_finder
        self.display = display
        self.allow_xwayland = allow_xwayland
        self.wayland_route = wayland_route
        self.wayland_capture: CaptureMode = wayland_capture
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="screen-capture")
        self._local = threading.local()
        self._closed = False

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        own_windows: Callable[[], list[Rect]] | None = None,
        around_grab: Callable[[], contextlib.AbstractContextManager[object]] | None = None,
        display: str | None = None,
    ) -> ScreenCapturer:
        """A capturer for the app: privacy masks, the HiDPI override and (when
        `privacy.exclude_own_windows` is on) the app's own windows left out.

        With `display` (a workspace) it captures that display: the privacy masks (rectangles
        and windows of the user's desktop) and the app's own windows are not on it."""
        if display is not None:
            return cls(input_scale=1.0, display=display)
        exclude = own_windows if settings.privacy.exclude_own_windows else None
        return cls(
            privacy=settings.privacy,
            input_scale=settings.screen.input_scale,
            exclude_rects=exclude,
            around_grab=around_grab if settings.privacy.exclude_own_windows else None,
            allow_xwayland=settings.screen.allow_xwayland,
            wayland_route=settings.screen.wayland_route,
            wayland_capture=settings.screen.wayland_capture,
        )

    # -------------------------------------------------------------- public API

    def capture(self, target: CaptureTarget | None = None) -> Screenshot:
        """Capture now (blocking); runs in the capture thread."""
        return self._submit(self._capture_here, target or CaptureTarget.desktop()).result()

    async def capture_async(self, target: CaptureTarget | None = None) -> Screenshot:
        """Capture without blocking the running event loop."""
        return await asyncio.wrap_future(self._submit(self._capture_here, target or CaptureTarget.desktop()))

    def list_monitors(self) -> list[MonitorGeometry]:
        """The current layout ([0] = whole desktop), re-read from the display."""
        return self._submit(self._monitors_here).result()

    def _submit(self, fn: Callable[..., _T], *args: Any) -> Future[_T]:
        if self._closed:
            raise CaptureError("The screen capturer was closed.", "create a new one")
        return self._pool.submit(fn, *args)

    def close(self) -> None:
        """Release the mss instance and stop the thread."""
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(RuntimeError):
            self._pool.submit(self._drop_mss).result()
        self._pool.shutdown(wait=True)

    def __enter__(self) -> ScreenCapturer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -------------------------------------------------------------- capture thread

    def _mss(self) -> Any:
        display = self.display or os.environ.get("DISPLAY")
        sct = getattr(self._local, "sct", None)
        if sct is not None and self._local.display == display:
            return sct
        self._drop_mss()
        if self.display is None:
            _check_display(self.allow_xwayland)
        try:
            sct = _mss_factory()(display=self.display) if self.display else _mss_factory()()
        except Exception as exc:
            raise CaptureError(
                f"Cannot open the display for capture ({display or 'default'}): {exc}".strip(),
                "check that a desktop session is running and reachable",
            ) from exc
        self._local.sct = sct
        self._local.display = display
        return sct

    def _wayland_here(self) -> WaylandGrabber | None:
        """The live desktop's Wayland grabber on a Wayland session (None: mss, X11 or XWayland).

        Raises `WaylandSessionError` saying what is missing when the session can be reached
        neither way."""
        if self.display is not None or not sys.platform.startswith("linux"):
            return None
        session = current_session()
        if not session.is_wayland or (session.kind == "wayland+xwayland" and self.allow_xwayland):
            return None
        grabber: WaylandGrabber | None = getattr(self._local, "wayland", None)
        if grabber is None:
            grabber = self._local.wayland = new_wayland_grabber(
                session,
                allow_xwayland=self.allow_xwayland,
                wayland_route=self.wayland_route,
                wayland_capture=self.wayland_capture,
            )
        return grabber

    def _drop_mss(self) -> None:
        grabber = getattr(self._local, "wayland", None)
        self._local.wayland = None
        if grabber is not None:
            grabber.close()
        sct = getattr(self._local, "sct", None)
        self._local.sct = None
        if sct is not None:
            with contextlib.suppress(Exception):
                sct.close()

    def _monitors_here(self) -> list[MonitorGeometry]:
        grabber = self._wayland_here()
        if grabber is not None:
            return grabber.monitors()  # scale from the streams: exact, no override needed
        sct = self._mss()
        # re-read every time: monitors come and go (mss caches them; 0.2 ms to ask again)
        with contextlib.suppress(AttributeError):
            sct._monitors = None if hasattr(sct, "_impl") else []
        try:
            raw = list(sct.monitors)
        except Exception as exc:
            self._drop_mss()
            raise CaptureError(f"Cannot list the monitors: {exc}") from exc
        if not raw:
            raise CaptureError("The display reports no screen at all.")
        desktop = Rect(raw[0]["left"], raw[0]["top"], raw[0]["width"], raw[0]["height"])
        primary = next(
            (Rect(m["left"], m["top"], m["width"], m["height"]) for m in raw[1:] if m.get("is_primary")), None
        )
        scale = self.input_scale or detect_input_scale(desktop, primary)
        monitors = []
        for i, m in enumerate(raw):
            rect = Rect(int(m["left"]), int(m["top"]), int(m["width"]), int(m["height"]))
            monitors.append(
                MonitorGeometry(
                    index=i,
                    rect=rect,
                    scale=scale,
                    is_primary=bool(m.get("is_primary", i == 1)),
                    name=str(m.get("output") or m.get("name") or "") or None,
                )
            )
        return monitors

    def _resolve_area(self, target: CaptureTarget, monitors: list[MonitorGeometry]) -> CaptureGeometry:
        desktop = monitors[0]
        if target.kind in ("desktop", "monitor"):
            idx = 0 if target.kind == "desktop" else target.monitor_index
            if idx is None or not 0 <= idx < len(monitors):
                layout = "; ".join(
                    f"{m.index}: {m.rect.width}x{m.rect.height} at ({m.rect.left}, {m.rect.top})"
                    for m in monitors[1:]
                )
                raise CaptureError(
                    f"Monitor {idx} does not exist (unplugged?); this desktop has {len(monitors) - 1} "
                    f"monitor(s): {layout or 'none'}.",
                    "pick another monitor",
                )
            return CaptureGeometry.of_monitor(monitors[idx])
        if target.kind == "window":
            if not target.title:
                raise CaptureError("A window capture needs a window title.")
            found = self.window_finder(target.title)
            if not found:
                raise CaptureError(
                    f"No visible window titled {target.title!r} was found.", "open it or pick another"
                )
            rect, label = found[0].rect, f"window {found[0].title!r}"
        else:
            if target.rect is None:
                raise CaptureError("A region capture needs a rectangle.")
            rect, label = target.rect, "region"
        if rect.is_empty:
            raise CaptureError(f"The {label} to capture is empty ({rect.width}x{rect.height}).")
        clipped = rect.intersect(desktop.rect)
        if clipped is None:
            raise CaptureError(f"The {label} {rect} lies outside the desktop {desktop.rect}.")

        # the monitor holding most of the area gives its scale and index
        def overlap(m: MonitorGeometry) -> int:
            inter = clipped.intersect(m.rect)
            return 0 if inter is None else inter.width * inter.height

        home = max(monitors[1:], key=overlap, default=desktop)
        if overlap(home) == 0:
            home = desktop
        return CaptureGeometry.of_monitor(home).sub_area(clipped, label)

    def _capture_here(self, target: CaptureTarget) -> Screenshot:
        monitors = self._monitors_here()
        geometry = self._resolve_area(target, monitors)
        grabber = self._wayland_here()
        if grabber is not None and self.privacy is not None and self.privacy.masked_window_titles:
            raise CaptureError(  # X11 lookups would find XWayland's windows only: never leak the rest
                "Windows cannot be masked by title on a Wayland desktop (no app may list other apps' windows).",
                "mask screen rectangles instead (privacy.masked_rects)",
            )
        # masks are looked up BEFORE the grab: a lookup failure must stop the capture
        masks = privacy_rects(self.privacy, self.window_finder)
        if self.exclude_rects is not None:
            masks.extend(self.exclude_rects())
        with self.around_grab() if self.around_grab is not None else contextlib.nullcontext():
            image = grabber.grab(geometry) if grabber is not None else self._grab_mss(geometry)
        geometry = _fit_image(geometry, *image.size)
        applied = apply_masks(image, geometry, masks)
        return Screenshot(image=image, geometry=geometry, monitors=tuple(monitors), masked=tuple(applied))

    def _grab_mss(self, geometry: CaptureGeometry) -> Image.Image:
        sct = self._mss()
        try:
            shot = sct.grab(geometry.rect.as_mss())
        except Exception as exc:
            self._drop_mss()
            raise CaptureError(f"The screen grab of the {geometry.label} failed: {exc}") from exc
        width, height = shot.size
        if width <= 0 or height <= 0:
            raise CaptureError(f"The screen grab of the {geometry.label} came back empty.")
        return Image.frombuffer("RGB", (width, height), shot.raw, "raw", "BGRX", 0, 1)


def _fit_image(geometry: CaptureGeometry, width: int, height: int) -> CaptureGeometry:
    """Account for a grabber that returns more pixels than the area's size (macOS Retina).

    The mss rectangle was then in points: the image pixels are the capture pixels, the ratio
    is the scale, and the rectangle's origin in points is where the mouse must go.
    """
    if (width, height) == (geometry.rect.width, geometry.rect.height):
        return geometry
    ratio = width / geometry.rect.width
    left, top = geometry.origin_points
    return CaptureGeometry(
        rect=Rect(round(geometry.rect.left * ratio), round(geometry.rect.top * ratio), width, height),
        scale=ratio,
        point_left=left,
        point_top=top,
        monitor_index=geometry.monitor_index,
        label=geometry.label,
    )


_default: ScreenCapturer | None = None
_default_lock = threading.Lock()


def default_capturer() -> ScreenCapturer:
    """A process-wide capturer without masks (the app builds its own with settings)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = ScreenCapturer()
        return _default


async def capture_async(
    target: CaptureTarget | None = None, capturer: ScreenCapturer | None = None
) -> Screenshot:
    """Capture off the event loop with `capturer` (default: the process-wide one)."""
    return await (capturer or default_capturer()).capture_async(target)


@contextlib.contextmanager
def hidden(hide: Callable[[], None], show: Callable[[], None]) -> Iterator[None]:
    """Build an `around_grab` from hide/show callbacks (show runs even if the grab fails)."""
    hide()
    try:
        yield
    finally:
        show()
