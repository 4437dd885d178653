"""Agent workspaces in the app: live thumbnails, one large view, a step list each, take-over.

    grid = WorkspaceGrid()
    grid.set_workspaces([WorkspaceEntry("ws1", ":5", run=loop1), ...])  # run: pause()/resume()/stop()
    grid.add_step("ws1", "step 3: click Submit")

Frames come from a capture thread (the core's `ScreenCapturer` bound to each display, about two
frames a second) as QImages; the Qt thread only scales and shows them. **Take over** pauses that
workspace's run (`run.pause()`) and forwards the user's mouse and keys on the large view into the
workspace (XTest, on one input thread so events stay in order and never block the UI); **Hand
back** releases what the user held and resumes the run, which goes on from a fresh screenshot.
**Stop all** stops every run (the stop hotkey does the same through the core).
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

from PySide6.QtCore import QPoint, Qt, Signal
from PySide6.QtGui import QImage, QKeyEvent, QMouseEvent, QPixmap
from PySide6.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QPushButton,
    QSizePolicy,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from qwen3vl_agent.executor.plan import ButtonDown, ButtonUp, KeyDown, KeyUp, MoveTo, PasteText, Primitive

_QT_KEYS: dict[int, str] = {
    Qt.Key.Key_Return: "enter",
    Qt.Key.Key_Enter: "enter",
    Qt.Key.Key_Tab: "tab",
    Qt.Key.Key_Backspace: "backspace",
    Qt.Key.Key_Delete: "delete",
    Qt.Key.Key_Escape: "esc",
    Qt.Key.Key_Left: "left",
    Qt.Key.Key_Right: "right",
    Qt.Key.Key_Up: "up",
    Qt.Key.Key_Down: "down",
    Qt.Key.Key_Home: "home",
    Qt.Key.Key_End: "end",
    Qt.Key.Key_PageUp: "pageup",
    Qt.Key.Key_PageDown: "pagedown",
    Qt.Key.Key_Shift: "shift",
    Qt.Key.Key_Control: "ctrl",
    Qt.Key.Key_Alt: "alt",
    Qt.Key.Key_Space: "space",
}
_BUTTONS = {
    Qt.MouseButton.LeftButton: "left",
    Qt.MouseButton.RightButton: "right",
    Qt.MouseButton.MiddleButton: "middle",
}


class Run(Protocol):
    def pause(self) -> None: ...
    def resume(self) -> None: ...
    def stop(self) -> None: ...


@dataclass
class WorkspaceEntry:
    """One workspace as the grid shows it; `run` is its current agent run (None between rows)."""

    name: str
    display: str
    run: Run | None = None


class _Frames(threading.Thread):
    """Captures every workspace in turn and hands QImages to the grid (through a queued signal)."""

    def __init__(self, grid: WorkspaceGrid, displays: dict[str, str], interval_s: float) -> None:
        super().__init__(name="workspace-frames", daemon=True)
        self.grid, self.displays, self.interval_s = grid, displays, interval_s
        self.halt = threading.Event()

    def run(self) -> None:
        from qwen3vl_agent.screen.capture import CaptureTarget, ScreenCapturer

        capturers = {name: ScreenCapturer(display=display) for name, display in self.displays.items()}
        try:
            while not self.halt.is_set():
                for name, capturer in capturers.items():
                    try:
                        shot = capturer.capture(CaptureTarget.monitor(1))
                    except Exception:  # the workspace went away (relaunch, end): try again later
                        continue
                    data = shot.image.tobytes("raw", "RGB")
                    image = QImage(
                        data,
                        shot.image.width,
                        shot.image.height,
                        3 * shot.image.width,
                        QImage.Format.Format_RGB888,
                    )
                    self.grid.frame.emit(name, image.copy())
                self.halt.wait(self.interval_s)
        finally:
            for capturer in capturers.values():
                capturer.close()


class WorkspaceView(QLabel):
    """The large view: shows frames; while taken over, forwards mouse and keys into the workspace."""

    def __init__(self, grid: WorkspaceGrid) -> None:
        super().__init__()
        self.grid = grid
        self.setObjectName("workspaceLarge")
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setMinimumSize(480, 320)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMouseTracking(True)
        self.source_size = (0, 0)

    def to_workspace(self, pos: QPoint) -> tuple[int, int] | None:
        """Widget position -> workspace pixel, through the shown (scaled, centred) pixmap."""
        pixmap = self.pixmap()
        width, height = self.source_size
        if pixmap is None or pixmap.isNull() or not width:
            return None
        left = (self.width() - pixmap.width()) // 2
        top = (self.height() - pixmap.height()) // 2
        x = (pos.x() - left) * width / pixmap.width()
        y = (pos.y() - top) * height / pixmap.height()
        if not (0 <= x < width and 0 <= y < height):
            return None
        return (int(x), int(y))

    def mousePressEvent(self, event: QMouseEvent) -> None:
        self._mouse(event, True)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        self._mouse(event, False)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        point = self.to_workspace(event.position().toPoint())
        if self.grid.taken_over and point is not None:
            self.grid.forward(MoveTo(*point))

    def _mouse(self, event: QMouseEvent, down: bool) -> None:
        point = self.to_workspace(event.position().toPoint())
        button = _BUTTONS.get(event.button())
        if not self.grid.taken_over or point is None or button is None:
            return
        self.grid.forward(MoveTo(*point))
        self.grid.forward(ButtonDown(button) if down else ButtonUp(button))

    def keyPressEvent(self, event: QKeyEvent) -> None:
        self._key(event, True)

    def keyReleaseEvent(self, event: QKeyEvent) -> None:
        self._key(event, False)

    def _key(self, event: QKeyEvent, down: bool) -> None:
        if not self.grid.taken_over or event.isAutoRepeat():
            return
        name = _QT_KEYS.get(event.key())
        text = event.text()
        if name is None and len(text) == 1 and 0x21 <= ord(text) <= 0x7E:
            name = text.lower() if event.modifiers() & Qt.KeyboardModifier.ControlModifier else text
        if name is not None:
            self.grid.forward(KeyDown(name) if down else KeyUp(name))
        elif down and text and text.isprintable():
            self.grid.forward(PasteText(text))  # beyond the keyboard map: through the clipboard


class _Thumb(QLabel):
    """A workspace's thumbnail in the grid: a click selects that workspace."""

    clicked = Signal()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        self.clicked.emit()


