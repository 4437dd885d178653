"""The settings dialog on real config files (a private QWEN3VL_AGENT_HOME per test): each page's
edits reach the TOML file and the reloaded settings; invalid input is refused inline, on its
page, and nothing is written; API keys are saved but kept out of reprs and logs."""

from __future__ import annotations

import logging
import stat
import tomllib
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from PySide6.QtWidgets import QLabel, QLineEdit

from qwen3vl_agent.config import Settings, load_settings, save_settings
from qwen3vl_agent.paths import app_paths
from qwen3vl_agent.ui.settings_dialog import SettingsDialog, SettingsInvalid
from qwen3vl_agent.ui.settings_pages.common import SettingsPage

SECRET = "sk-test-5b2e9c1f0d7a4e36"


@pytest.fixture
def open_dialog(qloop: Any, qtbot: Any) -> Iterator[Callable[..., SettingsDialog]]:
    """`open_dialog()` -> the dialog over the settings loaded from the (test's) config file."""
    opened: list[SettingsDialog] = []

    def make(settings: Settings | None = None) -> SettingsDialog:
        dlg = SettingsDialog(settings or load_settings())
        qtbot.addWidget(dlg)
        dlg.open()
        opened.append(dlg)
        return dlg

    yield make
    for dlg in opened:
        dlg.done(0)  # cancels a connection test still running


def saved_toml() -> dict[str, Any]:
    return tomllib.loads(app_paths().config_file.read_text(encoding="utf-8"))


def visible_field_errors(page: SettingsPage) -> list[str]:
    return [w.text() for w in page.findChildren(QLabel, "fieldError") if w.text() and not w.isHidden()]


def test_endpoints_are_added_edited_removed_and_saved_with_their_key(
    open_dialog: Callable[..., SettingsDialog], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    dlg = open_dialog()
    page = dlg.endpoints_page
    assert page.list.count() == 0 and not page.url.isEnabled()
    page.add_endpoint()
    page.url.setText("http://gpu-box:8000/v1")
    page.url.textEdited.emit(page.url.text())
    page.model_name.setText("Qwen/Qwen3-VL-8B-Instruct")
    page.model_name.textEdited.emit(page.model_name.text())
    page.api_key.setText(SECRET)
    page.api_key.textEdited.emit(SECRET)
    # the key is a password field until the user asks to see it
    assert page.api_key.echoMode() == QLineEdit.EchoMode.Password
    page.show_key.click()
    assert page.api_key.echoMode() == QLineEdit.EchoMode.Normal
    page.show_key.click()
    assert page.api_key.echoMode() == QLineEdit.EchoMode.Password
    assert page.list.item(0).text() == "http://gpu-box:8000/v1"
    # a second endpoint, then removed again
    page.add_endpoint()
    page.url.setText("http://other:9000")
    page.url.textEdited.emit(page.url.text())
    assert page.list.count() == 2
    page.remove_endpoint()
    assert page.list.count() == 1 and page.url.text() == "http://gpu-box:8000/v1"
    dlg.engine_page.mode.setCurrentText("endpoints")
    dlg._save()
    assert not dlg.isVisible(), dlg.error.text()

    data = saved_toml()
    assert data["engine"]["mode"] == "endpoints"
    assert data["engine"]["endpoints"] == [
        {"url": "http://gpu-box:8000/v1", "api_key": SECRET, "model": "Qwen/Qwen3-VL-8B-Instruct"}
    ]
    assert stat.S_IMODE(app_paths().config_file.stat().st_mode) == 0o600  # it holds a key
    reloaded = load_settings()
    assert reloaded.engine.endpoints[0].api_key == SECRET
    assert SECRET not in repr(reloaded) and SECRET not in str(reloaded.engine.endpoints[0])
    assert SECRET not in caplog.text

    # opened again, the dialog shows the saved endpoint (key hidden) and keeps it when saving
    again = open_dialog()
    assert again.endpoints_page.api_key.text() == SECRET
    assert again.endpoints_page.api_key.echoMode() == QLineEdit.EchoMode.Password
    again._save()
    assert load_settings().engine.endpoints[0].api_key == SECRET


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("gpu-box:8000/v1", "must start with http:// or https://"),
        ("", "the URL is empty"),
        ("http://", "no host name"),
    ],
)
def test_a_bad_endpoint_url_is_refused_inline_and_nothing_is_written(
    open_dialog: Callable[..., SettingsDialog], url: str, expected: str
) -> None:
    dlg = open_dialog()
    page = dlg.endpoints_page
    page.add_endpoint()
    page.url.setText(url)
    page.url.textEdited.emit(url)
    dlg._save()
    assert dlg.isVisible()
    assert expected in dlg.error.text() and dlg.error.text().startswith("Not saved")
    assert any(expected in e for e in visible_field_errors(page))
    assert dlg.tabs.currentWidget().widget() is page  # the page with the problem is shown
    assert not app_paths().config_file.exists()


