"""The endpoint page's "Test connection" against real servers: the tiny vLLM engine (models
found; a wrong key or model is named as such), a closed port (a clear error), and a server that
never answers (the test runs as a task: the Qt thread stays free, and closing the dialog
cancels it)."""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from qwen3vl_agent.config import Settings
from qwen3vl_agent.ui.settings_dialog import SettingsDialog
from qwen3vl_agent.ui.settings_pages.endpoints_page import EndpointsPage


@pytest.fixture
def endpoints_page(qloop: Any, qtbot: Any) -> Iterator[Callable[..., EndpointsPage]]:
    """`endpoints_page(url, api_key=None, model=None)` -> the page of an open dialog with that endpoint."""
    dialogs: list[SettingsDialog] = []

    def make(url: str, api_key: str | None = None, model: str | None = None) -> EndpointsPage:
        endpoint = {"url": url, "api_key": api_key, "model": model}
        dlg = SettingsDialog(Settings.model_validate({"engine": {"endpoints": [endpoint]}}))
        qtbot.addWidget(dlg)
        dlg.open()
        dialogs.append(dlg)
        return dlg.endpoints_page

    yield make
    for dlg in dialogs:
        dlg.done(0)


def run_test(page: EndpointsPage, qloop: Any) -> str:
    page.test_button.click()
    qloop.wait_until(lambda: not page.testing, 60, "the connection test")
    assert page.test_button.isEnabled()
    return page.test_result.text()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # nothing listens there once the socket is closed


def test_connection_to_the_tiny_engine_lists_its_models(
    endpoints_page: Callable[..., EndpointsPage],
    qloop: Any,
    tiny_engine: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    page = endpoints_page(tiny_engine.root_url, tiny_engine.api_key)  # no /v1: normalised
    text = run_test(page, qloop)
    assert text.startswith("Connected:") and tiny_engine.served_model_name in text, text
    assert tiny_engine.api_key not in caplog.text


def test_connection_names_a_wrong_key_and_a_wrong_model(
    endpoints_page: Callable[..., EndpointsPage], qloop: Any, tiny_engine: Any
) -> None:
    page = endpoints_page(tiny_engine.base_url, "not-the-key")
    assert f"{tiny_engine.base_url} refused the API key (HTTP 401): check the key" in run_test(page, qloop)
    page = endpoints_page(tiny_engine.base_url, tiny_engine.api_key, "Qwen/Qwen3-VL-4B-Instruct")
    text = run_test(page, qloop)
    assert "does not serve the model 'Qwen/Qwen3-VL-4B-Instruct'" in text
    assert tiny_engine.served_model_name in text


def test_connection_to_a_closed_port_fails_with_a_clear_error(
    endpoints_page: Callable[..., EndpointsPage], qloop: Any
) -> None:
    url = f"http://127.0.0.1:{closed_port()}/v1"
    page = endpoints_page(url)
    text = run_test(page, qloop)
    assert text.startswith(f"Cannot connect to {url} (ConnectError:"), text
    assert "is the server running" in text
    assert page.test_result.styleSheet() != ""  # shown as an error


def test_an_invalid_url_is_not_tested(endpoints_page: Callable[..., EndpointsPage], qloop: Any) -> None:
    page = endpoints_page("ftp://gpu-box/v1")
    page.test_button.click()
    assert not page.testing
    assert "must start with http:// or https://" in page.test_result.text()


def test_the_test_runs_off_the_qt_thread_and_closing_the_dialog_cancels_it(
    endpoints_page: Callable[..., EndpointsPage], qloop: Any
) -> None:
    with socket.socket() as silent:  # accepts connections (kernel backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        page = endpoints_page(f"http://127.0.0.1:{silent.getsockname()[1]}/v1")
        page.test_button.click()  # returns at once: the request is a task on the loop
        task = page._test
        assert task is not None and page.testing
        assert page.test_result.text().startswith("Testing") and not page.test_button.isEnabled()
        page.window().reject()
        qloop.wait_until(task.done, 10, "the cancelled test")
        assert task.cancelled() and not page.testing
