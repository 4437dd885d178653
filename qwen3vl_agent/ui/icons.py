"""Icons drawn from the SVG files under `resources/icons/`, tinted for the current theme."""

from __future__ import annotations

from functools import cache
from importlib import resources

from PySide6.QtCore import QByteArray, QRectF, Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPixmap
from PySide6.QtSvg import QSvgRenderer

_BASE_COLOR = "#444444"  # the stroke colour written in the SVG files, replaced by the theme's
_tint = "#444444"


def set_tint(color: QColor | str) -> None:
    """Choose the colour monochrome icons are drawn in (the theme's text colour)."""
    global _tint
    _tint = QColor(color).name()
    _icon.cache_clear()


def svg_text(name: str) -> str:
    return (resources.files("qwen3vl_agent.resources") / "icons" / f"{name}.svg").read_text(encoding="utf-8")


@cache
def _icon(name: str, tint: str) -> QIcon:
    data = QByteArray(svg_text(name).replace(_BASE_COLOR, tint).encode("utf-8"))
    renderer = QSvgRenderer(data)
    icon = QIcon()
    for size in (16, 20, 24, 32, 48, 64, 128, 256):
        pixmap = QPixmap(size, size)
        pixmap.fill(Qt.GlobalColor.transparent)
        painter = QPainter(pixmap)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        renderer.render(painter, QRectF(0, 0, size, size))
        painter.end()
        icon.addPixmap(pixmap)
    return icon


def icon(name: str) -> QIcon:
    """The named icon (`chat`, `send`, `stop`, ...; `app` is the coloured application icon)."""
    return _icon(name, _tint)


def app_icon() -> QIcon:
    return _icon("app", _BASE_COLOR)
