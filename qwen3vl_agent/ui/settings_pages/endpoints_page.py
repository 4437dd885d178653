"""Endpoints: the remote OpenAI-compatible servers (URL, model, API key) and a connection test.

The API key sits in a password field (the "Show" toggle reveals it) and is never logged; it is saved in the TOML config file. The connection test runs on the Qt loop as a task (httpx is async), so the
window stays live while a slow server is asked.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import httpx
from pydantic import ValidationError
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QWidget,
)

from qwen3vl_agent.config import EndpointSettings, EngineSettings
from qwen3vl_agent.ui.settings_pages.common import ERROR_STYLE, PageError, SecretField, SettingsPage
from qwen3vl_agent.ui.settings_pages.connection_test import ConnectionResult, probe_endpoint

log = logging.getLogger(__name__)
LOC = ("engine", "endpoints")


def check_url(url: str) -> str | None:
    """None when `url` can be an endpoint's base URL, else what is wrong."""
    if not url:
        return "the URL is empty"
    if not url.startswith(("http://", "https://")):
        return f"{url!r} must start with http:// or https://"
    try:
        host = httpx.URL(url).host
    except (httpx.InvalidURL, ValueError) as exc:
        return f"{url!r} is not a valid URL: {exc}"
    return None if host else f"{url!r} has no host name"


