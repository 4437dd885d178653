"""An opt-in probe for end-to-end tests and benchmarks of the real app process.

With `QWEN3VL_AGENT_UI_PROBE=<dir>` set, the window writes `<dir>/state.json` whenever the
pane or the engine state changes: the current pane, the visible widgets' object names, the
window's frame on the desktop and the status bar text. A test can then drive the app with
real input (xdotool) and know what is on screen without reaching into the process.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QWidget

ENV = "QWEN3VL_AGENT_UI_PROBE"


def install(window: Any) -> None:
    folder = os.environ.get(ENV)
    if not folder:
        return
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    timer = QTimer(window)
    timer.setSingleShot(True)
    timer.setInterval(300)  # after the pane has painted

    def write() -> None:
        pane = window.tabs.currentWidget()
        visible = sorted(
            {w.objectName() for w in window.findChildren(QWidget) if w.objectName() and w.isVisible()}
        )
        rects = {}
        for w in window.findChildren(QWidget):
            if w.objectName() and w.isVisible():
                top_left = w.mapToGlobal(w.rect().topLeft())
                rects[w.objectName()] = [top_left.x(), top_left.y(), w.width(), w.height()]
        g = window.frameGeometry()
        inner = window.geometry()
        state = {
            "time": time.time(),
            "pane": pane.objectName(),
            "tab": window.tabs.tabText(window.tabs.currentIndex()),
            "visible": visible,
            "rects": rects,
            "frame": [g.x(), g.y(), g.width(), g.height()],
            "geometry": [inner.x(), inner.y(), inner.width(), inner.height()],
            "engine_state": window.status.engine.view.state if window.status.engine.view else None,
            "engine_text": window.status.engine.label.text(),
            "model": window.status.model.text(),
            "agent_state": window.agent.state_label.text(),
            "pid": os.getpid(),
        }
        tmp = out / "state.json.tmp"
        tmp.write_text(json.dumps(state, indent=1))
        tmp.replace(out / "state.json")

    timer.timeout.connect(write)
    window.tabs.currentChanged.connect(lambda _i: timer.start())
    window.ctx.bridge.engine_changed.connect(lambda _v: timer.start())
    timer.start()
    tick = QTimer(window)  # and once a second, for states that change without a signal here
    tick.setInterval(1000)
    tick.timeout.connect(write)
    tick.start()
