"""Screenshots for the UI (chat attachments, OCR regions): the app's own windows are hidden
while the grab runs, the grab itself runs in an executor, privacy masks are applied by the core.

Uses the core's `screen.capture` when present; otherwise a plain mss grab (same pixels, no masks
beyond the settings' rectangles, which are blacked out here).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from dataclasses import dataclass
from typing import Any

from PIL import Image, ImageDraw

from qwen3vl_agent.config import Settings
from qwen3vl_agent.errors import UserFacingError
from qwen3vl_agent.ui.context import AppContext

HIDE_SETTLE_S = 0.25  # time for the compositor to repaint what our hidden windows covered


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


def _core_capture() -> Any:
    try:
        from qwen3vl_agent.screen import capture as core
    except ImportError:
        return None
    return core


def list_monitors() -> list[MonitorInfo]:
    """Monitors as mss numbers them (blocking; call in an executor)."""
    import mss

    try:
        with mss.MSS() if hasattr(mss, "MSS") else mss.mss() as sct:
            return [
                MonitorInfo(i, m["left"], m["top"], m["width"], m["height"])
                for i, m in enumerate(sct.monitors)
                if i > 0
            ]
    except Exception as exc:
        raise CaptureFailed(f"Cannot list monitors: {exc}", "is a graphical display available?") from exc


def list_windows() -> list[WindowInfo]:
    """Top-level windows with a title (blocking). Empty when the platform cannot list them."""
    core = _core_capture()
    fn = getattr(core, "list_windows", None) if core else None
    if fn is None:
        return []
    out = []
    for w in fn():
        g = getattr(w, "rect", None) or w
        out.append(
            WindowInfo(
                getattr(w, "id", getattr(w, "window_id", None)),
                str(getattr(w, "title", "")),
                int(getattr(g, "left", 0)),
                int(getattr(g, "top", 0)),
                int(getattr(g, "width", 0)),
                int(getattr(g, "height", 0)),
            )
        )
    return [w for w in out if w.title and w.width > 0 and w.height > 0]


def _mask(image: Image.Image, settings: Settings, origin: tuple[int, int]) -> Image.Image:
    if not settings.privacy.masked_rects:
        return image
    draw = ImageDraw.Draw(image)
    ox, oy = origin
    for r in settings.privacy.masked_rects:
        draw.rectangle(
            (r.left - ox, r.top - oy, r.left - ox + r.width - 1, r.top - oy + r.height - 1), fill="black"
        )
    return image


def grab_blocking(target: str, settings: Settings, arg: Any = None) -> Image.Image:
    """Capture `target` ("desktop" | "monitor" (arg: index) | "rect" (arg: l,t,w,h) | "window" (arg: WindowInfo))."""
    core = _core_capture()
    if core is not None and hasattr(core, "grab_for_ui"):
        return core.grab_for_ui(target, settings, arg)  # type: ignore[no-any-return]
    import mss

    try:
        with mss.MSS() if hasattr(mss, "MSS") else mss.mss() as sct:
            if target == "desktop":
                box = sct.monitors[0]
            elif target == "monitor":
                index = int(arg or 1)
                if index >= len(sct.monitors):
                    raise CaptureFailed(f"Monitor {index} is not connected")
                box = sct.monitors[index]
            elif target == "window":
                w: WindowInfo = arg
                box = {"left": w.left, "top": w.top, "width": w.width, "height": w.height}
            else:
                left, top, width, height = arg
                box = {"left": left, "top": top, "width": width, "height": height}
            raw = sct.grab(box)
            image = Image.frombytes("RGB", raw.size, raw.bgra, "raw", "BGRX")
    except CaptureFailed:
        raise
    except Exception as exc:
        raise CaptureFailed(f"Cannot capture the screen: {exc}", "is a graphical display available?") from exc
    return _mask(image, settings, (int(box["left"]), int(box["top"])))


async def grab(ctx: AppContext, target: str, arg: Any = None) -> Image.Image:
    """Capture off the Qt thread, with the app's windows hidden when the settings say so."""
    hidden = []
    if ctx.settings.privacy.exclude_own_windows:
        for w in ctx.own_windows:
            if w.isVisible():
                hidden.append(w)
                w.hide()
        if hidden:
            await asyncio.sleep(HIDE_SETTLE_S)
    try:
        result = ctx.tasks.run_io(grab_blocking, target, ctx.settings, arg)
        return await result if inspect.isawaitable(result) else result
    finally:
        for w in hidden:
            with contextlib.suppress(RuntimeError):
                w.show()
