"""The agent's live view: the last screenshot sent to the model with the proposed action drawn
on it — a marker for clicks, an arrow for drags, the text for typing and keys."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPainterPath, QPaintEvent, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from qwen3vl_agent.actions.model import Action, ActionType

ACCENT = QColor(255, 64, 96)


class ActionView(QWidget):
    def __init__(self, parent: QWidget | None = None, grid: int = 1000) -> None:
        super().__init__(parent)
        self.setObjectName("actionView")
        self.setMinimumSize(320, 200)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.image: QImage | None = None
        self.action: Action | None = None
        self.caption = ""
        self.grid = grid

    def sizeHint(self) -> QSize:
        return QSize(640, 400)

    def set_image(self, image: QImage | None) -> None:
        self.image = image
        self.action = None
        self.update()

    def set_action(self, action: Action | None, caption: str = "") -> None:
        self.action = action
        self.caption = caption
        self.update()

    def _target(self) -> QRectF:
        if self.image is None or self.image.isNull():
            return QRectF(self.rect())
        iw, ih = self.image.width(), self.image.height()
        scale = min(self.width() / iw, self.height() / ih)
        w, h = iw * scale, ih * scale
        return QRectF((self.width() - w) / 2, (self.height() - h) / 2, w, h)

    def model_to_widget(self, point: tuple[float, float]) -> QPointF:
        r = self._target()
        x = max(0.0, min(float(point[0]), self.grid)) / self.grid
        y = max(0.0, min(float(point[1]), self.grid)) / self.grid
        return QPointF(r.left() + x * r.width(), r.top() + y * r.height())

    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.fillRect(self.rect(), self.palette().base())
        if self.image is None or self.image.isNull():
            p.setPen(self.palette().placeholderText().color())
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "The agent's last screenshot appears here")
            p.end()
            return
        target = self._target()
        p.drawImage(target, self.image)
        a = self.action
        if a is not None:
            pen = QPen(ACCENT, 3)
            p.setPen(pen)
            if a.action is ActionType.LEFT_CLICK_DRAG and a.coordinate is not None:
                start = self.model_to_widget(a.start_coordinate) if a.start_coordinate else None
                end = self.model_to_widget(a.coordinate)
                if start is not None:
                    p.drawLine(start, end)
                    self._arrow_head(p, start, end)
                    self._marker(p, start, 6)
                self._marker(p, end, 10)
            elif a.coordinate is not None:
                self._marker(p, self.model_to_widget(a.coordinate), 12)
            label = self.caption or a.describe()
            if a.action in (ActionType.TYPE, ActionType.KEY, ActionType.ANSWER) or label:
                self._label(p, target, label)
        p.end()

    def _marker(self, p: QPainter, c: QPointF, r: float) -> None:
        p.setBrush(QColor(255, 64, 96, 60))
        p.drawEllipse(c, r, r)
        p.drawLine(QPointF(c.x() - r - 6, c.y()), QPointF(c.x() + r + 6, c.y()))
        p.drawLine(QPointF(c.x(), c.y() - r - 6), QPointF(c.x(), c.y() + r + 6))
        p.setBrush(Qt.BrushStyle.NoBrush)

    def _arrow_head(self, p: QPainter, a: QPointF, b: QPointF) -> None:
        import math

        angle = math.atan2(b.y() - a.y(), b.x() - a.x())
        path = QPainterPath(b)
        for d in (2.6, -2.6):
            path.lineTo(QPointF(b.x() - 16 * math.cos(angle + d / 6), b.y() - 16 * math.sin(angle + d / 6)))
            path.moveTo(b)
        p.drawPath(path)

    def _label(self, p: QPainter, target: QRectF, text: str) -> None:
        font = QFont(self.font())
        font.setPointSizeF(font.pointSizeF() * 1.1)
        font.setBold(True)
        p.setFont(font)
        metrics = p.fontMetrics()
        text = metrics.elidedText(text, Qt.TextElideMode.ElideRight, int(target.width()) - 24)
        box = QRectF(
            target.left() + 8,
            target.bottom() - metrics.height() - 16,
            metrics.horizontalAdvance(text) + 16,
            metrics.height() + 8,
        )
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor(0, 0, 0, 180))
        p.drawRoundedRect(box, 4, 4)
        p.setPen(QColor("white"))
        p.drawText(box, Qt.AlignmentFlag.AlignCenter, text)
