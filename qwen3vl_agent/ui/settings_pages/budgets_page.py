"""Budgets & cache: visual-token budgets per task, the wire encoding, the queue and the cache."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QCheckBox, QWidget

from qwen3vl_agent.config import CacheSettings, ImageSettings, QueueSettings
from qwen3vl_agent.ui.settings_pages.common import SettingsPage, combo, dspin, spin


class BudgetsPage(SettingsPage):
    title = "Budgets && cache"

    def __init__(self, settings: Any, parent: QWidget | None = None) -> None:
        super().__init__(settings, parent)
        s = settings
        self.chat_budget = spin(s.images.chat_budget_tokens, 64, 16384, 64, " visual tokens")
        self.agent_budget = spin(s.images.agent_budget_tokens, 64, 16384, 64, " visual tokens")
        self.ocr_budget = spin(s.images.ocr_budget_tokens, 64, 16384, 64, " visual tokens")
        self.encoding = combo(["png", "webp", "jpeg"], s.images.encoding)
        self.jpeg_quality = spin(s.images.jpeg_quality, 1, 100)
        self.max_in_flight = spin(s.queue.max_in_flight, 1, 1024)
        self.max_queued = spin(s.queue.max_queued, 1, 10_000_000)
        self.cache_enabled = QCheckBox("Answer repeated deterministic requests from the cache")
        self.cache_enabled.setChecked(s.cache.enabled)
        self.l1_ttl = dspin(s.cache.l1_ttl_s / 60, 0, 10_000, 1, " min", 1)
        self.l2_ttl = dspin(s.cache.l2_ttl_s / 3600, 0, 10_000, 1, " h", 1)
        self.row("Chat image budget", self.chat_budget, ("images", "chat_budget_tokens"), ImageSettings)
        self.row(
            "Agent step image budget", self.agent_budget, ("images", "agent_budget_tokens"), ImageSettings
        )
        self.row("OCR page budget", self.ocr_budget, ("images", "ocr_budget_tokens"), ImageSettings)
        self.row("Image encoding", self.encoding, ("images", "encoding"), ImageSettings)
        self.row("JPEG quality", self.jpeg_quality, ("images", "jpeg_quality"), ImageSettings)
        self.row("Requests in flight", self.max_in_flight, ("queue", "max_in_flight"), QueueSettings)
        self.row("Queue bound", self.max_queued, ("queue", "max_queued"), QueueSettings)
        self.form.addRow(self.cache_enabled)
        self.row("Memory cache TTL", self.l1_ttl, ("cache", "l1_ttl_s"), CacheSettings)
        self.row("Disk cache TTL", self.l2_ttl, ("cache", "l2_ttl_s"), CacheSettings)

    def apply(self, data: dict[str, Any]) -> None:
        data["images"].update(
            chat_budget_tokens=self.chat_budget.value(),
            agent_budget_tokens=self.agent_budget.value(),
            ocr_budget_tokens=self.ocr_budget.value(),
            encoding=self.encoding.currentText(),
            jpeg_quality=self.jpeg_quality.value(),
        )
        data["queue"].update(max_in_flight=self.max_in_flight.value(), max_queued=self.max_queued.value())
        data["cache"].update(
            enabled=self.cache_enabled.isChecked(),
            l1_ttl_s=self.l1_ttl.value() * 60,
            l2_ttl_s=self.l2_ttl.value() * 3600,
        )
