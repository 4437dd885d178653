"""The status bar: engine state (with progress, or the reason it failed and a button to its
log), model name, queue depth / in-flight, cache hit rate and GPU memory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QSize, Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QPainter, QPaintEvent
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QStatusBar, QToolButton, QWidget

from qwen3vl_agent.screen.session import DesktopSession, current_session
from qwen3vl_agent.ui import icons
from qwen3vl_agent.ui.bridge import SHORT_HINT, EngineView
from qwen3vl_agent.ui.gpu import GpuMemory

STATE_COLORS = {
    "ready": "#2fa84f",
    "endpoints": "#2fa84f",
    "starting": "#e0a100",
    "restarting": "#e0a100",
    "failed": "#d64545",
    "unavailable": "#d64545",
    "stopped": "#8a8d96",
}


class _ElidedLabel(QLabel):
    """Shows as much of its text as fits, ending in "…" (the whole text stays in `text()` and the
    tooltip): a long engine message must not push the status bar past the window's edge."""

    def minimumSizeHint(self) -> QSize:
        return QSize(0, super().minimumSizeHint().height())

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        shown = self.fontMetrics().elidedText(self.text(), Qt.TextElideMode.ElideRight, self.width())
        painter.drawText(self.rect(), int(self.alignment().value), shown)


class EngineIndicator(QWidget):
    """A coloured dot, one line of text, a busy bar while starting, and Log / Settings buttons."""

    open_settings = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.view: EngineView | None = None
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 0, 4, 0)
        layout.setSpacing(6)
        self.dot = QLabel("●")
        self.label = _ElidedLabel("engine: not started")
        self.label.setObjectName("engineState")
        self.progress = QProgressBar()
        self.progress.setRange(0, 0)  # busy: vLLM does not report a fraction while it loads
        self.progress.setFixedWidth(110)
        self.progress.setMaximumHeight(14)
        self.progress.setTextVisible(False)
        self.progress.hide()
        self.log_button = QToolButton()
        self.log_button.setIcon(icons.icon("log"))
        self.log_button.setText("Log")
        self.log_button.setToolTip("Open the engine's log file")
        self.log_button.clicked.connect(self._open_log)
        self.log_button.hide()
        self.settings_button = QToolButton()
        self.settings_button.setText("Settings…")
        self.settings_button.setToolTip("Configure the engine (managed vLLM or remote endpoints)")
        self.settings_button.clicked.connect(self.open_settings.emit)
        self.settings_button.hide()
        for w in (self.dot, self.label, self.progress, self.log_button, self.settings_button):
            layout.addWidget(w)
        layout.addStretch(1)

    def show_view(self, view: EngineView) -> None:
        self.view = view
        self.dot.setStyleSheet(f"color: {STATE_COLORS.get(view.state, '#8a8d96')};")
        limit = 56 if view.state in ("failed", "unavailable") else 110
        text = view.text
        if view.state in ("failed", "unavailable"):  # "engine unavailable: <reason>: <detail>" -> the reason
            text = ": ".join(text.split(": ")[:2])
        text = text if len(text) <= limit else text[: limit - 1] + "…"
        if view.state in ("failed", "unavailable"):
            lowered = view.text.lower()
            missing = any(
                w in lowered
                for w in ("not installed", "not found", "cuda", "gpu", "no endpoint", "core is not")
            )
            text += (
                f" — {SHORT_HINT}"
                if missing
                else " — see the Log, or change the engine in Settings; OCR runs on the CPU"
            )
        self.label.setText(text)
        tip = view.text + (f"\n\n{view.hint}" if view.hint else "")
        if view.log_path:
            tip += f"\n\nLog: {view.log_path}"
        self.label.setToolTip(tip)
        self.dot.setToolTip(tip)
        self.progress.setVisible(view.state in ("starting", "restarting"))
        self.log_button.setVisible(view.log_path is not None)
        self.settings_button.setVisible(view.state in ("failed", "unavailable"))

    def _open_log(self) -> None:
        if self.view and self.view.log_path:
            path = Path(self.view.log_path)
            if not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                path.touch()
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(path)))


def _first(stats: dict[str, Any], *names: str) -> Any:
    for name in names:
        if name in stats and stats[name] is not None:
            return stats[name]
    for value in stats.values():  # one level of nesting (e.g. {"queue": {...}, "cache": {...}})
        if isinstance(value, dict):
            found = _first(value, *names)
            if found is not None:
                return found
    return None


class AppStatusBar(QStatusBar):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.engine = EngineIndicator()
        self.model = QLabel("")
        self.model.setObjectName("modelName")
        self.queue = QLabel("queue –")
        self.queue.setObjectName("queueStats")
        self.queue.setToolTip("Requests waiting / being answered by the engine")
        self.cache = QLabel("cache –")
        self.cache.setObjectName("cacheStats")
        self.cache.setToolTip("Share of requests answered from the result cache")
        self.gpu = QLabel("")
        self.gpu.setObjectName("gpuMemory")
        self.gpu.hide()
        self.session = QLabel("")
        self.session.setObjectName("desktopSession")
        self.show_session(current_session())
        self.addWidget(self.engine, 1)
        for w in (self.model, self.queue, self.cache, self.gpu, self.session):
            self.addPermanentWidget(w)

    def show_session(self, session: DesktopSession) -> None:
        """The desktop session detected at start; on Wayland the tooltip says what works there."""
        self.session.setText(session.describe())
        if session.is_wayland and session.compositor == "GNOME":
            self.session.setToolTip(
                "Screen capture and agent runs on this Wayland desktop go through GNOME's remote-desktop "
                "API (Mutter's screen cast and PipeWire; or xdg-desktop-portal with "
                "screen.wayland_route = portal); agent workspaces work too"
            )
        elif session.is_wayland:
            self.session.setToolTip(
                "Screen capture and agent runs on this Wayland desktop go through xdg-desktop-portal: "
                "the desktop asks you to share the screen (once, remembered) and to allow remote "
                "control (when a run starts; remembered where the portal can). Only ASCII text can "
                "be typed there; agent workspaces work too"
            )
        else:
            self.session.setToolTip("The desktop session the app captures and drives")

    def show_engine(self, view: EngineView) -> None:
        self.engine.show_view(view)
        if view.model:
            self.model.setText(view.model)

    def show_stats(self, stats: dict[str, Any]) -> None:
        depth = _first(stats, "queue_depth", "queued", "depth")
        in_flight = _first(stats, "in_flight", "running")
        if depth is not None or in_flight is not None:
            self.queue.setText(f"queue {depth or 0} · in flight {in_flight or 0}")
        rate = _first(stats, "cache_hit_rate", "hit_rate")
        if rate is not None:
            self.cache.setText(f"cache {float(rate) * 100:.0f}% hits")
        elif "cache_hits" in stats:
            self.cache.setText("cache – (no requests yet)")

    def show_gpu(self, reading: GpuMemory | None) -> None:
        self.gpu.setVisible(reading is not None)
        if reading is not None:
            self.gpu.setText(reading.describe())
            self.gpu.setToolTip(reading.name)
