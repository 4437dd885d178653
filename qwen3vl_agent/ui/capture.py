"""Screenshots for the UI (chat attachments, OCR regions) through the core's `ScreenCapturer`:
privacy masks are applied in its capture thread; the app's own windows are hidden for the grab
(the user asked for a picture of the screen, not of this app) and also blacked out if they
are still visible. Listing monitors and windows runs off the Qt thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from PIL import Image
from PySide6.QtCore import QEvent, QObject
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QWidget

from qwen3vl_agent.errors import CaptureError, UserFacingError
from qwen3vl_agent.screen.geometry import Rect
from qwen3vl_agent.ui.context import AppContext

if TYPE_CHECKING:
    from qwen3vl_agent.screen.capture import ScreenCapturer

HIDE_SETTLE_S = 0.25  # time for the window manager to repaint what our hidden windows covered


class CaptureFailed(UserFacingError):
    """No screenshot could be taken (no display, the window went away...)."""


@dataclass(frozen=True)
class MonitorInfo:
    index: int  # mss numbering: 1 = first monitor
    left: int
    top: int
    width: int
    height: int

    def label(self) -> str:
        return f"Monitor {self.index} — {self.width}×{self.height} at ({self.left}, {self.top})"


@dataclass(frozen=True)
class WindowInfo:
    id: Any
    title: str
    left: int
    top: int
    width: int
    height: int


class OwnWindows(QObject):
    """A thread-safe snapshot of the app's visible windows, for the capture thread to black out."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._widgets: list[QWidget] = []
        self._rects: list[Rect] = []

    def track(self, widget: QWidget) -> None:
        self._widgets.append(widget)
        widget.installEventFilter(self)
        self._update()

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if event.type() in (
            QEvent.Type.Move,
            QEvent.Type.Resize,
            QEvent.Type.Show,
            QEvent.Type.Hide,
            QEvent.Type.WindowStateChange,
        ):
            self._update()
        return False

    def _update(self) -> None:
        rects = []
        if QGuiApplication.platformName() == "wayland":
            # A Wayland client does not know where its windows are (Qt reports (0, 0)): a mask
            # there would black out the wrong part of the screen, so none is made; the app's own
            # windows show in screenshots on Wayland (docs/desktop-app.md).
            with self._lock:
                self._rects = []
            return
        for w in self._widgets:
            with contextlib.suppress(RuntimeError):
                if w.isVisible() and not w.isMinimized():
                    g = w.frameGeometry()
                    rects.append(Rect(g.x(), g.y(), g.width(), g.height()))
        with self._lock:
            self._rects = rects

    def rects(self) -> list[Rect]:
        """Called from the capture thread."""
        with self._lock:
            return list(self._rects)


def own_windows(ctx: AppContext) -> OwnWindows:
    tracker = ctx.extras.get("own_windows")
    if tracker is None:
        tracker = OwnWindows()
        for w in ctx.own_windows:
            tracker.track(w)
        ctx.extras["own_windows"] = tracker
    return tracker


def capturer(ctx: AppContext) -> ScreenCapturer:
    """The app's ScreenCapturer (privacy masks + own windows), rebuilt when the settings change."""
    from qwen3vl_agent.screen.capture import ScreenCapturer

    current: ScreenCapturer | None = ctx.extras.get("capturer")
    if current is not None and ctx.extras.get("capturer_settings") is ctx.settings:
        return current
    if current is not None:
        with contextlib.suppress(Exception):
            current.close()
    cap = ScreenCapturer.from_settings(ctx.settings, own_windows=own_windows(ctx).rects)
    ctx.extras["capturer"], ctx.extras["capturer_settings"] = cap, ctx.settings
    return cap


def close_capturer(ctx: AppContext) -> None:
    cap = ctx.extras.pop("capturer", None)
    if cap is not None:
        with contextlib.suppress(Exception):
            cap.close()


def list_monitors() -> list[MonitorInfo]:
    """Monitors as mss numbers them (blocking; call in an executor)."""
    from qwen3vl_agent.screen.capture import ScreenCapturer

    cap = ScreenCapturer()
    try:
        monitors = cap.list_monitors()
    except (CaptureError, Exception) as exc:
        raise CaptureFailed(f"Cannot list monitors: {exc}", "is a graphical display available?") from exc
    finally:
        cap.close()
    out = []
    for i, m in enumerate(monitors):
        if i == 0:
            continue
        r = m.rect
        out.append(MonitorInfo(i, int(r.left), int(r.top), int(r.width), int(r.height)))
    return out


def list_windows() -> list[WindowInfo]:
    """Visible top-level windows with a title (blocking). Empty when the platform cannot list them."""
    try:
        from qwen3vl_agent.screen import windows

        found = windows._find_with_xlib("", False)
    except Exception:
        return []
    out = [
        WindowInfo(w.window_id, w.title, w.rect.left, w.rect.top, w.rect.width, w.rect.height) for w in found
    ]
    return [
        w for w in out if w.title.strip() and w.width > 40 and w.height > 40 and w.title != "Qwen3-VL Agent"
    ]


def _target(kind: str, arg: Any) -> Any:
    from qwen3vl_agent.screen.capture import CaptureTarget

    if kind == "desktop":
        return CaptureTarget.desktop()
    if kind == "monitor":
        return CaptureTarget.monitor(int(arg or 1))
    if kind == "window":
        return CaptureTarget.window(arg.title if isinstance(arg, WindowInfo) else str(arg))
    left, top, width, height = arg
    return CaptureTarget.region(Rect(left, top, width, height))


async def grab(ctx: AppContext, kind: str, arg: Any = None) -> Image.Image:
    """Capture `kind` ("desktop" | "monitor" | "window" | "rect") off the Qt thread, our windows hidden."""
    hidden = []
    if ctx.settings.privacy.exclude_own_windows:
        for w in ctx.own_windows:
            if w.isVisible():
                hidden.append(w)
                w.hide()
        if hidden:
            await asyncio.sleep(HIDE_SETTLE_S)
    try:
        shot = await capturer(ctx).capture_async(_target(kind, arg))
        return shot.image
    except UserFacingError:
        raise
    except Exception as exc:
        raise CaptureFailed(f"Cannot capture the screen: {exc}", "is a graphical display available?") from exc
    finally:
        for w in hidden:
            with contextlib.suppress(RuntimeError):
                w.show()
