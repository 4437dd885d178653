"""The settings dialog: one page per part of the config, validated by the config's pydantic
models, saved to the TOML config file through `save_settings`.

Shown with `open()` (window-modal, no nested event loop), so it is safe under qasync; the
`saved` signal carries the validated new `Settings` (the main window applies them). Invalid
input is shown inline on its page, next to its field, and nothing is written. The only slow
thing the dialog does, the endpoint connection test, runs as an asyncio task on the Qt loop.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from PySide6.QtCore import Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFrame,
    QLabel,
    QScrollArea,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from qwen3vl_agent.config import Settings, save_settings
from qwen3vl_agent.errors import UserFacingError
from qwen3vl_agent.ui.settings_pages.agent_page import AgentPage
from qwen3vl_agent.ui.settings_pages.budgets_page import BudgetsPage
from qwen3vl_agent.ui.settings_pages.common import ERROR_STYLE, Loc, PageError, SettingsPage
from qwen3vl_agent.ui.settings_pages.endpoints_page import EndpointsPage
from qwen3vl_agent.ui.settings_pages.engine_page import EnginePage
from qwen3vl_agent.ui.settings_pages.executor_page import ExecutorPage
from qwen3vl_agent.ui.settings_pages.screen_page import ScreenPage, parse_rects

__all__ = ["SettingsDialog", "SettingsInvalid", "parse_rects"]


class SettingsInvalid(ValueError):
    """The form holds input the config refuses; `problems` are the lines shown to the user."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class SettingsDialog(QDialog):
    saved = Signal(object)  # Settings

    def __init__(self, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.setObjectName("settingsDialog")
        self.resize(680, 600)
        self._settings = settings
        self.engine_page = EnginePage(settings)
        self.endpoints_page = EndpointsPage(settings)
        self.budgets_page = BudgetsPage(settings)
        self.executor_page = ExecutorPage(settings)
        self.agent_page = AgentPage(settings)
        self.screen_page = ScreenPage(settings)
        self.pages: list[SettingsPage] = [
            self.engine_page,
            self.endpoints_page,
            self.budgets_page,
            self.executor_page,
            self.agent_page,
            self.screen_page,
        ]
        self.tabs = QTabWidget()
        self._scrolls: dict[int, QScrollArea] = {}
        for page in self.pages:
            scroll = QScrollArea()
            scroll.setWidgetResizable(True)
            scroll.setFrameShape(QFrame.Shape.NoFrame)
            scroll.setWidget(page)
            self._scrolls[id(page)] = scroll
            self.tabs.addTab(scroll, page.title)

        # the widgets older callers (and tests) reach for by name
        self.model = self.engine_page.model
        self.engine_mode = self.engine_page.mode
        self.chat_budget = self.budgets_page.chat_budget
        self.safety_mode = self.executor_page.mode
        self.stop_hotkey = self.executor_page.stop_hotkey
        self.step_limit = self.agent_page.step_limit
        self.masked_rects = self.screen_page.masked_rects
        self.masked_titles = self.screen_page.masked_titles

        self.error = QLabel("")
        self.error.setObjectName("settingsError")
        self.error.setStyleSheet(ERROR_STYLE)
        self.error.setWordWrap(True)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self._save)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs)
        layout.addWidget(self.error)
        layout.addWidget(buttons)

    # ---- validation --------------------------------------------------------------------------
    def _owner(self, loc: Loc) -> SettingsPage:
        for page in self.pages:
            if page.owns(loc):
                return page
        return self.pages[0]

    def show_page(self, page: SettingsPage) -> None:
        """Bring `page` forward, scrolled to its first error if it has one."""
        scroll = self._scrolls[id(page)]
        self.tabs.setCurrentWidget(scroll)
        if page.first_error is not None:
            scroll.ensureWidgetVisible(page.first_error)

    def _mark_tabs(self, bad: set[int]) -> None:
        bar = self.tabs.tabBar()
        for i, page in enumerate(self.pages):
            bar.setTabTextColor(i, QColor("#d64545") if id(page) in bad else QColor())

    def collect(self) -> Settings:
        """The settings the form describes, validated; raises `SettingsInvalid` (and shows
        each problem on its page) when the config's models refuse them."""
        for page in self.pages:
            page.clear_errors()
        self._mark_tabs(set())
        data: dict[str, Any] = self._settings.model_dump()
        problems: list[tuple[SettingsPage, str]] = []
        for page in self.pages:
            try:
                page.apply(data)
            except PageError as exc:
                problems.append((page, page.show_error(exc.loc, str(exc))))
        engine = data["engine"]
        if not problems and engine["mode"] == "endpoints" and not engine["endpoints"]:
            page = self.endpoints_page
            problems.append(
                (page, page.show_error(None, "Endpoint mode needs at least one endpoint: add one"))
            )
        if not problems:
            try:
                return Settings.model_validate(data)  # the data only: no env or file re-read
            except ValidationError as exc:
                for err in exc.errors():
                    loc = tuple(str(p) for p in err["loc"])
                    page = self._owner(loc)
                    problems.append((page, page.show_error(loc, str(err["msg"]))))
        self._mark_tabs({id(page) for page, _ in problems})
        self.show_page(problems[0][0])
        raise SettingsInvalid([f"{page.title.replace('&&', '&')}: {line}" for page, line in problems])

    # ---- saving ------------------------------------------------------------------------------
    def _save(self) -> None:
        try:
            new = self.collect()
            save_settings(new)
        except SettingsInvalid as exc:
            self.error.setText("Not saved — " + "\n".join(exc.problems))
            return
        except (UserFacingError, OSError) as exc:
            self.error.setText(f"Not saved — the config file could not be written: {exc}")
            return
        self.error.clear()
        self._settings = new
        self.saved.emit(new)
        self.accept()

    def done(self, result: int) -> None:
        for page in self.pages:
            page.cancel_work()
        super().done(result)
