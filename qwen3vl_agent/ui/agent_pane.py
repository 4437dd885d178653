"""The Agent pane: task, target monitor/window, data file for form filling, safety mode and
step limit; the live view of the last screenshot with the proposed action drawn on it; the
step list with the model's thoughts; approve / reject in confirm mode; pause / stop and the
global stop hotkey; per-row progress for batches; the HTML report of a run.

Runs execute on the worker loop (`worker_loop.py`) so capture, hashing, trajectory writes
and the executor's waits never stall the Qt thread; events arrive through the bridge. The
app's own windows are hidden while the agent looks at the screen (see `agent_runner.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import html
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QImage
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QToolButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from qwen3vl_agent.agents import events as ev
from qwen3vl_agent.agents.batch_rate import BatchRate
from qwen3vl_agent.executor.plan_text import visible_text
from qwen3vl_agent.ui import capture, icons
from qwen3vl_agent.ui.action_view import ActionView
from qwen3vl_agent.ui.context import AppContext
from qwen3vl_agent.ui.tasks import describe_error
from qwen3vl_agent.ui.workspace_grid import WorkspaceEntry, WorkspaceGrid

SAFETY_MODES = (
    ("Dry run — nothing moves", "dry-run"),
    ("Confirm each action", "confirm"),
    ("Automatic", "auto"),
)
ROW_COLORS = {"done": "#2fa84f", "failed": "#d64545", "needs-attention": "#e0a100", "running": "#6d5dfc"}


class AgentPane(QWidget):
    attention_needed = Signal(str)  # confirmation or a pause the user must answer

    def __init__(self, ctx: AppContext) -> None:
        super().__init__()
        self.ctx = ctx
        self.setObjectName("agentPane")
        self.runner: Any = None  # agent_runner.AgentRunner while a run is going
        self._run_task: asyncio.Task[Any] | None = None
        self.run_id: int | None = None
        self.events: list[Any] = []
        self._step_items: dict[int, QTreeWidgetItem] = {}
        self._row_items: dict[int, int] = {}
        ctx.bridge.agent_event.connect(self.on_event)

        # task and options
        self.task = QPlainTextEdit()
        self.task.setObjectName("agentTask")
        self.task.setPlaceholderText(
            "What should the agent do?  e.g. Fill the form with name {name} and city {city}, then press Submit."
        )
        self.task.setMaximumHeight(110)
        self.target = QComboBox()
        self.target.setObjectName("agentTarget")
        self.target.setToolTip("The monitor or window the agent looks at and acts on")
        self.target.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.target.setMinimumContentsLength(18)
        self.refresh_targets_button = QToolButton()
        self.refresh_targets_button.setIcon(icons.icon("resume"))
        self.refresh_targets_button.setToolTip("Refresh the monitors and windows")
        self.refresh_targets_button.clicked.connect(self.refresh_targets)
        target_row = QHBoxLayout()
        target_row.addWidget(self.target, 1)
        target_row.addWidget(self.refresh_targets_button)
        self.data_file = QLineEdit()
        self.data_file.setObjectName("agentDataFile")
        self.data_file.setPlaceholderText("optional: CSV or JSON rows for form filling (one run per row)")
        self.data_button = QToolButton()
        self.data_button.setIcon(icons.icon("folder"))
        self.data_button.setToolTip("Choose a data file…")
        self.data_button.clicked.connect(self._pick_data)
        data_row = QHBoxLayout()
        data_row.addWidget(self.data_file, 1)
        data_row.addWidget(self.data_button)
        self.safety = QComboBox()
        self.safety.setObjectName("agentSafety")
        for label, value in SAFETY_MODES:
            self.safety.addItem(label, value)
        self.safety.setCurrentIndex(max(0, self.safety.findData(ctx.settings.safety.mode)))
        self.step_limit = QSpinBox()
        self.step_limit.setObjectName("agentStepLimit")
        self.step_limit.setRange(1, 500)
        self.step_limit.setValue(ctx.settings.safety.step_limit)
        self.workspaces = QSpinBox()
        self.workspaces.setObjectName("agentWorkspaces")
        self.workspaces.setRange(0, 32)
        self.workspaces.setSpecialValueText("this desktop")
        self.workspaces.setToolTip("Run in workspaces of their own (rows at once) instead of on this desktop")
        self.launch = QLineEdit()
        self.launch.setObjectName("agentLaunch")
        self.launch.setPlaceholderText(
            "app to start in each workspace, e.g. firefox --new-instance https://…"
        )
        form = QFormLayout()
        form.addRow("Task", self.task)
        form.addRow("Screen", target_row)
        form.addRow("Workspaces", self.workspaces)
        form.addRow("Launch", self.launch)
        form.addRow("Data rows", data_row)
        form.addRow("Safety", self.safety)
        form.addRow("Step limit", self.step_limit)

        self.start_button = QPushButton(icons.icon("play"), "Start")
        self.start_button.setObjectName("agentStart")
        self.start_button.setToolTip("Start the run (Ctrl+Return)")
        self.start_button.clicked.connect(self.primary_action)
        self.pause_button = QPushButton(icons.icon("pause"), "Pause")
        self.pause_button.setObjectName("agentPause")
        self.pause_button.clicked.connect(self.toggle_pause)
        self.pause_button.setEnabled(False)
        self.stop_button = QPushButton(icons.icon("stop"), "Stop")
        self.stop_button.setObjectName("agentStop")
        self.stop_button.setToolTip("Stop the run (Esc, or the global hotkey)")
        self.stop_button.clicked.connect(self.stop_action)
        self.stop_button.setEnabled(False)
        self.report_button = QPushButton(icons.icon("report"), "Report")
        self.report_button.setObjectName("agentReport")
        self.report_button.setToolTip("Open the HTML report of the last run")
        self.report_button.clicked.connect(lambda: self.ctx.tasks.spawn(self.open_report()))
        self.report_button.setEnabled(False)
        buttons = QHBoxLayout()
        for b in (self.start_button, self.pause_button, self.stop_button, self.report_button):
            buttons.addWidget(b)
        self.hotkey_label = QLabel()
        self.hotkey_label.setObjectName("stopHotkey")
        self._show_hotkey()
        self.state_label = QLabel("Idle")
        self.state_label.setObjectName("agentState")
        self.state_label.setTextFormat(Qt.TextFormat.PlainText)  # shows model text (answers, refusals)
        self.state_label.setWordWrap(True)

        # batch rows
        self.rows = QTableWidget(0, 3)
        self.rows.setObjectName("agentRows")
        self.rows.setHorizontalHeaderLabels(["Row", "Status", "Message"])
        self.rows.horizontalHeader().setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.rows.verticalHeader().hide()
        self.batch_progress = QProgressBar()
        self.batch_progress.setObjectName("batchProgress")
        self.batch_progress.setFormat("%v / %m rows")
        self._batch_rate: BatchRate | None = None
        self.batch_progress.hide()  # shown when a data file's rows run
        self.rows_hint = QLabel(
            "Choose a data file to run the task once per row; each row's progress shows here."
        )
        self.rows_hint.setObjectName("hint")
        self.rows_hint.setWordWrap(True)
        rows_box = QGroupBox("Rows")
        rbv = QVBoxLayout(rows_box)
        rbv.addWidget(self.rows_hint)
        rbv.addWidget(self.batch_progress)
        rbv.addWidget(self.rows)

        left = QWidget()
        lv = QVBoxLayout(left)
        lv.setContentsMargins(6, 6, 6, 6)
        lv.addLayout(form)
        lv.addLayout(buttons)
        lv.addWidget(self.hotkey_label)
        lv.addWidget(self.state_label)
        lv.addWidget(rows_box, 1)

        # live view, confirmation bar, steps
        self.view = ActionView()
        self.confirm_bar = QFrame()
        self.confirm_bar.setObjectName("confirmBar")
        self.confirm_bar.setFrameShape(QFrame.Shape.StyledPanel)
        self.confirm_text = QLabel("")
        self.confirm_text.setObjectName("confirmText")
        # the approval prompt must not lie: the model's text is never rendered as rich text
        self.confirm_text.setTextFormat(Qt.TextFormat.PlainText)
        self.confirm_text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.confirm_text.setWordWrap(True)
        self.approve_button = QPushButton(icons.icon("approve"), "Approve")
        self.approve_button.setObjectName("approveAction")
        self.approve_button.setShortcut("Ctrl+Y")
        self.approve_button.setToolTip("Execute this action (Ctrl+Y)")
        self.approve_button.clicked.connect(lambda: self.answer_confirmation(True))
        self.reject_button = QPushButton(icons.icon("reject"), "Reject")
        self.reject_button.setObjectName("rejectAction")
        self.reject_button.setShortcut("Ctrl+Shift+Y")
        self.reject_button.setToolTip("Skip this action; the model is told (Ctrl+Shift+Y)")
        self.reject_button.clicked.connect(lambda: self.answer_confirmation(False))
        cb = QHBoxLayout(self.confirm_bar)
        cb.addWidget(self.confirm_text, 1)
        cb.addWidget(self.approve_button)
        cb.addWidget(self.reject_button)
        self.confirm_bar.hide()
        self.steps = QTreeWidget()
        self.steps.setObjectName("agentSteps")
        self.steps.setHeaderLabels(["Step", "Action", "Outcome"])
        self.steps.setWordWrap(True)
        self.steps.header().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.steps.setColumnWidth(0, 60)
        right = QSplitter(Qt.Orientation.Vertical)
        top = QWidget()
        tv = QVBoxLayout(top)
        tv.setContentsMargins(0, 6, 6, 0)
        tv.addWidget(self.view, 1)
        tv.addWidget(self.confirm_bar)

        self.grid = WorkspaceGrid()
        self.grid.hide()  # shown while a run goes on in workspaces
        tv.addWidget(self.grid, 1)
        right.addWidget(top)
        right.addWidget(self.steps)
        right.setSizes([480, 260])
        self.splitter = QSplitter()
        self.splitter.setObjectName("agentSplitter")
        self.splitter.addWidget(left)
        self.splitter.addWidget(right)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([400, 860])
        left.setMaximumWidth(560)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.splitter)
        QTimer.singleShot(0, self.refresh_targets)

    def _show_hotkey(self) -> None:
        key = self.ctx.settings.safety.stop_hotkey.replace("<", "").replace(">", "").replace("+", " + ")
        self.hotkey_label.setText(
            f"Global stop hotkey: <b>{key}</b> — or move the mouse into a screen corner"
        )

    # ---- targets and data -------------------------------------------------------------------
    def refresh_targets(self) -> None:
        self.ctx.tasks.spawn(self._refresh_targets(), name="agent-targets")

    async def _refresh_targets(self) -> None:
        current = self.target.currentData()
        self.target.clear()
        try:
            monitors = await self.ctx.tasks.run_io(capture.list_monitors)
        except Exception as exc:
            monitors = []
            self.target.addItem(icons.icon("monitor"), f"No display ({describe_error(exc)})", ("monitor", 1))
        for m in monitors:
            self.target.addItem(icons.icon("monitor"), m.label(), ("monitor", m.index))
        with contextlib.suppress(Exception):
            for w in await self.ctx.tasks.run_io(capture.list_windows):
                self.target.addItem(icons.icon("window"), f"Window: {w.title[:60]}", ("window", w))
        if current is not None:
            i = self.target.findData(current)
            if i >= 0:
                self.target.setCurrentIndex(i)

    def _pick_data(self) -> None:
        dlg = QFileDialog(self, "Rows for form filling")
        dlg.setNameFilter("Data (*.csv *.json *.jsonl);;All files (*)")
        dlg.fileSelected.connect(self.data_file.setText)
        dlg.open()

    # ---- running -----------------------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        return self._run_task is not None and not self._run_task.done()

    def primary_action(self) -> None:
        if self.busy:
            return
        task = self.task.toPlainText().strip()
        if not task:
            self.state_label.setText("Write a task first")
            return
        data = self.data_file.text().strip() or None
        self._reset_view()
        self._run_task = self.ctx.tasks.spawn(self.run(task, data), name="agent-run")

    async def run(self, task: str, data_file: str | None) -> Any:
        from qwen3vl_agent.ui.agent_runner import AgentRunner, RunRequest

        request = RunRequest(
            task=task,
            target=self.target.currentData() or ("monitor", 1),
            mode=self.safety.currentData(),
            step_limit=self.step_limit.value(),
            data_file=Path(data_file) if data_file else None,
            workspaces=self.workspaces.value(),
            launch=self.launch.text().strip(),
        )
        if request.workspaces and not request.launch:
            self.state_label.setText("Workspaces need an app to launch in them")
            return None
        self._set_running(True)
        self.state_label.setText("Starting…")
        try:
            self.runner = AgentRunner(self.ctx, request)
            result = await self.runner.run()
            return result
        except asyncio.CancelledError:
            self.state_label.setText("Stopped")
            raise
        except Exception as exc:
            self.state_label.setText(f"⚠ {describe_error(exc)}")
            self.ctx.bridge.notice.emit("error", describe_error(exc))
            return None
        finally:
            if self.runner is not None:
                await self.runner.close()
            self.runner = None
            self._set_running(False)
            self.grid.close_workspaces()
            self.grid.hide()
            self.view.show()

    def _set_running(self, running: bool) -> None:
        self.start_button.setEnabled(not running)
        self.pause_button.setEnabled(running)
        self.stop_button.setEnabled(running)
        self.pause_button.setText("Pause")
        for w in (
            self.task,
            self.target,
            self.data_file,
            self.safety,
            self.step_limit,
            self.workspaces,
            self.launch,
        ):
            w.setEnabled(not running)
        if not running:
            self.confirm_bar.hide()

    def toggle_pause(self) -> None:
        if self.runner is None:
            return
        if self.pause_button.text() == "Pause":
            self.runner.pause()
        else:
            self.runner.resume()

    def stop_action(self) -> None:
        if self.runner is not None:
            self.runner.stop()
            self.state_label.setText("Stopping…")

    def answer_confirmation(self, approved: bool) -> None:
        if self.runner is not None:
            self.runner.answer_confirmation(approved)
        self.confirm_bar.hide()

    async def open_report(self) -> Path | None:
        if self.run_id is None:
            return None
        from qwen3vl_agent.ui.agent_runner import write_report

        try:
            path = await self.ctx.tasks.run_io(write_report, self.run_id)
        except Exception as exc:
            self.ctx.bridge.notice.emit("error", describe_error(exc))
            return None
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(path)))
        return path

    # ---- events ------------------------------------------------------------------------------------------
    def _reset_view(self) -> None:
        self.steps.clear()
        self._step_items.clear()
        self.events.clear()
        self.view.set_image(None)
        self.confirm_bar.hide()

    def _step_item(self, step: int) -> QTreeWidgetItem:
        item = self._step_items.get(step)
        if item is None:
            item = QTreeWidgetItem([str(step), "…", ""])
            self.steps.addTopLevelItem(item)
            self._step_items[step] = item
            self.steps.scrollToItem(item)
        return item

    def on_event(self, event: Any) -> None:
        """Turn one core event (agent run, batch row or screenshot) into widget updates."""
        from qwen3vl_agent.ui.agent_runner import ScreenshotTaken
        from qwen3vl_agent.ui.workspace_runs import LaneEvent, WorkspacesStarted

        self.events.append(event)
        if isinstance(event, WorkspacesStarted):
            self.grid.set_workspaces(
                [WorkspaceEntry(name, display, run) for name, display, run in event.entries]
            )
            self.view.hide()
            self.grid.show()
            self.state_label.setText(f"{len(event.entries)} workspace(s) running")
        elif isinstance(event, LaneEvent):
            line = self.grid.show_event(event.lane, event.event)
            if isinstance(event.event, ev.RunPaused) and event.event.reason != "user":
                self.attention_needed.emit(f"{event.lane}: {line}")
        elif isinstance(event, ScreenshotTaken):
            self.view.set_image(QImage.fromData(event.png))
        elif isinstance(event, ev.RunStarted):
            self.run_id = event.run_id
            self.report_button.setEnabled(True)
            self.state_label.setText(f"Run {event.run_id} ({event.mode})")
        elif isinstance(event, ev.StepStarted):
            self._step_item(event.step).setText(1, "looking at the screen…")
            self.state_label.setText(f"Step {event.step}")
            self._thinking = ""
        elif isinstance(event, ev.ModelDelta):
            self._thinking = (getattr(self, "_thinking", "") + event.text)[-400:]
            line = self._thinking.replace("\n", " ").strip()
            self._step_item(event.step).setText(1, "model: " + (line[-90:] if len(line) > 90 else line))
        elif isinstance(event, ev.ActionProposed):
            item = self._step_item(event.step)
            item.setText(1, event.action.describe())
            if event.thought:
                item.setToolTip(1, plain_tooltip(event.thought))
                child = QTreeWidgetItem(["", f"↳ {event.thought}", ""])
                font = child.font(1)
                font.setItalic(True)
                child.setFont(1, font)
                child.setFirstColumnSpanned(False)
                item.addChild(child)
                item.setExpanded(True)
            self.view.set_action(event.action)
        elif isinstance(event, ev.AwaitingConfirmation):
            self.confirm_text.setText(approval_text(event))
            self.confirm_bar.show()
            self.approve_button.setFocus()
            self.attention_needed.emit(f"Approve {visible_text(event.resolved.action.describe())}?")
        elif isinstance(event, ev.ActionExecuted):
            self._step_item(event.step).setText(2, event.outcome)
            self.confirm_bar.hide()
        elif isinstance(event, ev.RunPaused):
            self.pause_button.setText("Resume")
            self.state_label.setText(f"Paused: {event.message or event.reason}")
            if event.reason != "user":
                self.attention_needed.emit(f"Agent paused: {visible_text(event.message or event.reason)}")
        elif isinstance(event, ev.RunResumed):
            self.pause_button.setText("Pause")
            self.state_label.setText("Running")
        elif isinstance(event, ev.RunError):
            self._step_item(event.step).setText(
                2, ("error: " if event.fatal else "feedback: ") + event.message
            )
        elif isinstance(event, ev.RunFinished):
            self.confirm_bar.hide()
            text = f"Finished: {event.status} ({event.outcome}) after {event.steps} steps"
            if event.answer:
                text += f" — answer: {event.answer}"
            elif event.message:
                text += f" — {event.message}"
            self.state_label.setText(text)
        else:
            self._batch_event(event)

    def _batch_event(self, event: Any) -> None:
        name = type(event).__name__
        if name == "RowStarted":
            row = self._row(event.row_index)
            self._set_row(
                row, event.row_index, "running", ", ".join(f"{k}={v}" for k, v in event.values.items())
            )
        elif name == "RowFinished":
            row = self._row(event.row_index)
            self._set_row(row, event.row_index, event.status, event.message)
            done = sum(
                1
                for r in range(self.rows.rowCount())
                if (item := self.rows.item(r, 1)) is not None
                and item.text() in ("done", "failed", "needs-attention")
            )
            self.batch_progress.setValue(done)
            if self._batch_rate is not None:
                self._batch_rate.row_ended()
                pace = self._batch_rate.per_minute()
                self.batch_progress.setFormat(f"%v / %m rows — {pace:.1f} rows/min")
        elif name == "BatchNotice":
            self.ctx.bridge.notice.emit("info", event.message)
        elif name == "BatchPlanned":
            self.rows_hint.hide()
            self.batch_progress.show()
            self.rows.setRowCount(0)
            self._row_items.clear()
            self.batch_progress.setRange(0, event.total)
            self.batch_progress.setValue(event.done)
            self.batch_progress.setFormat("%v / %m rows")
            self._batch_rate = BatchRate()  # this run's pace: rows already done on resume not counted

    def _row(self, index: int) -> int:
        if index not in self._row_items:
            r = self.rows.rowCount()
            self.rows.insertRow(r)
            self._row_items[index] = r
        return self._row_items[index]

    def _set_row(self, r: int, index: int, status: str, message: str) -> None:
        from PySide6.QtGui import QColor

        for c, text in enumerate((str(index + 1), status, message)):
            item = QTableWidgetItem(text)
            if c == 1 and status in ROW_COLORS:
                item.setForeground(QColor(ROW_COLORS[status]))
            self.rows.setItem(r, c, item)

    # ---- lifecycle -----------------------------------------------------------------------------------------------
    def settings_changed(self, settings: Any) -> None:
        self._show_hotkey()

    def save_layout(self, s: QSettings) -> None:
        s.setValue("agent/splitter", self.splitter.saveState())
        s.setValue("agent/safety", self.safety.currentData())
        s.setValue("agent/steps", self.step_limit.value())

    def restore_layout(self, s: QSettings) -> None:
        state = s.value("agent/splitter")
        if state is not None:
            self.splitter.restoreState(state)
        i = self.safety.findData(s.value("agent/safety"))
        if i >= 0:
            self.safety.setCurrentIndex(i)
        with contextlib.suppress(TypeError, ValueError):
            if s.value("agent/steps") is not None:
                self.step_limit.setValue(int(s.value("agent/steps")))

    def retint(self) -> None:
        self.start_button.setIcon(icons.icon("play"))

    async def shutdown(self) -> None:
        """Stop a running agent (modifier keys released by the executor) and wait for it."""
        if self.runner is not None:
            self.runner.stop()
        task = self._run_task
        if task is not None and not task.done():
            with contextlib.suppress(asyncio.TimeoutError, Exception):
                await asyncio.wait_for(asyncio.shield(task), timeout=10)
            if not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)


def approval_text(event: ev.AwaitingConfirmation) -> str:
    """The approve/reject prompt, as PLAIN text: the full plan (every character to be typed and
    every key visible, see executor/plan_text.py) and why the action may be risky."""
    point = event.resolved.point
    lines = [
        f"Step {event.step}: approve {visible_text(event.resolved.action.describe())}"
        + (f" at screen {point}" if point else "")
        + "?"
    ]
    if event.steps:
        lines += ["It will:", *(f"• {step}" for step in event.steps)]
    if event.risks:
        lines += ["Risks:", *(f"⚠ {reason}" for reason in event.risks)]
    return "\n".join(lines)


def plain_tooltip(text: str) -> str:
    """A tooltip that shows `text` as it is (Qt renders tooltips that look like HTML as rich text)."""
    return f"<p style='white-space:pre-wrap'>{html.escape(text)}</p>"
