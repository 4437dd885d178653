"""The OCR page viewer: the page image with the recognized line boxes drawn over it, kept in
sync with the list of lines beside it (select a box, its line is selected, and back)."""

from __future__ import annotations

from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QPen, QPixmap, QWheelEvent
from PySide6.QtWidgets import QGraphicsRectItem, QGraphicsScene, QGraphicsView, QWidget

from qwen3vl_agent.ocr.model import OcrPage


class PageView(QGraphicsView):
    box_selected = Signal(int)  # line index

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("pageView")
        self.setScene(QGraphicsScene(self))
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setRenderHints(self.renderHints())
        self.setBackgroundBrush(QColor(90, 92, 100))
        self._boxes: list[QGraphicsRectItem] = []
        self._selected = -1
        self._fit = True
        self._has_page = False
        self.scene().selectionChanged.connect(self._scene_selection)
        self._placeholder()

    def _placeholder(self) -> None:
        self._has_page = False
        self.resetTransform()
        text = self.scene().addText("Select a page on the left to see it\nwith its recognized lines")
        text.setDefaultTextColor(QColor(225, 227, 232))
        self.scene().setSceneRect(text.boundingRect())

    @property
    def box_count(self) -> int:
        return len(self._boxes)

    def show_page(self, pixmap: QPixmap | None, page: OcrPage | None) -> None:
        scene = self.scene()
        scene.clear()
        self._boxes = []
        self._selected = -1
        if pixmap is None or pixmap.isNull():
            self._placeholder()
            return
        self._has_page = True
        scene.addPixmap(pixmap)
        scene.setSceneRect(QRectF(pixmap.rect()))
        if page is not None and page.width > 0:
            sx = pixmap.width() / page.width
            sy = pixmap.height() / page.height if page.height else sx
            pen = QPen(QColor(109, 93, 252), max(1.0, 1.5 / max(sx, 1e-6)))
            pen.setCosmetic(True)
            for i, line in enumerate(page.lines):
                if line.box is None:
                    self._boxes.append(QGraphicsRectItem())
                    continue
                b = line.box
                item = scene.addRect(
                    QRectF(b.left * sx, b.top * sy, b.width * sx, b.height * sy),
                    pen,
                    QBrush(QColor(109, 93, 252, 28)),
                )
                item.setFlag(QGraphicsRectItem.GraphicsItemFlag.ItemIsSelectable)
                item.setData(0, i)
                item.setToolTip(
                    line.text + (f"\nconfidence {line.confidence:.0%}" if line.confidence is not None else "")
                )
                self._boxes.append(item)
        if self._fit:
            self.fitInView(scene.sceneRect(), Qt.AspectRatioMode.KeepAspectRatio)

    def select_line(self, index: int) -> None:
        if index == self._selected or not (0 <= index < len(self._boxes)):
            return
        self._selected = index
        self.scene().blockSignals(True)
        self.scene().clearSelection()
        item = self._boxes[index]
        if item.scene() is not None:
            item.setSelected(True)
            item.setBrush(QBrush(QColor(255, 196, 0, 90)))
            self.ensureVisible(item, 40, 40)
        for j, other in enumerate(self._boxes):
            if j != index and other.scene() is not None:
                other.setBrush(QBrush(QColor(109, 93, 252, 28)))
        self.scene().blockSignals(False)

    def _scene_selection(self) -> None:
        items = self.scene().selectedItems()
        if items:
            index = items[0].data(0)
            if isinstance(index, int):
                self.select_line(index)
                self.box_selected.emit(index)

    def resizeEvent(self, event: object) -> None:
        super().resizeEvent(event)  # type: ignore[arg-type]
        if self._fit and self._has_page:
            self.fitInView(self.scene().sceneRect(), Qt.AspectRatioMode.KeepAspectRatio)

    def wheelEvent(self, event: QWheelEvent) -> None:
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            self._fit = False
            factor = 1.15 if event.angleDelta().y() > 0 else 1 / 1.15
            self.scale(factor, factor)
            return
        super().wheelEvent(event)
