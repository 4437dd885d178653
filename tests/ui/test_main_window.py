"""The main window on the real core with no GPU and no vLLM: it opens, says why the engine is
unavailable and what to do, and its settings dialog, themes, shortcuts and layout memory work."""

from __future__ import annotations

import tomllib
from typing import Any

import pytest
from PySide6.QtWidgets import QApplication, QLabel, QPushButton

from qwen3vl_agent.config import Settings, load_settings
from qwen3vl_agent.paths import app_paths


def no_vllm_settings() -> Settings:
    return Settings.model_validate({"engine": {"vllm_executable": "/nonexistent/vllm"}})


def test_the_status_bar_fits_the_default_window_with_a_long_engine_message(
    make_window: Any, qloop: Any
) -> None:
    window = make_window(no_vllm_settings())
    qloop.wait_until(
        lambda: window.status.engine.view and window.status.engine.view.state == "failed",
        30,
        "engine failure",
    )
    window.resize(1280, 820)  # the default size on a first start
    qloop.wait_until(lambda: window.width() == 1280, 5, "the resize")
    QApplication.processEvents()
    bar = window.statusBar()
    assert bar.minimumSizeHint().width() <= window.width()
    for label in (window.status.model, window.status.queue, window.status.cache):
        right = label.mapTo(bar, label.rect().topRight()).x()
        assert label.isVisible() and right <= bar.width(), label.objectName()
    assert "Settings" in window.status.engine.label.text()  # the whole message, elided only on screen


def test_start_without_gpu_or_vllm_says_why_and_what_to_do(make_window: Any, qloop: Any) -> None:
    window = make_window(no_vllm_settings())
    assert [window.tabs.tabText(i) for i in range(3)] == ["Chat", "Agent", "OCR"]
    qloop.wait_until(
        lambda: window.status.engine.view and window.status.engine.view.state == "failed",
        30,
        "engine failure",
    )
    text = window.status.engine.label.text()
    assert "vLLM" in text and "not" in text  # why
    assert "Settings" in text and "CPU" in text  # what to do
    assert window.status.engine.settings_button.isVisible()
    assert window.status.engine.log_button.isVisible()
    # the window stays usable: chat answers with a clear error instead of hanging
    window.chat.input.setPlainText("hello?")
    window.chat.primary_action()
    qloop.wait_until(lambda: not window.chat.busy and window.chat.history, 30, "chat reply")
    answer = window.chat.history[-1]
    assert answer.role == "assistant" and answer.status == "error"
    assert "No model engine" in answer.text


def test_settings_dialog_saves_valid_settings_and_refuses_bad_input(make_window: Any, qloop: Any) -> None:
    window = make_window(no_vllm_settings(), start_engine=False)
    window.open_settings()
    dlg = window._settings_dialog
    assert dlg is not None and dlg.isVisible()
    dlg.masked_rects.setPlainText("10, 20, 300")  # three numbers: refused, nothing saved
    dlg._save()
    assert "privacy mask line 1" in dlg.error.text()
    assert not app_paths().config_file.exists()

    dlg.masked_rects.setPlainText("10, 20, 300, 40")
    dlg.model.setText("Qwen/Qwen3-VL-8B-Instruct")
    dlg.chat_budget.setValue(640)
    dlg.safety_mode.setCurrentText("dry-run")
    dlg.stop_hotkey.setText("<ctrl>+<shift>+<f12>")
    dlg._save()
    assert not dlg.isVisible()
    saved = tomllib.loads(app_paths().config_file.read_text())
    assert saved["engine"]["model"] == "Qwen/Qwen3-VL-8B-Instruct"
    reloaded = load_settings()
    assert reloaded.images.chat_budget_tokens == 640
    assert reloaded.safety.mode == "dry-run"
    assert [(r.left, r.top, r.width, r.height) for r in reloaded.privacy.masked_rects] == [(10, 20, 300, 40)]
    assert window.ctx.settings.safety.stop_hotkey == "<ctrl>+<shift>+<f12>"
    assert "ctrl + shift + f12" in window.agent.hotkey_label.text()
    # a new model restarts the engine; wait for that to settle, so no half-built runtime is left
    # for pytest-qt's teardown to step outside the running loop
    qloop.wait_until(
        lambda: window.status.engine.view and window.status.engine.view.state == "failed",
        30,
        "the engine restart after the model changed",
    )