def test_the_bad_one_of_several_endpoints_is_shown(open_dialog: Callable[..., SettingsDialog]) -> None:
    save_settings(Settings.model_validate({"engine": {"endpoints": [{"url": "http://a:8000/v1"}]}}))
    dlg = open_dialog()
    page = dlg.endpoints_page
    page.add_endpoint()
    page.url.setText("b:8000")
    page.url.textEdited.emit("b:8000")
    page.list.setCurrentRow(0)
    dlg._save()
    assert "URL: endpoint 2: 'b:8000' must start with http://" in dlg.error.text()
    assert page.list.currentRow() == 1 and page.url.text() == "b:8000"
    assert load_settings().engine.endpoints[0].url == "http://a:8000/v1"  # the file is as it was


def test_endpoint_mode_without_endpoints_is_refused(open_dialog: Callable[..., SettingsDialog]) -> None:
    dlg = open_dialog()
    dlg.engine_page.mode.setCurrentText("endpoints")
    with pytest.raises(SettingsInvalid, match="at least one endpoint"):
        dlg.collect()
    dlg._save()
    assert "at least one endpoint" in dlg.endpoints_page.error.text()
    assert not app_paths().config_file.exists()


def test_executor_page_edits_mode_pause_hotkey_and_input_grain(
    open_dialog: Callable[..., SettingsDialog],
) -> None:
    dlg = open_dialog()
    page = dlg.executor_page
    assert [page.mode.itemText(i) for i in range(page.mode.count())] == [
        "dry-run",
        "confirm",
        "confirm-risky",
        "auto",
    ]
    page.mode.setCurrentText("confirm-risky")
    page.pause.setValue(0.15)
    page.stop_hotkey.setText("<ctrl>+<shift>+<f12>")
    page.hotkey_enabled.setChecked(False)
    page.drag_steps.setValue(20)
    page.paste_timeout.setValue(4.5)
    dlg._save()
    assert not dlg.isVisible(), dlg.error.text()

    data = saved_toml()
    assert data["safety"]["mode"] == "confirm" and data["safety"]["confirm_only_risky"] is True
    assert data["safety"]["pyautogui_pause_s"] == pytest.approx(0.15)
    assert data["safety"]["stop_hotkey"] == "<ctrl>+<shift>+<f12>"
    assert data["executor"]["stop_hotkey_enabled"] is False
    s = load_settings()
    assert (s.executor.drag_steps, s.executor.paste_timeout_s) == (20, 4.5)
    assert open_dialog().executor_page.mode.currentText() == "confirm-risky"  # read back as chosen

    again = open_dialog()
    again.executor_page.mode.setCurrentText("auto")
    again._save()
    s = load_settings()
    assert (s.safety.mode, s.safety.confirm_only_risky) == ("auto", False)


@pytest.mark.parametrize(
    ("hotkey", "expected"),
    [
        ("<ctrl>+<alt>+<bogus>", "'<bogus>' is not a key name"),
        ("ctrl+alt+esc", "neither one character nor a <key> name"),
        ("<ctrl>+", "ends with '+'"),
        ("<ctrl>+a+a", "appears twice"),
        ("", "it is empty"),
    ],
)
def test_an_invalid_stop_hotkey_gets_a_message_not_an_exception(
    open_dialog: Callable[..., SettingsDialog], hotkey: str, expected: str
) -> None:
    dlg = open_dialog()
    dlg.executor_page.stop_hotkey.setText(hotkey)
    dlg._save()
    assert dlg.isVisible()
    assert "Executor: Stop hotkey:" in dlg.error.text() and expected in dlg.error.text()
    assert any(expected in e for e in visible_field_errors(dlg.executor_page))
    assert dlg.tabs.currentWidget().widget() is dlg.executor_page
    bar = dlg.tabs.tabBar()
    red = [bar.tabText(i) for i in range(bar.count()) if bar.tabTextColor(i).name() == "#d64545"]
    assert red == ["Executor"]  # the tab with the problem is marked
    assert not app_paths().config_file.exists()
    # fixed, it saves and the inline message goes away
    dlg.executor_page.stop_hotkey.setText("<ctrl>+<alt>+<esc>")
    dlg._save()
    assert not dlg.isVisible()
    assert not visible_field_errors(dlg.executor_page)


