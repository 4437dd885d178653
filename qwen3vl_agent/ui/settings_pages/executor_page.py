"""Executor: how actions are confirmed, the pause between input events, the stop hotkey and
the fine grain of typing, dragging and scrolling (settings.safety + settings.executor)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QLabel, QLineEdit, QWidget

from qwen3vl_agent.config import ExecutorSettings, SafetySettings
from qwen3vl_agent.ui.settings_pages.common import PageError, SettingsPage, combo, dspin, spin
from qwen3vl_agent.ui.settings_pages.hotkey import hotkey_problem

# The dialog's four choices over the config's mode + confirm_only_risky.
MODES: dict[str, tuple[str, bool]] = {
    "dry-run": ("dry-run", False),
    "confirm": ("confirm", False),
    "confirm-risky": ("confirm", True),
    "auto": ("auto", False),
}
MODE_HELP = {
    "dry-run": "Show each action; never touch the mouse or keyboard",
    "confirm": "Ask before every action",
    "confirm-risky": "Ask only before risky actions (Submit/Delete/Pay, quit keys)",
    "auto": "Act without asking",
}


def mode_choice(mode: str, only_risky: bool) -> str:
    return "confirm-risky" if mode == "confirm" and only_risky else mode


class ExecutorPage(SettingsPage):
    title = "Executor"

    def __init__(self, settings: Any, parent: QWidget | None = None) -> None:
        super().__init__(settings, parent)
        s, x = settings.safety, settings.executor
        S, X = SafetySettings, ExecutorSettings
        self.mode = combo(list(MODES), mode_choice(s.mode, s.confirm_only_risky))
        for i, name in enumerate(MODES):
            self.mode.setItemData(i, MODE_HELP[name], Qt.ItemDataRole.ToolTipRole)
        self.mode_help = QLabel(MODE_HELP[self.mode.currentText()])
        self.mode_help.setObjectName("hint")
        self.mode.currentTextChanged.connect(lambda t: self.mode_help.setText(MODE_HELP.get(t, "")))
        self.pause = dspin(s.pyautogui_pause_s, 0, 5, 0.01, " s", 3)
        self.pause.setToolTip("Wait between two input events (a stop lands during the wait)")
        self.stop_hotkey = QLineEdit(s.stop_hotkey)
        self.stop_hotkey.setObjectName("stopHotkey")
        self.stop_hotkey.setPlaceholderText("<ctrl>+<alt>+<esc>")
        self.stop_hotkey.setToolTip(
            'pynput syntax: keys joined by "+", special keys in <>, e.g. <ctrl>+<alt>+<esc>'
        )
        self.hotkey_enabled = QCheckBox("Listen for the stop hotkey during runs")
        self.hotkey_enabled.setChecked(x.stop_hotkey_enabled)
        self.drag_steps = spin(x.drag_steps, 1, 1000)
        self.type_chunk = spin(x.type_chunk_chars, 1, 10_000, suffix=" chars")
        self.paste_chunk = spin(x.paste_chunk_chars, 1, 100_000, suffix=" chars")
        self.scroll_pixels = dspin(x.scroll_pixels_per_click, 1, 10_000, 10, " px", 0)
        self.max_scroll = spin(x.max_scroll_clicks, 1, 10_000)
        self.max_wait = dspin(x.max_wait_s, 0, 3600, 5, " s", 1)
        self.paste_timeout = dspin(x.paste_timeout_s, 0.1, 60, 0.5, " s", 1)
        self.row("Confirmation", self.mode, ("safety", "mode"), S)
        self.form.addRow("", self.mode_help)
        self.row("Pause between input events", self.pause, ("safety", "pyautogui_pause_s"), S)
        self.row("Stop hotkey", self.stop_hotkey, ("safety", "stop_hotkey"), S)
        self.form.addRow("", self.hotkey_enabled)
        self.note("Fail-safe: moving the mouse into a screen corner always stops a run.")
        self.row("Drag steps", self.drag_steps, ("executor", "drag_steps"), X)
        self.row("Typing piece", self.type_chunk, ("executor", "type_chunk_chars"), X)
        self.row("Paste piece", self.paste_chunk, ("executor", "paste_chunk_chars"), X)
        self.row("Scroll per wheel click", self.scroll_pixels, ("executor", "scroll_pixels_per_click"), X)
        self.row("Max wheel clicks", self.max_scroll, ("executor", "max_scroll_clicks"), X)
        self.row("Longest wait action", self.max_wait, ("executor", "max_wait_s"), X)
        self.row("Paste timeout", self.paste_timeout, ("executor", "paste_timeout_s"), X)

    def apply(self, data: dict[str, Any]) -> None:
        hotkey = self.stop_hotkey.text().strip()
        problem = hotkey_problem(hotkey)
        if problem:
            raise PageError(("safety", "stop_hotkey"), f"{hotkey!r} is not a valid hotkey: {problem}")
        mode, only_risky = MODES[self.mode.currentText()]
        data["safety"].update(
            mode=mode,
            confirm_only_risky=only_risky,
            stop_hotkey=hotkey,
            pyautogui_pause_s=self.pause.value(),
        )
        data["executor"].update(
            stop_hotkey_enabled=self.hotkey_enabled.isChecked(),
            drag_steps=self.drag_steps.value(),
            type_chunk_chars=self.type_chunk.value(),
            paste_chunk_chars=self.paste_chunk.value(),
            scroll_pixels_per_click=self.scroll_pixels.value(),
            max_scroll_clicks=self.max_scroll.value(),
            max_wait_s=self.max_wait.value(),
            paste_timeout_s=self.paste_timeout.value(),
        )
