"""The main window: Chat, Agent and OCR panes as tabs, menus with shortcuts, the status bar,
the settings dialog and a tray icon with "capture and ask".

Closing the window stops running work (the chat stream, the agent run, the OCR job, whose
finished pages are already stored), shuts the managed engine down, then quits: nothing lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Callable

from PySide6.QtCore import QByteArray, QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QMainWindow,
    QMenu,
    QMessageBox,
    QSystemTrayIcon,
    QTabWidget,
)

from qwen3vl_agent.config import Settings
from qwen3vl_agent.paths import app_paths
from qwen3vl_agent.ui import icons, probe, theme
from qwen3vl_agent.ui.agent_pane import AgentPane
from qwen3vl_agent.ui.chat_pane import ChatPane
from qwen3vl_agent.ui.context import AppContext, ensure_database
from qwen3vl_agent.ui.ocr_pane import OcrPane
from qwen3vl_agent.ui.settings_dialog import SettingsDialog
from qwen3vl_agent.ui.status_bar import AppStatusBar

ORG, APP = "qwen3vl-agent", "qwen3vl-agent"


def qsettings() -> QSettings:
    """Window layout and UI choices, kept beside the config file (so QWEN3VL_AGENT_HOME covers it)."""
    path = app_paths().config_dir / "ui-state.ini"
    return QSettings(str(path), QSettings.Format.IniFormat)


class MainWindow(QMainWindow):
    closed = Signal()  # after everything shut down

    def __init__(self, ctx: AppContext) -> None:
        super().__init__()
        self.ctx = ctx
        self.setObjectName("mainWindow")
        self.setWindowTitle("Qwen3-VL Agent")
        self.setWindowIcon(icons.app_icon())
        self.setMinimumSize(900, 600)
        self._closing = False
        self._settings_dialog: SettingsDialog | None = None
        ctx.own_windows.append(self)

        self.tabs = QTabWidget()
        self.tabs.setObjectName("paneTabs")
        self.tabs.setDocumentMode(True)
        self.chat = ChatPane(ctx)
        self.agent = AgentPane(ctx)
        self.ocr = OcrPane(ctx)
        self.tabs.addTab(self.chat, icons.icon("chat"), "Chat")
        self.tabs.addTab(self.agent, icons.icon("agent"), "Agent")
        self.tabs.addTab(self.ocr, icons.icon("ocr"), "OCR")
        self.setCentralWidget(self.tabs)

        self.agent.attention_needed.connect(self._agent_attention)
        self.status = AppStatusBar()
        self.setStatusBar(self.status)
        ctx.bridge.engine_changed.connect(self.status.show_engine)
        ctx.bridge.stats_changed.connect(self.status.show_stats)
        ctx.bridge.gpu_changed.connect(self.status.show_gpu)
        ctx.bridge.notice.connect(self._notice)
        self.status.engine.open_settings.connect(self.open_settings)
        self.status.model.setText(ctx.core.model_name)

        ctx.tasks.spawn(ensure_database(ctx), name="db-migrate")  # first job of the DB thread
        self._build_menus()
        self.tray = self._build_tray()
        self._restore_layout()
        probe.install(self)

    # ---- menus and shortcuts -----------------------------------------------------------
    def _action(
        self,
        text: str,
        slot: Callable[[], object],
        shortcut: QKeySequence | QKeySequence.StandardKey | str | None = None,
        icon: str | None = None,
        tip: str = "",
    ) -> QAction:
        act = QAction(text, self)
        if icon:
            act.setIcon(icons.icon(icon))
        if shortcut:
            act.setShortcut(QKeySequence(shortcut))
            # the main window only: Esc in a dialog or the region overlay keeps its own meaning
            act.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        if tip:
            act.setStatusTip(tip)
        act.triggered.connect(lambda _checked=False: slot())
        return act

    def _build_menus(self) -> None:
        mb = self.menuBar()
        file = mb.addMenu("&File")
        file.addAction(self._action("&New conversation", self._new_conversation, "Ctrl+N", "new"))
        file.addAction(self._action("&Add files to OCR…", self._ocr_add_files, "Ctrl+O", "file"))
        file.addSeparator()
        file.addAction(self._action("&Settings…", self.open_settings, "Ctrl+,", "settings"))
        file.addSeparator()
        file.addAction(self._action("&Quit", self.close, QKeySequence.StandardKey.Quit, "quit"))

        cap = mb.addMenu("&Capture")
        cap.addAction(
            self._action("Whole &desktop", lambda: self._capture("desktop"), "Ctrl+Shift+D", "desktop")
        )
        cap.addAction(
            self._action("Current &monitor", lambda: self._capture("monitor"), "Ctrl+Shift+M", "monitor")
        )
        cap.addAction(self._action("&Region…", lambda: self._capture("region"), "Ctrl+Shift+R", "region"))
        cap.addAction(self._action("&Window…", lambda: self._capture("window"), "Ctrl+Shift+W", "window"))

        view = mb.addMenu("&View")
        for i, (name, key) in enumerate((("&Chat", "Ctrl+1"), ("&Agent", "Ctrl+2"), ("&OCR", "Ctrl+3"))):
            view.addAction(
                self._action(
                    name, functools.partial(self.tabs.setCurrentIndex, i), key, ("chat", "agent", "ocr")[i]
                )
            )
        view.addSeparator()
        theme_menu = view.addMenu("&Theme")
        group = QActionGroup(self)
        current = str(qsettings().value("theme", "system"))
        for choice in theme.THEMES:
            act = QAction(
                choice.capitalize() + (" (follow the system)" if choice == "system" else ""),
                self,
                checkable=True,
            )
            act.setChecked(choice == current)
            act.triggered.connect(lambda _c=False, choice=choice: self.set_theme(choice))
            group.addAction(act)
            theme_menu.addAction(act)

        run = mb.addMenu("&Run")
        run.addAction(self._action("&Send / start", self._primary_action, "Ctrl+Return", "send"))
        run.addAction(
            self._action(
                "S&top", self._stop_current, "Esc", "stop", "Stop generation, the agent run or the OCR job"
            )
        )

        eng = mb.addMenu("&Engine")
        eng.addAction(self._action("&Restart engine", self._restart_engine, None, "resume"))
        eng.addAction(self._action("Open engine &log", self.status.engine._open_log, None, "log"))

        helpm = mb.addMenu("&Help")
        helpm.addAction(
            self._action("&Keyboard shortcuts", self._show_shortcuts, QKeySequence.StandardKey.HelpContents)
        )
        helpm.addAction(self._action("&About", self._about))

    def shortcuts_text(self) -> str:
        lines = []
        for menu in self.menuBar().findChildren(QMenu):
            for act in menu.actions():
                if not act.shortcut().isEmpty():
                    lines.append(
                        f"{act.shortcut().toString(QKeySequence.SequenceFormat.NativeText):>16}   {act.text().replace('&', '')}"
                    )
        lines.append(
            f"{self.ctx.settings.safety.stop_hotkey:>16}   Stop the agent (global, works while it holds the mouse)"
        )
        return "\n".join(lines)

    def _show_shortcuts(self) -> None:
        box = QMessageBox(
            QMessageBox.Icon.Information, "Keyboard shortcuts", self.shortcuts_text(), parent=self
        )
        box.setStyleSheet("QLabel { font-family: monospace; }")
        box.open()

    def _about(self) -> None:
        from qwen3vl_agent import __version__

        box = QMessageBox(
            QMessageBox.Icon.NoIcon,
            "About Qwen3-VL Agent",
            f"Qwen3-VL Agent {__version__}\nChat with screenshots, form-filling agent runs and offline OCR "
            "on a local Qwen3-VL model.",
            parent=self,
        )
        box.setIconPixmap(icons.app_icon().pixmap(64, 64))
        box.open()

    # ---- tray ------------------------------------------------------------------------------
    def _build_tray(self) -> QSystemTrayIcon | None:
        if not QSystemTrayIcon.isSystemTrayAvailable():
            return None
        tray = QSystemTrayIcon(icons.app_icon(), self)
        tray.setToolTip("Qwen3-VL Agent")
        menu = QMenu(self)
        menu.addAction(self._action("Capture and ask…", self.capture_and_ask, None, "region"))
        menu.addAction(self._action("Show window", self._show_raise, None, "window"))
        menu.addSeparator()
        menu.addAction(self._action("Quit", self.close, None, "quit"))
        tray.setContextMenu(menu)
        tray.activated.connect(
            lambda reason: self._show_raise() if reason == QSystemTrayIcon.ActivationReason.Trigger else None
        )
        tray.show()
        return tray

    def _show_raise(self) -> None:
        self.showNormal()
        self.raise_()
        self.activateWindow()

    def capture_and_ask(self) -> None:
        """Tray action: drag a region, then ask about it in the chat pane."""
        self.tabs.setCurrentWidget(self.chat)
        self.ctx.tasks.spawn(self._capture_and_ask(), name="capture-and-ask")

    async def _capture_and_ask(self) -> None:
        await self.chat.attach_capture("region")
        self._show_raise()
        self.chat.focus_input()

    # ---- actions ---------------------------------------------------------------------------
    def _new_conversation(self) -> None:
        self.tabs.setCurrentWidget(self.chat)
        self.chat.new_conversation()

    def _ocr_add_files(self) -> None:
        self.tabs.setCurrentWidget(self.ocr)
        self.ocr.add_files_dialog()

    def _capture(self, kind: str) -> None:
        pane = self.tabs.currentWidget()
        if pane is self.ocr and kind == "region":
            self.ctx.tasks.spawn(self.ocr.capture_region(), name="ocr-capture")
            return
        self.tabs.setCurrentWidget(self.chat)
        self.ctx.tasks.spawn(self.chat.attach_capture(kind), name=f"capture-{kind}")

    def _primary_action(self) -> None:
        pane = self.tabs.currentWidget()
        if hasattr(pane, "primary_action"):
            pane.primary_action()

    def _stop_current(self) -> None:
        pane = self.tabs.currentWidget()
        if hasattr(pane, "stop_action"):
            pane.stop_action()

    def _restart_engine(self) -> None:
        self.ctx.tasks.spawn(self.ctx.core.restart_engine(self.ctx.settings), name="engine-restart")

    def set_theme(self, choice: str) -> None:
        qsettings().setValue("theme", choice)
        app = QApplication.instance()
        if isinstance(app, QApplication):
            theme.apply_theme(app, choice)
            self._retint()

    def _retint(self) -> None:
        for i, name in enumerate(("chat", "agent", "ocr")):
            self.tabs.setTabIcon(i, icons.icon(name))
        for pane in (self.chat, self.agent, self.ocr):
            if hasattr(pane, "retint"):
                pane.retint()

    def open_settings(self) -> None:
        if self._settings_dialog is not None and self._settings_dialog.isVisible():
            self._settings_dialog.raise_()
            return
        dlg = SettingsDialog(self.ctx.settings, self)
        dlg.saved.connect(self._settings_saved)
        self._settings_dialog = dlg
        dlg.open()  # window-modal without a nested event loop (safe under qasync)

    def _settings_saved(self, new: Settings) -> None:
        old = self.ctx.settings
        self.ctx.settings = new
        self.ctx.core.settings = new
        for pane in (self.chat, self.agent, self.ocr):
            if hasattr(pane, "settings_changed"):
                pane.settings_changed(new)
        self.statusBar().showMessage("Settings saved", 4000)
        if new.engine != old.engine or new.queue != old.queue or new.cache != old.cache:
            self._restart_engine()

    def _agent_attention(self, text: str) -> None:
        """The agent waits for the user: bring its pane (and the window) forward."""
        self.tabs.setCurrentWidget(self.agent)
        if not self.isVisible() or self.isMinimized():
            self._show_raise()
        if self.tray is not None and not self.isActiveWindow():
            self.tray.showMessage("Qwen3-VL Agent", text, QSystemTrayIcon.MessageIcon.Information)

    def _notice(self, level: str, text: str) -> None:
        self.statusBar().showMessage(text, 8000 if level != "error" else 15000)
        if level == "error" and self.tray is not None and not self.isVisible():
            self.tray.showMessage("Qwen3-VL Agent", text, QSystemTrayIcon.MessageIcon.Warning)

    # ---- layout memory ---------------------------------------------------------------------
    def _restore_layout(self) -> None:
        s = qsettings()
        geometry = s.value("window/geometry")
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            self.restoreGeometry(geometry)
        else:
            self.resize(1280, 820)
        state = s.value("window/state")
        if isinstance(state, QByteArray) and not state.isEmpty():
            self.restoreState(state)
        with contextlib.suppress(TypeError, ValueError):
            self.tabs.setCurrentIndex(int(str(s.value("window/tab", 0))))
        for pane in (self.chat, self.agent, self.ocr):
            if hasattr(pane, "restore_layout"):
                pane.restore_layout(s)

    def save_layout(self) -> None:
        s = qsettings()
        s.setValue("window/geometry", self.saveGeometry())
        s.setValue("window/state", self.saveState())
        s.setValue("window/tab", self.tabs.currentIndex())
        for pane in (self.chat, self.agent, self.ocr):
            if hasattr(pane, "save_layout"):
                pane.save_layout(s)
        s.sync()

    # ---- closing ---------------------------------------------------------------------------
    def closeEvent(self, event: QCloseEvent) -> None:
        if self._closing:
            event.accept()
            return
        event.ignore()
        self._closing = True
        self.save_layout()
        self.statusBar().showMessage("Stopping running work and the engine…")
        self.setEnabled(False)
        self._shutdown_task = asyncio.ensure_future(self._shutdown())

    async def _shutdown(self) -> None:
        try:
            await self.shutdown_work()
        finally:
            if self.tray is not None:
                self.tray.hide()
            self.closed.emit()
            QTimer.singleShot(0, self._really_close)

    def _really_close(self) -> None:
        self.close()
        app = QApplication.instance()
        if app is not None:
            app.quit()

    async def shutdown_work(self) -> None:
        """Stop panes' work, then the engine; bounded so quitting never hangs."""
        for pane in (self.chat, self.agent, self.ocr):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(pane.shutdown(), timeout=15)
        await self.ctx.tasks.cancel_all(timeout=10)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.ctx.core.close(), timeout=40)
        self.ctx.bridge.stop()
        from qwen3vl_agent.ui.capture import close_capturer

        close_capturer(self.ctx)
