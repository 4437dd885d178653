"""Widgets of the chat composer: an input that takes pasted/dropped images, and the strip of
attachment thumbnails shown before sending."""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image
from PySide6.QtCore import QMimeData, QSize, Qt, QUrl, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QIcon, QImage, QKeyEvent, QPixmap
from PySide6.QtWidgets import QListWidget, QListWidgetItem, QPlainTextEdit, QTextBrowser, QWidget

from qwen3vl_agent.ui.region_overlay import pil_to_qimage, qimage_to_pil

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff")


@dataclass
class PendingImage:
    """An image waiting to be sent: the pixels and where they came from."""

    label: str
    image: Image.Image

    def png(self) -> bytes:
        buf = io.BytesIO()
        self.image.save(buf, format="PNG", compress_level=1)
        return buf.getvalue()


def thumbnail_image(image: Image.Image, size: int = 96) -> QImage:
    """A small QImage of `image` (safe to call on any thread)."""
    thumb = (
        image.copy()
        if max(image.size) <= size * 4
        else image.resize((max(1, image.width // 4), max(1, image.height // 4)))
    )
    thumb.thumbnail((size, size))
    return pil_to_qimage(thumb)


def thumbnail_icon(image: Image.Image, size: int = 96) -> QIcon:
    return QIcon(QPixmap.fromImage(thumbnail_image(image, size)))


def image_paths_from_mime(mime: QMimeData) -> list[str]:
    return [
        u.toLocalFile()
        for u in mime.urls()
        if u.isLocalFile() and u.toLocalFile().lower().endswith(IMAGE_SUFFIXES)
    ]


class TranscriptBrowser(QTextBrowser):
    """The conversation view; `att:<id>` image URLs in its Markdown resolve to attachment thumbnails."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.images: dict[str, QImage] = {}

    def add_image(self, key: str, data: bytes, max_size: QSize | None = None) -> None:
        max_size = max_size or QSize(320, 200)
        if key in self.images:
            return
        img = QImage.fromData(data)
        if not img.isNull() and (img.width() > max_size.width() or img.height() > max_size.height()):
            img = img.scaled(
                max_size, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation
            )
        self.images[key] = img

    def loadResource(self, kind: int, name: QUrl | str) -> object:
        url = name if isinstance(name, QUrl) else QUrl(name)
        if url.scheme() == "att" and url.toString() in self.images:
            return self.images[url.toString()]
        return super().loadResource(kind, name)


class ComposerEdit(QPlainTextEdit):
    """The message box: Ctrl+Enter sends; pasted or dropped images become attachments."""

    send_requested = Signal()
    image_pasted = Signal(object)  # PIL image
    files_dropped = Signal(list)  # image paths

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("chatInput")
        self.setPlaceholderText(
            "Ask about the screen or an image…  (Ctrl+Enter to send, Ctrl+V pastes images)"
        )
        self.setTabChangesFocus(True)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and event.modifiers() & (
            Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.MetaModifier
        ):
            self.send_requested.emit()
            return
        super().keyPressEvent(event)

    def canInsertFromMimeData(self, source: QMimeData) -> bool:
        return (
            source.hasImage() or bool(image_paths_from_mime(source)) or super().canInsertFromMimeData(source)
        )

    def insertFromMimeData(self, source: QMimeData) -> None:
        paths = image_paths_from_mime(source)
        if paths:
            self.files_dropped.emit(paths)
            return
        if source.hasImage():
            data = source.imageData()
            if isinstance(data, QImage) and not data.isNull():
                self.image_pasted.emit(qimage_to_pil(data))
                return
            if isinstance(data, QPixmap) and not data.isNull():
                self.image_pasted.emit(qimage_to_pil(data.toImage()))
                return
        super().insertFromMimeData(source)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if image_paths_from_mime(event.mimeData()) or event.mimeData().hasImage():
            event.acceptProposedAction()
            return
        super().dragEnterEvent(event)

    def dropEvent(self, event: QDropEvent) -> None:
        if image_paths_from_mime(event.mimeData()) or event.mimeData().hasImage():
            self.insertFromMimeData(event.mimeData())
            event.acceptProposedAction()
            return
        super().dropEvent(event)


class AttachmentStrip(QListWidget):
    """Thumbnails of the images that go with the next message; Delete or double-click removes one."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("attachments")
        self.setViewMode(QListWidget.ViewMode.IconMode)
        self.setFlow(QListWidget.Flow.LeftToRight)
        self.setWrapping(False)
        self.setIconSize(QSize(96, 72))
        self.setFixedHeight(112)
        self.setMovement(QListWidget.Movement.Static)
        self.setToolTip("Images sent with the next message — Delete or double-click removes one")
        self.images: list[PendingImage] = []
        self.itemDoubleClicked.connect(lambda item: self.remove(self.row(item)))
        self.setVisible(False)

    def add(self, pending: PendingImage, thumb: QImage | None = None) -> None:
        """`thumb`: the thumbnail already made off the Qt thread (large images); else made here."""
        self.images.append(pending)
        icon = QIcon(QPixmap.fromImage(thumb)) if thumb is not None else thumbnail_icon(pending.image)
        item = QListWidgetItem(icon, f"{pending.label}\n{pending.image.width}×{pending.image.height}")
        item.setToolTip(pending.label)
        self.addItem(item)
        self.setVisible(True)
        self.changed.emit()

    def remove(self, row: int) -> None:
        if 0 <= row < len(self.images):
            del self.images[row]
            self.takeItem(row)
        self.setVisible(bool(self.images))
        self.changed.emit()

    def take_all(self) -> list[PendingImage]:
        images, self.images = self.images, []
        self.clear()
        self.setVisible(False)
        self.changed.emit()
        return images

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace) and self.currentRow() >= 0:
            self.remove(self.currentRow())
            return
        super().keyPressEvent(event)
