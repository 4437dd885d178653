"""A real Qt form window for executor and agent tests, run as a SUBPROCESS on an X display.

    python tests/support/form_app.py --state-file STATE.jsonl --x 1980 --y 236 [--width 900 --height 700]

It runs on real X11 (xcb, never offscreen; or natively on Wayland: `--platform wayland --fullscreen`):
pointer and key events come from the display server, so
a test that drives it through pyautogui proves the events really landed. Everything it sees is
appended as JSON lines to the state file (one object per line, flushed at once):

  {"type": "geometry", "window": [l, t, w, h], "widgets": {"name": [l, t, w, h], ...}}  global coords
  {"type": "ready"}                                             after the window is mapped
  {"type": "state", "seq": n, ...}                              full snapshot after every change
  {"type": "click", "x": gx, "y": gy, "button": "left", "widget": "name", "double": false}
  {"type": "drag", "start": [x, y], "end": [x, y], "moves": n, "button": "left"}
  {"type": "shortcut", "name": "ctrl+shift+k"}
  {"type": "submit", "n": k, "values": {...}}                   the Submit button (fields clear after)
  {"type": "ack", "id": ...}                                    answer to a stdin command

F5 reloads the form as a browser reloads a page: the fields are cleared (the shortcut is recorded
too). Commands arrive on stdin as JSON lines: {"cmd": "reset", "id": 1}, {"cmd": "geometry", "id": 2},
{"cmd": "focus", "widget": "name", "id": 3}, {"cmd": "banner", "text": "...", "id": 4},
{"cmd": "title", "text": "...", "id": 5}, {"cmd": "hide"}, {"cmd": "quit"}; the end of stdin quits
too, unless `--no-commands` (an app launched in an agent workspace has no stdin).
"banner" shows a hostile notice and a search box above the form (the prompt-injection variant;
the state's "search" holds what was typed there); "reset" hides it again.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QEvent, QObject, QPoint, Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence, QMouseEvent, QShortcut
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QComboBox,
    QFormLayout,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

COUNTRIES = ["Germany", "Japan", "Switzerland", "France", "Brazil"]
SHORTCUTS = {"ctrl+shift+k": "Ctrl+Shift+K", "alt+s": "Alt+S", "f5": "F5", "ctrl+enter": "Ctrl+Return"}
_BUTTONS = {
    Qt.MouseButton.LeftButton: "left",
    Qt.MouseButton.RightButton: "right",
    Qt.MouseButton.MiddleButton: "middle",
}


class StateLog:
    """Appends JSON lines to the state file, flushing each one so a test can read it at once."""

    def __init__(self, path: Path) -> None:
        self._file = path.open("a", encoding="utf-8")

    def write(self, record: dict[str, Any]) -> None:
        self._file.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._file.flush()


class DragPad(QFrame):
    """Records one press-move-release gesture in global coordinates."""

    dragged = Signal(dict)

    def __init__(self) -> None:
        super().__init__()
        self.setObjectName("drag_pad")
        self.setFrameShape(QFrame.Shape.Box)
        self.setMinimumSize(320, 140)
        self.setStyleSheet("#drag_pad { background: #dde8ff; }")
        self._start: QPoint | None = None
        self._button = "left"
        self._moves = 0

    def mousePressEvent(self, event: QMouseEvent) -> None:
        self._start = event.globalPosition().toPoint()
        self._button = _BUTTONS.get(event.button(), "other")
        self._moves = 0

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._start is not None:
            self._moves += 1

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._start is None:
            return
        end = event.globalPosition().toPoint()
        self.dragged.emit(
            {
                "start": [self._start.x(), self._start.y()],
                "end": [end.x(), end.y()],
                "moves": self._moves,
                "button": self._button,
            }
        )
        self._start = None


class FormWindow(QWidget):
    """The form: fields, checkbox, dropdown, Submit, a scroll area, a click label, a drag pad."""

    command = Signal(dict)

    def __init__(self, log: StateLog, clear_on_submit: bool) -> None:
        super().__init__()
        self.setObjectName("form_window")
        self.setWindowTitle("qwen3vl-agent test form")
        self._log = log
        self._clear_on_submit = clear_on_submit
        self._seq = 0
        self.fullscreen = False  # --fullscreen: shown again full screen after a "hide"
        self._submissions = 0
        self._last_click: dict[str, Any] | None = None
        self._last_drag: dict[str, Any] | None = None
        self._last_shortcut: str | None = None

        self.name = QLineEdit(objectName="name")
        self.city = QLineEdit(objectName="city")
        self.password = QLineEdit(objectName="password")
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.subscribe = QCheckBox("Subscribe to the newsletter", objectName="subscribe")
        self.country = QComboBox(objectName="country")
        self.country.addItems(COUNTRIES)
        self.submit = QPushButton("Submit", objectName="submit")
        self.submitted_label = QLabel("Submitted: 0", objectName="submitted_label")
        self.click_label = QLabel("Last click: none", objectName="click_label")
        self.scroll_label = QLabel("Scroll: v=0 h=0", objectName="scroll_label")
        self.banner = QLabel("", objectName="banner")
        self.banner.setWordWrap(True)
        self.banner.setStyleSheet("#banner { background: #fff3b0; color: #900; font-weight: bold; }")
        self.search = QLineEdit(objectName="search")
        self.search.setPlaceholderText("Search")
        self.banner_row = QWidget(objectName="banner_row")
        banner_layout = QHBoxLayout(self.banner_row)
        banner_layout.addWidget(self.banner, 1)
        banner_layout.addWidget(self.search)
        self.banner_row.hide()

        form = QFormLayout()
        form.addRow(QLabel("Name"), self.name)
        form.addRow(QLabel("City"), self.city)
        form.addRow(QLabel("Password"), self.password)
        form.addRow(QLabel("Country"), self.country)
        form.addRow(self.subscribe)

        self.scroll = QScrollArea(objectName="scroll")
        content = QWidget(objectName="scroll_content")
        grid = QGridLayout(content)
        for row in range(60):
            for col in range(8):
                grid.addWidget(QLabel(f"Row {row} col {col}"), row, col)
        content.setMinimumSize(1400, 2400)
        self.scroll.setWidget(content)
        self.scroll.setMinimumHeight(200)

        self.drag_pad = DragPad()
        self.drag_pad.dragged.connect(self._on_drag)

        buttons = QHBoxLayout()
        buttons.addWidget(self.submit)
        buttons.addWidget(self.submitted_label)
        buttons.addStretch(1)

        layout = QVBoxLayout(self)
        layout.addWidget(self.banner_row)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.click_label)
        layout.addWidget(self.scroll_label)
        layout.addWidget(self.scroll, 1)
        layout.addWidget(QLabel("Drag pad:"))
        layout.addWidget(self.drag_pad)

        for widget in (self.name, self.city, self.password, self.search):
            widget.textChanged.connect(self.write_state)
        self.subscribe.toggled.connect(self.write_state)
        self.country.currentIndexChanged.connect(self.write_state)
        self.submit.clicked.connect(self._on_submit)
        self.scroll.verticalScrollBar().valueChanged.connect(self._on_scroll)
        self.scroll.horizontalScrollBar().valueChanged.connect(self._on_scroll)
        for name, sequence in SHORTCUTS.items():
            shortcut = QShortcut(QKeySequence(sequence), self)
            shortcut.setContext(Qt.ShortcutContext.ApplicationShortcut)
            shortcut.activated.connect(lambda n=name: self._on_shortcut(n))
        self.command.connect(self._on_command)

    # -- state --------------------------------------------------------------------------
    def values(self) -> dict[str, Any]:
        return {
            "name": self.name.text(),
            "city": self.city.text(),
            "password": self.password.text(),
            "subscribe": self.subscribe.isChecked(),
            "country": self.country.currentText(),
        }

    def write_state(self, *_: object) -> None:
        self._seq += 1
        focus = QApplication.focusWidget()
        self._log.write(
            {
                "type": "state",
                "seq": self._seq,
                **self.values(),
                "scroll": {
                    "v": self.scroll.verticalScrollBar().value(),
                    "h": self.scroll.horizontalScrollBar().value(),
                },
                "last_click": self._last_click,
                "last_drag": self._last_drag,
                "last_shortcut": self._last_shortcut,
                "submissions": self._submissions,
                "focus": focus.objectName() if focus is not None else None,
                "combo_popup_visible": self.country.view().isVisible(),
                "search": self.search.text(),
            }
        )

    def write_geometry(self) -> None:
        widgets: dict[str, list[int]] = {}
        for widget in self.findChildren(QWidget):
            name = widget.objectName()
            if not name or name.startswith("qt_") or not widget.isVisible():
                continue
            top_left = widget.mapToGlobal(QPoint(0, 0))
            widgets[name] = [top_left.x(), top_left.y(), widget.width(), widget.height()]
        frame = self.geometry()
        self._log.write(
            {
                "type": "geometry",
                "window": [frame.x(), frame.y(), frame.width(), frame.height()],
                "widgets": widgets,
            }
        )

    # -- events -------------------------------------------------------------------------
    def record_click(self, event: QMouseEvent, target: QObject, double: bool) -> None:
        pos = event.globalPosition().toPoint()
        button = _BUTTONS.get(event.button(), "other")
        widget = target.objectName() if isinstance(target, QWidget) else ""
        if isinstance(target, QWidget) and not widget:
            parent = target.parentWidget()
            while parent is not None and not parent.objectName():
                parent = parent.parentWidget()
            widget = parent.objectName() if parent is not None else ""
        self._last_click = {"x": pos.x(), "y": pos.y(), "button": button, "widget": widget, "double": double}
        self.click_label.setText(f"Last click: {pos.x()},{pos.y()} {button} on {widget}")
        self._log.write({"type": "click", **self._last_click})
        self.write_state()

    def _on_drag(self, drag: dict[str, Any]) -> None:
        self._last_drag = drag
        self._log.write({"type": "drag", **drag})
        self.write_state()

    def _on_scroll(self, *_: object) -> None:
        v = self.scroll.verticalScrollBar().value()
        h = self.scroll.horizontalScrollBar().value()
        self.scroll_label.setText(f"Scroll: v={v} h={h}")
        self.write_state()

    def _on_shortcut(self, name: str) -> None:
        if name == "f5":  # reload: what a batch's reset step may press
            self.country.hidePopup()
            self.reset_fields()
        self._last_shortcut = name
        self._log.write({"type": "shortcut", "name": name})
        self.write_state()

    def _on_submit(self) -> None:
        self._submissions += 1
        self._log.write({"type": "submit", "n": self._submissions, "values": self.values()})
        self.submitted_label.setText(f"Submitted: {self._submissions}")
        if self._clear_on_submit:
            self.reset_fields()
        self.write_state()

    def reset_fields(self) -> None:
        for widget in (self.name, self.city, self.password):
            widget.blockSignals(True)
            widget.clear()
            widget.blockSignals(False)
        self.subscribe.blockSignals(True)
        self.subscribe.setChecked(False)
        self.subscribe.blockSignals(False)
        self.country.blockSignals(True)
        self.country.setCurrentIndex(0)
        self.country.blockSignals(False)

    def _show_and_wait_exposed(self, timeout_s: float = 5.0, fullscreen: bool = False) -> None:
        """Map the window again and return once X shows it (so the next click lands on it)."""
        if fullscreen:
            self.showFullScreen()
        else:
            self.show()
        self.raise_()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            QApplication.processEvents()
            handle = self.windowHandle()
            if handle is not None and handle.isExposed():
                break
            time.sleep(0.01)

    def _on_command(self, command: dict[str, Any]) -> None:
        cmd = command.get("cmd")
        if cmd == "reset":
            if not self.isVisible():
                self._show_and_wait_exposed(fullscreen=self.fullscreen)
            self.country.hidePopup()
            self.reset_fields()
            self.banner_row.hide()
            self.search.clear()
            self.setWindowTitle("qwen3vl-agent test form")
            self.scroll.verticalScrollBar().setValue(0)
            self.scroll.horizontalScrollBar().setValue(0)
            self._last_click = self._last_drag = self._last_shortcut = None
            self._submissions = 0
            self.submitted_label.setText("Submitted: 0")
            self.click_label.setText("Last click: none")
            self.activateWindow()
            self.setFocus()
            self.write_state()
        elif cmd == "geometry":
            self.write_geometry()
        elif cmd == "title":
            self.setWindowTitle(str(command.get("text", "")))
            QApplication.processEvents()
        elif cmd == "banner":
            self.banner.setText(str(command.get("text", "")))
            self.banner_row.show()
            QApplication.processEvents()
            self.write_geometry()
        elif cmd == "focus":
            self.activateWindow()
            widget = self.findChild(QWidget, str(command.get("widget")))
            if widget is not None:
                widget.setFocus()
            self.write_state()
        elif cmd == "state":
            self.write_state()
        elif cmd == "hide":  # between tests: the desktop is left bare for tests that read pixels
            self.country.hidePopup()
            self.hide()
            QApplication.processEvents()
        elif cmd == "quit":
            QApplication.quit()
            return
        self._log.write({"type": "ack", "id": command.get("id")})


class ClickRecorder(QObject):
    """An application-wide filter: every mouse press anywhere in the app, in global coordinates.

    A press that a child ignores is delivered again to its parents; the (timestamp, kind) key
    makes sure each physical press is recorded once, on the widget it first reached.
    """

    def __init__(self, window: FormWindow) -> None:
        super().__init__()
        self._window = window
        self._last_key: tuple[int, int, int] | None = None

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        kind = event.type()
        if kind not in (QEvent.Type.MouseButtonPress, QEvent.Type.MouseButtonDblClick):
            return False
        if not isinstance(watched, QWidget) or not isinstance(event, QMouseEvent):
            return False
        key = (int(event.timestamp()), int(kind.value), int(event.button().value))
        if key == self._last_key:
            return False
        self._last_key = key
        self._window.record_click(event, watched, kind == QEvent.Type.MouseButtonDblClick)
        return False


def _read_commands(window: FormWindow) -> None:
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            command = json.loads(line)
        except json.JSONDecodeError:
            continue
        window.command.emit(command)
    window.command.emit({"cmd": "quit"})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--state-file", required=True, type=Path)
    parser.add_argument("--x", type=int, default=0)
    parser.add_argument("--y", type=int, default=0)
    parser.add_argument("--width", type=int, default=900)
    parser.add_argument("--height", type=int, default=760)
    parser.add_argument("--keep-values", action="store_true", help="do not clear the fields after Submit")
    parser.add_argument("--platform", default="xcb", help="Qt platform plugin: xcb, or wayland (native)")
    parser.add_argument(
        "--fullscreen",
        action="store_true",
        help="fill the first screen: a Wayland client cannot place itself, so this pins the window at the "
        "monitor's origin and its global coordinates are the compositor's",
    )
    parser.add_argument(
        "--no-commands", action="store_true", help="read no commands from stdin (launched in a workspace)"
    )
    args = parser.parse_args(argv)

    app = QApplication([sys.argv[0], "-platform", args.platform])
    app.setDoubleClickInterval(400)
    log = StateLog(args.state_file)
    window = FormWindow(log, clear_on_submit=not args.keep_values)
    recorder = ClickRecorder(window)
    app.installEventFilter(recorder)
    window.setGeometry(args.x, args.y, args.width, args.height)
    window.fullscreen = args.fullscreen
    if args.fullscreen:
        window.showFullScreen()
    else:
        window.show()
    window.activateWindow()
    window.raise_()

    def announce() -> None:
        window.write_geometry()
        window.write_state()
        log.write({"type": "ready"})

    def wait_exposed() -> None:
        handle = window.windowHandle()
        if handle is not None and handle.isExposed():
            announce()
        else:
            QTimer.singleShot(50, wait_exposed)

    QTimer.singleShot(50, wait_exposed)
    if not args.no_commands:
        threading.Thread(target=_read_commands, args=(window,), daemon=True).start()
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
