"""Light and dark themes that follow the system colour scheme (Fusion style + palette).

The user may force one in View > Theme; the choice is kept in QSettings.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

from qwen3vl_agent.ui import icons

THEMES = ("system", "light", "dark")


def system_is_dark() -> bool:
    hints = QGuiApplication.styleHints()
    try:
        return hints.colorScheme() == Qt.ColorScheme.Dark
    except AttributeError:  # Qt < 6.5
        return QGuiApplication.palette().color(QPalette.ColorRole.Window).lightness() < 128


def dark_palette() -> QPalette:
    p = QPalette()
    window, base, text = QColor(37, 38, 43), QColor(28, 29, 33), QColor(226, 228, 233)
    accent = QColor(109, 93, 252)
    roles = {
        QPalette.ColorRole.Window: window,
        QPalette.ColorRole.WindowText: text,
        QPalette.ColorRole.Base: base,
        QPalette.ColorRole.AlternateBase: QColor(44, 45, 51),
        QPalette.ColorRole.ToolTipBase: QColor(50, 51, 58),
        QPalette.ColorRole.ToolTipText: text,
        QPalette.ColorRole.PlaceholderText: QColor(140, 143, 152),
        QPalette.ColorRole.Text: text,
        QPalette.ColorRole.Button: QColor(48, 49, 56),
        QPalette.ColorRole.ButtonText: text,
        QPalette.ColorRole.BrightText: QColor(255, 90, 90),
        QPalette.ColorRole.Link: QColor(140, 160, 255),
        QPalette.ColorRole.Highlight: accent,
        QPalette.ColorRole.HighlightedText: QColor(255, 255, 255),
        QPalette.ColorRole.Mid: QColor(60, 61, 68),
        QPalette.ColorRole.Dark: QColor(20, 20, 24),
        QPalette.ColorRole.Light: QColor(70, 71, 80),
    }
    for role, color in roles.items():
        p.setColor(role, color)
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText, QPalette.ColorRole.WindowText):
        p.setColor(QPalette.ColorGroup.Disabled, role, QColor(120, 122, 130))
    return p


def light_palette() -> QPalette:
    p = QPalette()
    roles = {
        QPalette.ColorRole.Window: QColor(244, 245, 248),
        QPalette.ColorRole.WindowText: QColor(30, 32, 38),
        QPalette.ColorRole.Base: QColor(255, 255, 255),
        QPalette.ColorRole.AlternateBase: QColor(238, 240, 245),
        QPalette.ColorRole.Text: QColor(30, 32, 38),
        QPalette.ColorRole.Button: QColor(250, 250, 252),
        QPalette.ColorRole.ButtonText: QColor(30, 32, 38),
        QPalette.ColorRole.Highlight: QColor(109, 93, 252),
        QPalette.ColorRole.HighlightedText: QColor(255, 255, 255),
        QPalette.ColorRole.Link: QColor(80, 70, 220),
        QPalette.ColorRole.PlaceholderText: QColor(130, 133, 142),
    }
    for role, color in roles.items():
        p.setColor(role, color)
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText, QPalette.ColorRole.WindowText):
        p.setColor(QPalette.ColorGroup.Disabled, role, QColor(160, 163, 172))
    p.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Button, QColor(236, 237, 241))
    return p


STYLESHEET = """
QTabBar::tab { padding: 6px 14px; }
QStatusBar QLabel { padding: 0 6px; }
QToolButton { padding: 3px; }
QListWidget::item { padding: 4px 2px; }
QLabel#hint { color: palette(placeholder-text); }
QFrame#card { border: 1px solid palette(mid); border-radius: 6px; }
"""


def apply_theme(app: QApplication, choice: str = "system") -> bool:
    """Apply `choice` (system/light/dark); return whether the result is dark."""
    dark = system_is_dark() if choice == "system" else choice == "dark"
    app.setStyle("Fusion")
    palette = dark_palette() if dark else light_palette()
    app.setPalette(palette)
    app.setStyleSheet(STYLESHEET)
    icons.set_tint(palette.color(QPalette.ColorRole.WindowText))
    return dark