class EndpointsPage(SettingsPage):
    title = "Endpoints"

    def __init__(self, settings: Any, parent: QWidget | None = None) -> None:
        super().__init__(settings, parent)
        self._rows: list[dict[str, Any]] = [
            {"url": e.url, "model": e.model or "", "api_key": e.api_key or ""}
            for e in settings.engine.endpoints
        ]
        self._test: asyncio.Future[ConnectionResult] | None = None
        self._labels[LOC] = "Endpoints"

        self.list = QListWidget()
        self.list.setObjectName("endpointList")
        self.list.setMaximumHeight(110)
        for row in self._rows:
            self.list.addItem(row["url"])
        self.add_button = QPushButton("Add")
        self.add_button.setObjectName("endpointAdd")
        self.remove_button = QPushButton("Remove")
        self.remove_button.setObjectName("endpointRemove")
        buttons = QHBoxLayout()
        buttons.addWidget(self.add_button)
        buttons.addWidget(self.remove_button)
        buttons.addStretch(1)
        self.note(
            "Remote OpenAI-compatible servers (vLLM, a cluster behind one URL). Used when the engine "
            "mode is 'endpoints'; requests go to the least busy one that answers."
        )
        self.form.addRow(self.list)
        self.form.addRow(buttons)

        self.url = QLineEdit()
        self.url.setObjectName("endpointUrl")
        self.url.setPlaceholderText("http://gpu-box:8000/v1")
        self.model_name = QLineEdit()
        self.model_name.setObjectName("endpointModel")
        self.model_name.setPlaceholderText("empty: the first model the server lists")
        self.key_field = SecretField("", "empty: no key", "endpointApiKey")
        self.api_key = self.key_field.edit
        self.show_key = self.key_field.toggle
        self.row("URL", self.url, ("engine", "endpoints", "url"), EndpointSettings)
        self.row("Model", self.model_name, ("engine", "endpoints", "model"), EndpointSettings)
        self.row("API key", self.key_field, ("engine", "endpoints", "api_key"))

        self.test_button = QPushButton("Test connection")
        self.test_button.setObjectName("endpointTest")
        self.test_result = QLabel("")
        self.test_result.setObjectName("endpointTestResult")
        self.test_result.setWordWrap(True)
        self.form.addRow(self.test_button)
        self.form.addRow(self.test_result)

        self.list.currentRowChanged.connect(self._show_row)
        self.add_button.clicked.connect(self.add_endpoint)
        self.remove_button.clicked.connect(self.remove_endpoint)
        self.url.textEdited.connect(lambda t: self._edit("url", t))
        self.model_name.textEdited.connect(lambda t: self._edit("model", t))
        self.api_key.textEdited.connect(lambda t: self._edit("api_key", t))
        self.test_button.clicked.connect(self.test_connection)
        if self._rows:
            self.list.setCurrentRow(0)
        else:
            self._show_row(-1)

    # ---- editing -----------------------------------------------------------------------------
    @property
    def endpoints(self) -> list[dict[str, Any]]:
        """The endpoints as edited so far (plain dicts; empty strings for unset fields)."""
        return [dict(r) for r in self._rows]

    def add_endpoint(self) -> None:
        self._rows.append({"url": "", "model": "", "api_key": ""})
        self.list.addItem("(new endpoint)")
        self.list.setCurrentRow(len(self._rows) - 1)
        self.url.setFocus()

    def remove_endpoint(self) -> None:
        i = self.list.currentRow()
        if 0 <= i < len(self._rows):
            del self._rows[i]
            self.list.takeItem(i)
            self._show_row(self.list.currentRow())

    def _show_row(self, i: int) -> None:
        has = 0 <= i < len(self._rows)
        row = self._rows[i] if has else {"url": "", "model": "", "api_key": ""}
        self.url.setText(row["url"])
        self.model_name.setText(row["model"])
        self.api_key.setText(row["api_key"])
        self.key_field.hide_text()
        self.cancel_work()  # a result belongs to the endpoint it was asked for
        for w in (
            self.url,
            self.model_name,
            self.api_key,
            self.show_key,
            self.test_button,
            self.remove_button,
        ):
            w.setEnabled(has)
        self.test_result.clear()

    def _edit(self, key: str, text: str) -> None:
        i = self.list.currentRow()
        if 0 <= i < len(self._rows):
            self._rows[i][key] = text
            if key == "url":
                item = self.list.item(i)
                item.setText(text.strip() or "(new endpoint)")

    # ---- validation --------------------------------------------------------------------------
    def _validated(self, row: dict[str, Any], n: int) -> EndpointSettings:
        url = row["url"].strip()
        problem = check_url(url)
        if problem:
            raise PageError(("engine", "endpoints", "url"), f"endpoint {n}: {problem}")
        try:
            return EndpointSettings(
                url=url, model=row["model"].strip() or None, api_key=row["api_key"].strip() or None
            )
        except ValidationError as exc:
            raise PageError(LOC, f"endpoint {n}: {exc.errors()[0]['msg']}") from None

    def apply(self, data: dict[str, Any]) -> None:
        endpoints = []
        for n, row in enumerate(self._rows, 1):
            try:
                endpoints.append(self._validated(row, n))
            except PageError:
                self.list.setCurrentRow(n - 1)  # show the endpoint the message is about
                raise
        data["engine"]["endpoints"] = [e.model_dump() for e in endpoints]

    # ---- connection test ---------------------------------------------------------------------
    def test_connection(self) -> None:
        i = self.list.currentRow()
        if not 0 <= i < len(self._rows):
            return
        try:
            endpoint = self._validated(self._rows[i], i + 1)
        except PageError as exc:
            self._show_result(ConnectionResult(False, str(exc)))
            return
        self.cancel_work()
        self.test_button.setEnabled(False)
        self.test_result.setStyleSheet("")
        self.test_result.setText(f"Testing {endpoint.url} …")
        engine: EngineSettings = self._settings.engine
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # called from a plain Qt slot: the qasync loop is the current loop
            loop = asyncio.get_event_loop()
        self._test = loop.create_task(probe_endpoint(endpoint, engine), name="settings-endpoint-test")
        self._test.add_done_callback(self._test_done)

    @property
    def testing(self) -> bool:
        return self._test is not None and not self._test.done()

    def _test_done(self, task: asyncio.Future[ConnectionResult]) -> None:
        if task is not self._test:
            return
        self._test = None
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:  # a bug, not a connection problem: say it, keep the dialog usable
            log.warning("endpoint test failed", exc_info=exc)
            result = ConnectionResult(False, f"The test failed: {type(exc).__name__}: {exc}")
        else:
            result = task.result()
        with contextlib.suppress(RuntimeError):  # the page was deleted meanwhile
            self._show_result(result)

    def _show_result(self, result: ConnectionResult) -> None:
        self.test_button.setEnabled(self.list.currentRow() >= 0)
        self.test_result.setStyleSheet("color: #2e9d57;" if result.ok else ERROR_STYLE)
        self.test_result.setText(result.message)

    def cancel_work(self) -> None:
        task, self._test = self._test, None
        if task is not None and not task.done():
            task.cancel()