def test_agent_page_edits_the_limits_and_prompt_bounds(open_dialog: Callable[..., SettingsDialog]) -> None:
    dlg = open_dialog()
    page = dlg.agent_page
    page.step_limit.setValue(75)
    page.wall_clock.setValue(1200)
    page.no_progress.setValue(5)
    page.history_images.setValue(2)
    page.history_text.setValue(10)
    page.max_tokens.setValue(1024)
    page.engine_wait.setText("90")
    page.structured.setChecked(True)
    dlg._save()
    assert not dlg.isVisible(), dlg.error.text()
    data = saved_toml()
    assert data["safety"]["step_limit"] == 75 and data["safety"]["wall_clock_limit_s"] == 1200
    assert data["agent"]["engine_wait_limit_s"] == 90
    s = load_settings()
    assert (s.safety.no_progress_repeats, s.agent.history_images, s.agent.history_text_steps) == (5, 2, 10)
    assert (s.agent.max_tokens, s.agent.structured_output) == (1024, True)

    # emptied, the wait limit is unset again (wait until stopped)
    again = open_dialog()
    assert again.agent_page.engine_wait.text() == "90"
    again.agent_page.engine_wait.setText("")
    again._save()
    assert load_settings().agent.engine_wait_limit_s is None
    assert "engine_wait_limit_s" not in saved_toml()["agent"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [("-5", "greater than 0"), ("soon", "is not a number")],
)
def test_the_config_models_refuse_a_bad_agent_value(
    open_dialog: Callable[..., SettingsDialog], text: str, expected: str
) -> None:
    dlg = open_dialog()
    dlg.agent_page.step_limit.setValue(42)
    dlg.agent_page.engine_wait.setText(text)
    dlg._save()
    assert dlg.isVisible()
    assert "Agent: Engine wait limit (s):" in dlg.error.text() and expected in dlg.error.text()
    assert any(expected in e for e in visible_field_errors(dlg.agent_page))
    assert not app_paths().config_file.exists()


def test_screen_page_edits_coordinates_hidpi_and_privacy(open_dialog: Callable[..., SettingsDialog]) -> None:
    dlg = open_dialog()
    page = dlg.screen_page
    page.coordinate_scale.setValue(999)
    page.out_of_range.setCurrentText("reject")
    page.input_scale.setText("2")
    page.masked_rects.setPlainText("0, 0, 200, 100\n\n10 20 30 40")
    page.masked_titles.setPlainText("Password Manager\n  \nBank")
    page.exclude_own.setChecked(False)
    dlg._save()
    assert not dlg.isVisible(), dlg.error.text()
    data = saved_toml()
    assert data["screen"]["input_scale"] == 2.0 and data["screen"]["coordinate_scale"] == 999
    s = load_settings()
    assert s.screen.out_of_range == "reject"
    assert [(r.left, r.top, r.width, r.height) for r in s.privacy.masked_rects] == [
        (0, 0, 200, 100),
        (10, 20, 30, 40),
    ]
    assert s.privacy.masked_window_titles == ["Password Manager", "Bank"]
    assert s.privacy.exclude_own_windows is False

    again = open_dialog()
    again.screen_page.input_scale.setText("")  # back to detection
    again._save()
    assert load_settings().screen.input_scale is None


@pytest.mark.parametrize(
    ("field", "text", "expected"),
    [
        ("input_scale", "0", "HiDPI scale override: Input should be greater than 0"),
        ("masked_rects", "1, 2, x, 4", "privacy mask line 1: expected four whole numbers"),
        ("masked_rects", "1, 2, 0, 4", "width and height must be positive"),
    ],
)
def test_bad_screen_values_are_refused(
    open_dialog: Callable[..., SettingsDialog], field: str, text: str, expected: str
) -> None:
    save_settings(Settings.model_validate({"screen": {"input_scale": 1.5}}))
    before = app_paths().config_file.read_bytes()
    dlg = open_dialog()
    widget = getattr(dlg.screen_page, field)
    widget.setText(text) if isinstance(widget, QLineEdit) else widget.setPlainText(text)
    dlg._save()
    assert dlg.isVisible() and expected in dlg.error.text()
    assert app_paths().config_file.read_bytes() == before  # the file is untouched


