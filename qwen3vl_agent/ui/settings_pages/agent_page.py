"""Agent: a run's limits (steps, time, no progress) and the loop's prompt size and retries
(settings.safety's limits + settings.agent)."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QCheckBox, QWidget

from qwen3vl_agent.config import AgentSettings, SafetySettings
from qwen3vl_agent.ui.settings_pages.common import (
    SettingsPage,
    dspin,
    optional_number,
    read_optional_number,
    spin,
)


class AgentPage(SettingsPage):
    title = "Agent"

    def __init__(self, settings: Any, parent: QWidget | None = None) -> None:
        super().__init__(settings, parent)
        s, a = settings.safety, settings.agent
        S, A = SafetySettings, AgentSettings
        self.step_limit = spin(s.step_limit, 1, 10_000)
        self.wall_clock = dspin(s.wall_clock_limit_s, 1, 86400, 30, " s", 0)
        self.no_progress = spin(s.no_progress_repeats, 2, 100)
        self.no_progress.setToolTip("Pause and ask after this many identical actions on an unchanged screen")
        self.history_images = spin(a.history_images, 1, 32)
        self.history_text = spin(a.history_text_steps, 0, 1000)
        self.max_feedback = spin(a.max_feedback, 1, 100)
        self.max_tokens = spin(a.max_tokens, 16, 32768, 64, " tokens")
        self.engine_retry = dspin(a.engine_retry_s, 0.1, 600, 1, " s", 1)
        self.engine_wait = optional_number(a.engine_wait_limit_s, "empty: wait until stopped")
        self.engine_wait.setObjectName("engineWaitLimit")
        self.structured = QCheckBox("Force the tool-call JSON schema on the model")
        self.structured.setChecked(a.structured_output)
        self.settle = dspin(a.settle_s, 0, 60, 0.1, " s", 2)
        self.row("Step limit", self.step_limit, ("safety", "step_limit"), S)
        self.row("Time limit per run", self.wall_clock, ("safety", "wall_clock_limit_s"), S)
        self.row("Pause after repeats", self.no_progress, ("safety", "no_progress_repeats"), S)
        self.row("Screenshots per prompt", self.history_images, ("agent", "history_images"), A)
        self.row("Earlier steps as text", self.history_text, ("agent", "history_text_steps"), A)
        self.row("Unusable answers before giving up", self.max_feedback, ("agent", "max_feedback"), A)
        self.row("Longest answer per step", self.max_tokens, ("agent", "max_tokens"), A)
        self.row("Engine retry interval", self.engine_retry, ("agent", "engine_retry_s"), A)
        self.row("Engine wait limit (s)", self.engine_wait, ("agent", "engine_wait_limit_s"), A)
        self.form.addRow("", self.structured)
        self.row("Replay settle time", self.settle, ("agent", "settle_s"), A)

    def apply(self, data: dict[str, Any]) -> None:
        data["safety"].update(
            step_limit=self.step_limit.value(),
            wall_clock_limit_s=self.wall_clock.value(),
            no_progress_repeats=self.no_progress.value(),
        )
        data["agent"].update(
            history_images=self.history_images.value(),
            history_text_steps=self.history_text.value(),
            max_feedback=self.max_feedback.value(),
            max_tokens=self.max_tokens.value(),
            engine_retry_s=self.engine_retry.value(),
            engine_wait_limit_s=read_optional_number(self.engine_wait, ("agent", "engine_wait_limit_s")),
            structured_output=self.structured.isChecked(),
            settle_s=self.settle.value(),
        )
