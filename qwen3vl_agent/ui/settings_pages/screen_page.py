"""Screen: how model coordinates map to the screen, the HiDPI scale override, and privacy
(rectangles and windows blacked out before any screenshot reaches the model)."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QCheckBox, QPlainTextEdit, QWidget

from qwen3vl_agent.config import PrivacySettings, ScreenSettings
from qwen3vl_agent.ui.settings_pages.common import (
    PageError,
    SettingsPage,
    combo,
    dspin,
    optional_number,
    read_optional_number,
    spin,
)

RECTS = ("privacy", "masked_rects")


def parse_rects(text: str) -> list[dict[str, int]]:
    """Lines of `left, top, width, height` -> rect dicts; raise ValueError naming the bad line."""
    rects = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        parts = [p.strip() for p in line.replace(" ", ",").split(",") if p.strip()]
        if len(parts) != 4:
            raise ValueError(f"privacy mask line {n}: expected 'left, top, width, height', got {line!r}")
        try:
            left, top, width, height = (int(p) for p in parts)
        except ValueError:
            raise ValueError(f"privacy mask line {n}: expected four whole numbers, got {line!r}") from None
        if width <= 0 or height <= 0:
            raise ValueError(f"privacy mask line {n}: width and height must be positive, got {line!r}")
        rects.append({"left": left, "top": top, "width": width, "height": height})
    return rects


class ScreenPage(SettingsPage):
    title = "Screen && privacy"

    def __init__(self, settings: Any, parent: QWidget | None = None) -> None:
        super().__init__(settings, parent)
        sc, p = settings.screen, settings.privacy
        S, P = ScreenSettings, PrivacySettings
        self.coordinate_mode = combo(["relative", "absolute"], sc.coordinate_mode)
        self.coordinate_scale = spin(sc.coordinate_scale, 1, 100_000)
        self.out_of_range = combo(["clamp", "reject"], sc.out_of_range)
        self.clamp_margin = dspin(sc.clamp_margin, 0, 1, 0.01, "", 3)
        self.input_scale = optional_number(sc.input_scale, "empty: detect (e.g. 2 on a 200 % HiDPI screen)")
        self.input_scale.setObjectName("inputScale")
        self.masked_rects = QPlainTextEdit(
            "\n".join(f"{r.left}, {r.top}, {r.width}, {r.height}" for r in p.masked_rects)
        )
        self.masked_rects.setPlaceholderText(
            "left, top, width, height — one rectangle per line (desktop pixels)"
        )
        self.masked_rects.setMaximumHeight(90)
        self.masked_titles = QPlainTextEdit("\n".join(p.masked_window_titles))
        self.masked_titles.setPlaceholderText(
            "window titles to black out, one per line (e.g. Password Manager)"
        )
        self.masked_titles.setMaximumHeight(90)
        self.exclude_own = QCheckBox("Never show this app's windows to the model")
        self.exclude_own.setChecked(p.exclude_own_windows)
        self.row("Coordinates", self.coordinate_mode, ("screen", "coordinate_mode"), S)
        self.row("Relative grid", self.coordinate_scale, ("screen", "coordinate_scale"), S)
        self.row("Out-of-range points", self.out_of_range, ("screen", "out_of_range"), S)
        self.row("Clamp margin", self.clamp_margin, ("screen", "clamp_margin"), S)
        self.row("HiDPI scale override", self.input_scale, ("screen", "input_scale"), S)
        self.row("Masked rectangles", self.masked_rects, RECTS, P)
        self.row("Masked windows", self.masked_titles, ("privacy", "masked_window_titles"), P)
        self.form.addRow("", self.exclude_own)

    def apply(self, data: dict[str, Any]) -> None:
        try:
            rects = parse_rects(self.masked_rects.toPlainText())
        except ValueError as exc:
            raise PageError(RECTS, str(exc)) from None
        data["screen"].update(
            coordinate_mode=self.coordinate_mode.currentText(),
            coordinate_scale=self.coordinate_scale.value(),
            out_of_range=self.out_of_range.currentText(),
            clamp_margin=self.clamp_margin.value(),
            input_scale=read_optional_number(self.input_scale, ("screen", "input_scale")),
        )
        data["privacy"].update(
            masked_rects=rects,
            masked_window_titles=[
                t.strip() for t in self.masked_titles.toPlainText().splitlines() if t.strip()
            ],
            exclude_own_windows=self.exclude_own.isChecked(),
        )