def test_shortcuts_themes_and_layout_memory(make_window: Any, qloop: Any) -> None:
    window = make_window(no_vllm_settings(), start_engine=False)
    shortcuts = window.shortcuts_text()
    for key in ("Ctrl+N", "Ctrl+Shift+R", "Ctrl+1", "Ctrl+3", "Ctrl+Return", "Esc", "<ctrl>+<alt>+<esc>"):
        assert key in shortcuts, key
    app = QApplication.instance()
    window.set_theme("dark")
    assert app.palette().window().color().lightness() < 100
    window.set_theme("light")
    assert app.palette().window().color().lightness() > 200

    window.tabs.setCurrentIndex(2)
    window.chat.splitter.setSizes([333, 700])
    window.ocr.engine.setCurrentIndex(1)
    window.save_layout()
    again = make_window(no_vllm_settings(), start_engine=False)
    assert again.tabs.currentIndex() == 2
    from qwen3vl_agent.ui.main_window import qsettings

    assert qsettings().value("chat/splitter") == window.chat.splitter.saveState()  # the state, saved
    assert (app_paths().config_dir / "ui-state.ini").exists()  # beside the config, not in ~/.config
    assert again.ocr.engine.currentData() == "cpu"


def test_every_pane_has_its_main_controls(make_window: Any) -> None:
    window = make_window(no_vllm_settings(), start_engine=False)
    names = {w.objectName() for w in window.findChildren(QPushButton)} | {
        w.objectName() for w in window.findChildren(QLabel)
    }
    for name in (
        "sendButton",
        "stopGeneration",
        "copyAnswer",
        "agentStart",
        "agentStop",
        "agentPause",
        "approveAction",
        "rejectAction",
        "ocrStart",
        "ocrStop",
        "ocrResume",
        "export_txt",
        "export_pdf",
        "engineState",
        "queueStats",
        "cacheStats",
        "stopHotkey",
    ):
        assert name in names, name


def test_no_display_gives_a_clear_message_not_a_crash(app_home: Any) -> None:
    import os
    import subprocess
    from pathlib import Path

    app = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "qwen3vl-agent"
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    result = subprocess.run([str(app)], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "No graphical display" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.engine
@pytest.mark.slow
def test_managed_engine_starts_with_progress_and_stops_with_the_window(
    make_window: Any, qloop: Any, tiny_model_dir: Any
) -> None:
    """The app's own managed engine (vLLM CPU build, tiny model): the status bar shows it
    starting, then ready; shutting the window down leaves no engine process behind."""
    import os

    from tests.support.engine_fixtures import tiny_engine_settings

    settings = Settings.model_validate({"engine": tiny_engine_settings(tiny_model_dir).model_dump()})
    window = make_window(settings)
    views: list[Any] = []
    window.ctx.bridge.engine_changed.connect(views.append)
    qloop.wait_until(
        lambda: window.ctx.core.engine_ready.is_set() or window.ctx.core.engine_error,
        480,
        "the managed engine",
    )
    assert window.ctx.core.engine_error is None
    starting = [v for v in views if v.state == "starting"]
    assert starting and any(v.elapsed_s > 0 for v in starting)  # progress while vLLM loads
    assert window.status.engine.view.state == "ready" and not window.status.engine.progress.isVisible()
    assert window.status.model.text() == "tiny-qwen3vl"
    assert window.status.engine.log_button.isVisible()
    engine = window.ctx.core.engine
    pid = engine.server_pid
    assert pid is not None
    qloop.run(window.shutdown_work(), timeout=120)
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