class WorkspaceGrid(QWidget):
    """Thumbnails of all workspaces, one large, a step list each; take over, hand back, stop all."""

    frame = Signal(str, QImage)
    stop_all_requested = Signal()

    def __init__(self, parent: QWidget | None = None, interval_s: float = 0.5) -> None:
        super().__init__(parent)
        self.setObjectName("workspaceGrid")
        self.interval_s = interval_s
        self.entries: dict[str, WorkspaceEntry] = {}
        self.current: str | None = None
        self.taken_over = False
        self.errors: list[str] = []
        self.frames_shown = 0
        self._thumbs: dict[str, QLabel] = {}
        self._steps: dict[str, QListWidget] = {}
        self._frames: _Frames | None = None
        self._input_pool: ThreadPoolExecutor | None = None
        self._backend: Any = None
        self.frame.connect(self._on_frame)

        self.thumbs = QGridLayout()
        self.large = WorkspaceView(self)
        self.step_stack = QStackedWidget()
        self.step_stack.setObjectName("workspaceSteps")
        self.status = QLabel("No workspaces")
        self.status.setObjectName("workspaceStatus")
        self.status.setTextFormat(Qt.TextFormat.PlainText)
        self.take_over_button = QPushButton("Take over")
        self.take_over_button.setObjectName("workspaceTakeOver")
        self.take_over_button.setToolTip(
            "Pause this workspace's run and use its app with your mouse and keyboard"
        )
        self.hand_back_button = QPushButton("Hand back")
        self.hand_back_button.setObjectName("workspaceHandBack")
        self.hand_back_button.setEnabled(False)
        self.stop_button = QPushButton("Stop all")
        self.stop_button.setObjectName("workspaceStopAll")
        self.take_over_button.clicked.connect(self.take_over)
        self.hand_back_button.clicked.connect(self.hand_back)
        self.stop_button.clicked.connect(self.stop_all)

        buttons = QHBoxLayout()
        for widget in (self.status, self.take_over_button, self.hand_back_button, self.stop_button):
            buttons.addWidget(widget)
        buttons.insertStretch(1)
        right = QVBoxLayout()
        right.addLayout(self.thumbs)
        right.addWidget(self.step_stack, 1)
        body = QHBoxLayout()
        body.addWidget(self.large, 3)
        body.addLayout(right, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(body, 1)
        layout.addLayout(buttons)

    # -- workspaces -----------------------------------------------------------------------
    def set_workspaces(self, entries: list[WorkspaceEntry]) -> None:
        """Show these workspaces (starts the frame thread); an empty list stops it."""
        self.close_workspaces()
        self.entries = {e.name: e for e in entries}
        for i, entry in enumerate(entries):
            thumb = _Thumb(entry.name)
            thumb.setObjectName(f"workspaceThumb_{entry.name}")
            thumb.setFixedSize(176, 120)
            thumb.setAlignment(Qt.AlignmentFlag.AlignCenter)
            thumb.setFrameShape(QLabel.Shape.Box)
            thumb.clicked.connect(lambda n=entry.name: self.select(n))
            self.thumbs.addWidget(thumb, i // 2, i % 2)
            self._thumbs[entry.name] = thumb
            steps = QListWidget()
            steps.setObjectName(f"workspaceSteps_{entry.name}")
            self.step_stack.addWidget(steps)
            self._steps[entry.name] = steps
        if entries:
            self.select(entries[0].name)
            self._frames = _Frames(self, {e.name: e.display for e in entries}, self.interval_s)
            self._frames.start()
        else:
            self.status.setText("No workspaces")

    def set_run(self, name: str, run: Run | None) -> None:
        """The run now going in workspace `name` (a batch starts one per row)."""
        if name in self.entries:
            self.entries[name].run = run

    def add_step(self, name: str, text: str) -> None:
        steps = self._steps.get(name)
        if steps is not None:
            steps.addItem(text)
            steps.scrollToBottom()

    def show_event(self, name: str, event: Any) -> str:
        """Add a line for one core agent event of workspace `name`'s run; returns the line."""
        kind = type(event).__name__
        if kind == "ActionProposed":
            line = f"step {event.step}: {event.action.describe()}"
        elif kind == "RunPaused":
            line = ("WAITING FOR YOU: " if event.reason == "waiting-for-you" else "paused: ") + event.message
        elif kind == "RunFinished":
            line = f"run {event.run_id} {event.status}: {event.message}"
        elif kind == "RunError" and event.fatal:
            line = f"error: {event.message}"
        else:
            return ""
        self.add_step(name, line)
        return line

    def select(self, name: str) -> None:
        if name not in self.entries or self.taken_over:
            return
        self.current = name
        self.step_stack.setCurrentWidget(self._steps[name])
        for other, thumb in self._thumbs.items():
            thumb.setLineWidth(3 if other == name else 1)
        self.status.setText(f"{name} ({self.entries[name].display})")

    def _on_frame(self, name: str, image: QImage) -> None:
        thumb = self._thumbs.get(name)
        if thumb is None:
            return
        self.frames_shown += 1
        pixmap = QPixmap.fromImage(image)
        thumb.setPixmap(
            pixmap.scaled(
                thumb.size(), Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation
            )
        )
        if name == self.current:
            self.large.source_size = (image.width(), image.height())
            self.large.setPixmap(
                pixmap.scaled(
                    self.large.size(),
                    Qt.AspectRatioMode.KeepAspectRatio,
                    Qt.TransformationMode.SmoothTransformation,
                )
            )

    # -- take over / hand back ---------------------------------------------------------------
    def take_over(self) -> None:
        """Pause the selected workspace's run and forward the user's input into it."""
        if self.current is None or self.taken_over:
            return
        entry = self.entries[self.current]
        if entry.run is not None:
            entry.run.pause()
        from qwen3vl_agent.executor.xtest_backend import XTestBackend

        self._backend = XTestBackend(entry.display)
        self._input_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="workspace-input")
        self.taken_over = True
        self.take_over_button.setEnabled(False)
        self.hand_back_button.setEnabled(True)
        self.status.setText(f"You have {entry.name}: its run is paused. Hand back when done.")
        self.large.setFocus()

    def forward(self, prim: Primitive) -> None:
        """Play one input event in the taken-over workspace (on the input thread, in order)."""
        if self._input_pool is None or self._backend is None:
            return
        backend = self._backend

        def play() -> None:
            try:
                backend.perform(prim)
            except Exception as exc:  # an unknown key, the display gone: shown, never raised into Qt
                self.errors.append(str(exc))

        self._input_pool.submit(play)

    def hand_back(self) -> None:
        """Release what the user held, end the forwarding, resume the run (from a fresh screenshot)."""
        if not self.taken_over or self.current is None:
            return
        self._end_forwarding()
        self.taken_over = False
        self.take_over_button.setEnabled(True)
        self.hand_back_button.setEnabled(False)
        entry = self.entries[self.current]
        if entry.run is not None:
            entry.run.resume()
        self.status.setText(f"{entry.name}: handed back to the agent")

    def _end_forwarding(self) -> None:
        pool, backend = self._input_pool, self._backend
        self._input_pool = self._backend = None
        if pool is not None and backend is not None:
            pool.submit(backend.release_all)
            pool.submit(backend.close)
            pool.shutdown(wait=True)

    def stop_all(self) -> None:
        for entry in self.entries.values():
            if entry.run is not None:
                entry.run.stop()
        self.stop_all_requested.emit()
        self.status.setText("Stopped all workspaces")

    def close_workspaces(self) -> None:
        """Stop the frame thread and any take-over; forget the workspaces."""
        if self.taken_over:
            self._end_forwarding()
            self.taken_over = False
        if self._frames is not None:
            self._frames.halt.set()
            self._frames.join(timeout=5)
            self._frames = None
        for thumb in self._thumbs.values():
            thumb.deleteLater()
        for steps in self._steps.values():
            self.step_stack.removeWidget(steps)
            steps.deleteLater()
        self._thumbs.clear()
        self._steps.clear()
        self.entries.clear()
        self.current = None