def test_budgets_page_and_engine_page_still_save(open_dialog: Callable[..., SettingsDialog]) -> None:
    dlg = open_dialog()
    dlg.engine_page.model.setText("")
    dlg._save()
    assert "Engine: Model: the model name is empty" in dlg.error.text()
    dlg.engine_page.model.setText("Qwen/Qwen3-VL-2B-Instruct")
    dlg.engine_page.max_retries.setValue(5)
    dlg.budgets_page.jpeg_quality.setValue(75)
    dlg.budgets_page.max_in_flight.setValue(8)
    dlg._save()
    assert not dlg.isVisible()
    s = load_settings()
    assert (s.engine.model, s.engine.max_retries) == ("Qwen/Qwen3-VL-2B-Instruct", 5)
    assert (s.images.jpeg_quality, s.queue.max_in_flight) == (75, 8)


def test_engine_page_edits_the_managed_server(
    open_dialog: Callable[..., SettingsDialog], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    dlg = open_dialog()
    page = dlg.engine_page
    page.port.setValue(8123)
    page.max_num_seqs.setText("64")
    page.extra_args.setText("--enforce-eager --chat-template '/opt/my template.jinja'")
    page.engine_env.setPlainText("CUDA_VISIBLE_DEVICES=1\nVLLM_LOGGING_LEVEL = DEBUG")
    page.server_key.edit.setText(SECRET)
    assert page.server_key.edit.echoMode() == QLineEdit.EchoMode.Password
    page.restart_on_crash.setChecked(False)
    dlg._save()
    assert not dlg.isVisible(), dlg.error.text()
    e = load_settings().engine
    assert (e.port, e.max_num_seqs, e.restart_on_crash, e.api_key) == (8123, 64, False, SECRET)
    assert e.extra_args == ["--enforce-eager", "--chat-template", "/opt/my template.jinja"]
    assert e.env == {"CUDA_VISIBLE_DEVICES": "1", "VLLM_LOGGING_LEVEL": "DEBUG"}
    assert SECRET not in repr(e) and SECRET not in caplog.text
    again = open_dialog().engine_page  # shown back as saved
    assert again.extra_args.text() == "--enforce-eager --chat-template '/opt/my template.jinja'"
    assert again.max_num_seqs.text() == "64"


@pytest.mark.parametrize(
    ("field", "text", "expected"),
    [
        ("extra_args", "--chat-template 'unclosed", "Extra arguments: cannot split the arguments"),
        ("engine_env", "CUDA_VISIBLE_DEVICES", "Environment: line 1: expected NAME=value"),
        ("max_num_seqs", "2.5", "Max sequences: 2.5 is not a positive whole number"),
    ],
)
def test_bad_engine_values_are_refused(
    open_dialog: Callable[..., SettingsDialog], field: str, text: str, expected: str
) -> None:
    dlg = open_dialog()
    widget = getattr(dlg.engine_page, field)
    widget.setText(text) if isinstance(widget, QLineEdit) else widget.setPlainText(text)
    dlg._save()
    assert dlg.isVisible() and expected in dlg.error.text(), dlg.error.text()
    assert not app_paths().config_file.exists()


def test_saving_applies_the_settings_to_the_running_window(make_window: Any) -> None:
    window = make_window(Settings.model_validate({"engine": {"vllm_executable": "/nonexistent/vllm"}}), False)
    window.open_settings()
    dlg = window._settings_dialog
    dlg.agent_page.history_images.setValue(4)
    dlg.executor_page.mode.setCurrentText("dry-run")
    dlg.screen_page.input_scale.setText("1.25")
    dlg._save()
    assert not dlg.isVisible()
    for s in (window.ctx.settings, window.ctx.core.settings, load_settings()):
        assert (s.agent.history_images, s.safety.mode, s.screen.input_scale) == (4, "dry-run", 1.25)
