"""`run_app()`: the desktop app — QApplication, a qasync event loop so the asyncio core runs on
Qt's loop, the main window shown at once, and the engine started in the background.

Start-up never waits for the engine: the window is interactive in well under two seconds and
the status bar shows the engine starting (or why it cannot, and what to do).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import time
from pathlib import Path

from qwen3vl_agent.config import Settings, load_settings
from qwen3vl_agent.errors import ConfigError, UserFacingError
from qwen3vl_agent.file_modes import make_process_private, open_private
from qwen3vl_agent.paths import app_paths

log = logging.getLogger(__name__)
_T0 = time.perf_counter()


def _setup_logging() -> Path:
    from qwen3vl_agent.log_names import instance_log_name

    log_dir = app_paths().ensure().log_dir
    path = log_dir / instance_log_name(log_dir, "app")  # a second window at once: app-2.log
    os.close(open_private(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND))  # typed text lands here
    logging.basicConfig(
        filename=str(path),
        level=logging.DEBUG if os.environ.get("QWEN3VL_AGENT_DEBUG") else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    return path


def build_context(settings: Settings) -> object:
    """The shared AppContext (bridge, tasks, core session, stores); call with a running QApplication."""
    from qwen3vl_agent.ui.bridge import CoreBridge
    from qwen3vl_agent.ui.context import AppContext, LazyConversationStore
    from qwen3vl_agent.ui.core_session import CoreSession
    from qwen3vl_agent.ui.tasks import TaskTracker

    bridge = CoreBridge()
    tasks = TaskTracker(on_error=lambda text: bridge.notice.emit("error", text))
    core = CoreSession(settings, bridge, tasks)
    return AppContext(
        settings=settings,
        bridge=bridge,
        tasks=tasks,
        core=core,
        conversations=LazyConversationStore(app_paths().database_file),
    )


PRELOAD = (
    "qwen3vl_agent.agents.ocr_job",
    "qwen3vl_agent.ocr.exports",
    "qwen3vl_agent.agents.loop",
    "qwen3vl_agent.agents.wiring",
    "qwen3vl_agent.agents.form_fill",
    "qwen3vl_agent.agents.report",
    "qwen3vl_agent.imaging.prep",
    "qwen3vl_agent.screen.capture",
    "qwen3vl_agent.executor.executor",
    "qwen3vl_agent.executor.backend",
    "pyautogui",
)


def preload_modules() -> None:
    """Import what the panes need later on a background thread, so a first OCR job or agent run
    does not stall the Qt thread for the length of an import (~0.1-0.3 s each)."""
    import importlib
    import threading

    def work() -> None:
        for name in PRELOAD:
            try:
                importlib.import_module(name)
            except Exception:  # a missing optional part shows up when it is used, not here
                log.debug("preload of %s failed", name, exc_info=True)

    threading.Thread(target=work, name="preload", daemon=True).start()


def start_retention(keep_days: float | None) -> None:
    """Delete agent runs older than the retention setting, on a background thread."""
    import threading

    def work() -> None:
        from qwen3vl_agent.agents.retention import prune_app_runs

        try:
            prune_app_runs(keep_days)
        except Exception:  # never in the user's way; the next start tries again
            log.warning("retention pass failed", exc_info=True)

    threading.Thread(target=work, name="retention", daemon=True).start()


def check_display() -> None:
    """Fail with a clear message instead of Qt's abort when there is no screen to open a window on."""
    if not sys.platform.startswith("linux") or os.environ.get("QT_QPA_PLATFORM"):
        return
    from qwen3vl_agent.screen.session import current_session

    if current_session().kind == "none":
        raise UserFacingError(
            "No graphical display to open the window on (DISPLAY and WAYLAND_DISPLAY are not set)",
            "start it from a desktop session, or use the command-line tools: qwen3vl-agent --help",
        )


def run_app(argv: list[str] | None = None, *, start_engine: bool = True) -> int:
    """Run the desktop app until its window is closed; return the exit code."""
    check_display()
    make_process_private()  # before the first write: everything the app keeps is owner-only
    app_paths().secure()
    _setup_logging()
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QMessageBox

    from qwen3vl_agent.ui import theme
    from qwen3vl_agent.ui.main_window import APP, ORG, MainWindow, qsettings
    from qwen3vl_agent.ui.qt_loop import QtLoop

    app = QApplication.instance() or QApplication(argv if argv is not None else sys.argv)
    assert isinstance(app, QApplication)
    app.setOrganizationName(ORG)
    app.setApplicationName(APP)
    app.setApplicationDisplayName("Qwen3-VL Agent")
    app.setDesktopFileName("qwen3vl-agent")
    app.setQuitOnLastWindowClosed(False)  # the main window decides when to quit (after clean-up)

    config_problem: str | None = None
    try:
        settings = load_settings()
    except ConfigError as exc:
        config_problem = str(exc)
        settings = Settings.model_validate({})  # defaults; the broken file is left untouched

    theme.apply_theme(app, str(qsettings().value("theme", "system")))
    from qwen3vl_agent.ui import icons

    app.setWindowIcon(icons.app_icon())

    qt_loop = QtLoop(app)  # qasync, with asyncio's async-generator hooks and plain threads
    loop = qt_loop.loop
    ctx = build_context(settings)
    window = MainWindow(ctx)  # type: ignore[arg-type]
    hints = app.styleHints()
    if hasattr(hints, "colorSchemeChanged"):
        hints.colorSchemeChanged.connect(
            lambda _scheme: (
                window.set_theme("system") if qsettings().value("theme", "system") == "system" else None
            )
        )
    window.show()
    log.info("window shown after %.3f s", time.perf_counter() - _T0)
    if os.environ.get("QWEN3VL_AGENT_STARTUP_MARK"):  # benchmarks: when the window is interactive
        QTimer.singleShot(0, lambda: print(f"READY {time.perf_counter() - _T0:.4f}", flush=True))
    if config_problem:
        box = QMessageBox(
            QMessageBox.Icon.Warning,
            "Settings not loaded",
            config_problem + "\n\nUsing defaults.",
            parent=window,
        )
        box.open()
    QTimer.singleShot(200, preload_modules)
    if settings.privacy.keep_runs_days is not None:
        QTimer.singleShot(300, lambda: start_retention(settings.privacy.keep_runs_days))
    if start_engine and not os.environ.get("QWEN3VL_AGENT_NO_ENGINE"):
        QTimer.singleShot(0, ctx.core.start)  # type: ignore[attr-defined]

    # Ctrl+C in the terminal closes the window cleanly (engine shut down) instead of killing it
    signal.signal(signal.SIGINT, lambda *_: QTimer.singleShot(0, window.close))
    signal.signal(signal.SIGTERM, lambda *_: QTimer.singleShot(0, window.close))
    wake = QTimer()
    wake.start(250)  # lets Python run signal handlers while Qt waits
    wake.timeout.connect(lambda: None)

    closed = asyncio.Event()
    window.closed.connect(closed.set)
    try:
        loop.run_until_complete(closed.wait())
        ctx.tasks.shutdown_executors()  # type: ignore[attr-defined]
        ctx.conversations.close()  # type: ignore[attr-defined]
    finally:
        qt_loop.close(wait_for_threads=False)
    return 0
