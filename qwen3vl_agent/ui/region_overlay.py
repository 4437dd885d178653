"""A translucent full-desktop overlay over a frozen screenshot: drag a rectangle to pick a region.

The desktop is captured first (with the app's windows hidden) and shown dimmed; the user drags
a rectangle, which is cropped from the captured pixels, so what is sent is exactly what was
seen. Esc or a right click cancels. `pick_region()` awaits the choice without a nested loop.
"""

from __future__ import annotations

import asyncio

from PIL import Image
from PySide6.QtCore import QPoint, QRect, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QGuiApplication,
    QImage,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPen,
    QPixmap,
)
from PySide6.QtWidgets import QWidget

from qwen3vl_agent.imaging.loading import to_rgb


def pil_to_qimage(image: Image.Image) -> QImage:
    rgb = image.convert("RGB")
    data = rgb.tobytes("raw", "RGB")
    return QImage(data, rgb.width, rgb.height, rgb.width * 3, QImage.Format.Format_RGB888).copy()


def qimage_to_pil(image: QImage) -> Image.Image:
    """An RGB PIL image; a pasted image's transparent areas become white (as in `load_image`)."""
    if not image.hasAlphaChannel():
        img = image.convertToFormat(QImage.Format.Format_RGB888)
        raw = bytes(img.constBits())[: img.bytesPerLine() * img.height()]
        return Image.frombuffer(
            "RGB", (img.width(), img.height()), raw, "raw", "RGB", img.bytesPerLine(), 1
        ).copy()
    img = image.convertToFormat(QImage.Format.Format_RGBA8888)  # straight (not premultiplied) alpha
    raw = bytes(img.constBits())[: img.bytesPerLine() * img.height()]
    rgba = Image.frombuffer("RGBA", (img.width(), img.height()), raw, "raw", "RGBA", img.bytesPerLine(), 1)
    return to_rgb(rgba)


class RegionOverlay(QWidget):
    """Covers `geometry` (logical desktop coordinates) and shows `shot` scaled onto it."""

    selected = Signal(QRect)  # in the screenshot's pixels
    cancelled = Signal()

    def __init__(
        self, shot: Image.Image, geometry: QRect | None = None, qimage: QImage | None = None
    ) -> None:
        super().__init__(None)
        self.setObjectName("regionOverlay")
        self.setWindowFlags(
            Qt.WindowType.FramelessWindowHint | Qt.WindowType.WindowStaysOnTopHint | Qt.WindowType.Tool
        )
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.setMouseTracking(True)
        self._shot = QPixmap.fromImage(qimage if qimage is not None else pil_to_qimage(shot))
        self._scale = 1.0
        geo = geometry or QGuiApplication.primaryScreen().virtualGeometry()
        self.setGeometry(geo)
        if geo.width() > 0:
            self._scale = shot.width / geo.width()
        self._origin: QPoint | None = None
        self._current: QPoint | None = None
        self._done = False

    def selection(self) -> QRect:
        if self._origin is None or self._current is None:
            return QRect()
        return QRect(self._origin, self._current).normalized()

    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        p.drawPixmap(self.rect(), self._shot)
        p.fillRect(self.rect(), QColor(0, 0, 0, 110))
        sel = self.selection()
        if not sel.isEmpty():
            src = QRect(
                int(sel.x() * self._scale),
                int(sel.y() * self._scale),
                int(sel.width() * self._scale),
                int(sel.height() * self._scale),
            )
            p.drawPixmap(sel, self._shot, src)
            p.setPen(QPen(QColor(109, 93, 252), 2))
            p.drawRect(sel.adjusted(0, 0, -1, -1))
            w, h = src.width(), src.height()
            p.fillRect(QRect(sel.left(), max(0, sel.top() - 22), 96, 20), QColor(0, 0, 0, 170))
            p.setPen(QColor("white"))
            p.drawText(
                QRect(sel.left() + 4, max(0, sel.top() - 22), 92, 20),
                Qt.AlignmentFlag.AlignVCenter,
                f"{w} × {h}",
            )
        else:
            p.setPen(QColor("white"))
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "Drag to select a region — Esc to cancel")
        p.end()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.RightButton:
            self._finish(None)
            return
        self._origin = self._current = event.position().toPoint()
        self.update()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._origin is not None:
            self._current = event.position().toPoint()
            self.update()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._origin is None:
            return
        self._current = event.position().toPoint()
        sel = self.selection()
        if sel.width() < 4 or sel.height() < 4:
            self._origin = self._current = None
            self.update()
            return
        self._finish(sel)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Escape:
            self._finish(None)

    def select_logical(self, rect: QRect) -> None:
        """Choose `rect` (overlay coordinates) as if dragged (keyboard-free tests, automation)."""
        self._origin, self._current = rect.topLeft(), rect.bottomRight()
        self._finish(self.selection())

    def _finish(self, sel: QRect | None) -> None:
        if self._done:
            return
        self._done = True
        if sel is None:
            self.cancelled.emit()
        else:
            s = self._scale
            self.selected.emit(
                QRect(
                    int(sel.x() * s),
                    int(sel.y() * s),
                    max(1, int(sel.width() * s)),
                    max(1, int(sel.height() * s)),
                )
            )
        self.close()


async def pick_region(shot: Image.Image, geometry: QRect | None = None) -> Image.Image | None:
    """Show the overlay over `shot`; return the cropped region, or None when cancelled."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[QRect | None] = loop.create_future()
    qimage = await loop.run_in_executor(None, pil_to_qimage, shot)  # a QImage may be built off the GUI thread
    overlay = RegionOverlay(shot, geometry, qimage)

    def settle(rect: QRect | None) -> None:
        if not future.done():
            future.set_result(rect)

    overlay.selected.connect(settle)
    overlay.cancelled.connect(lambda: settle(None))
    overlay.show()
    overlay.raise_()
    overlay.activateWindow()
    rect = await future
    if rect is None:
        return None
    return shot.crop((rect.x(), rect.y(), rect.x() + rect.width(), rect.y() + rect.height()))
