"""The settings dialog: a form over the pydantic settings, saved to the TOML config file.

Shown with `open()` (window-modal, no nested event loop), so it is safe under qasync; the
`saved` signal carries the validated new `Settings`. Invalid input is shown, never saved.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from qwen3vl_agent.config import Settings, save_settings
from qwen3vl_agent.errors import UserFacingError


def _spin(value: int, lo: int, hi: int, step: int = 1, suffix: str = "") -> QSpinBox:
    w = QSpinBox()
    w.setRange(lo, hi)
    w.setSingleStep(step)
    w.setValue(value)
    if suffix:
        w.setSuffix(suffix)
    return w


def _dspin(
    value: float, lo: float, hi: float, step: float, suffix: str = "", decimals: int = 2
) -> QDoubleSpinBox:
    w = QDoubleSpinBox()
    w.setDecimals(decimals)
    w.setRange(lo, hi)
    w.setSingleStep(step)
    w.setValue(value)
    if suffix:
        w.setSuffix(suffix)
    return w


def _combo(options: list[str], current: str) -> QComboBox:
    w = QComboBox()
    w.addItems(options)
    w.setCurrentText(current)
    return w


def parse_rects(text: str) -> list[dict[str, int]]:
    """Lines of `left, top, width, height` -> rect dicts; raise ValueError naming the bad line."""
    rects = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        parts = [p.strip() for p in line.replace(" ", ",").split(",") if p.strip()]
        if len(parts) != 4:
            raise ValueError(f"privacy mask line {n}: expected 'left, top, width, height', got {line!r}")
        left, top, width, height = (int(p) for p in parts)
        rects.append({"left": left, "top": top, "width": width, "height": height})
    return rects


class SettingsDialog(QDialog):
    saved = Signal(object)  # Settings

    def __init__(self, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.setObjectName("settingsDialog")
        self.resize(620, 520)
        self._settings = settings
        s = settings
        tabs = QTabWidget()

        # engine
        eng = QWidget()
        f = QFormLayout(eng)
        self.engine_mode = _combo(["managed", "endpoints"], s.engine.mode)
        self.model = QLineEdit(s.engine.model)
        self.launcher = _combo(["vllm-serve", "python-module"], s.engine.launcher)
        self.vllm_executable = QLineEdit(s.engine.vllm_executable)
        self.python_executable = QLineEdit(s.engine.python_executable or "")
        self.python_executable.setPlaceholderText("this interpreter")
        self.gpu_util = _dspin(s.engine.gpu_memory_utilization, 0.05, 1.0, 0.05)
        self.max_model_len = _spin(s.engine.max_model_len, 1024, 262144, 1024, " tokens")
        self.max_batched = _spin(s.engine.max_num_batched_tokens, 256, 262144, 512, " tokens")
        self.endpoints = QPlainTextEdit("\n".join(e.url for e in s.engine.endpoints))
        self.endpoints.setPlaceholderText(
            "one OpenAI-compatible base URL per line, e.g. http://gpu-box:8000/v1"
        )
        self.endpoints.setMaximumHeight(80)
        self.request_timeout = _dspin(s.engine.request_timeout_s, 1, 3600, 10, " s", 0)
        f.addRow("Engine", self.engine_mode)
        f.addRow("Model", self.model)
        f.addRow("Launcher", self.launcher)
        f.addRow("vllm executable", self.vllm_executable)
        f.addRow("Python (module launcher)", self.python_executable)
        f.addRow("GPU memory share", self.gpu_util)
        f.addRow("Max model length", self.max_model_len)
        f.addRow("Max batched tokens", self.max_batched)
        f.addRow("Endpoints", self.endpoints)
        f.addRow("Request timeout", self.request_timeout)
        note = QLabel("Engine changes take effect when the engine restarts (Engine > Restart engine).")
        note.setObjectName("hint")
        note.setWordWrap(True)
        f.addRow(note)
        tabs.addTab(eng, "Engine")

        # budgets, queue and cache
        perf = QWidget()
        f = QFormLayout(perf)
        self.chat_budget = _spin(s.images.chat_budget_tokens, 64, 16384, 64, " visual tokens")
        self.agent_budget = _spin(s.images.agent_budget_tokens, 64, 16384, 64, " visual tokens")
        self.ocr_budget = _spin(s.images.ocr_budget_tokens, 64, 16384, 64, " visual tokens")
        self.encoding = _combo(["png", "webp", "jpeg"], s.images.encoding)
        self.max_in_flight = _spin(s.queue.max_in_flight, 1, 1024)
        self.max_queued = _spin(s.queue.max_queued, 1, 10_000_000)
        self.cache_enabled = QCheckBox("Answer repeated deterministic requests from the cache")
        self.cache_enabled.setChecked(s.cache.enabled)
        self.l1_ttl = _dspin(s.cache.l1_ttl_s / 60, 0, 10_000, 1, " min", 1)
        self.l2_ttl = _dspin(s.cache.l2_ttl_s / 3600, 0, 10_000, 1, " h", 1)
        f.addRow("Chat image budget", self.chat_budget)
        f.addRow("Agent step image budget", self.agent_budget)
        f.addRow("OCR page budget", self.ocr_budget)
        f.addRow("Image encoding", self.encoding)
        f.addRow("Requests in flight", self.max_in_flight)
        f.addRow("Queue bound", self.max_queued)
        f.addRow(self.cache_enabled)
        f.addRow("Memory cache TTL", self.l1_ttl)
        f.addRow("Disk cache TTL", self.l2_ttl)
        tabs.addTab(perf, "Budgets && cache")

        # safety
        safe = QWidget()
        f = QFormLayout(safe)
        self.safety_mode = _combo(["dry-run", "confirm", "auto"], s.safety.mode)
        self.only_risky = QCheckBox(
            "In confirm mode, ask only for risky actions (Submit/Delete/Pay, quit keys)"
        )
        self.only_risky.setChecked(s.safety.confirm_only_risky)
        self.stop_hotkey = QLineEdit(s.safety.stop_hotkey)
        self.step_limit = _spin(s.safety.step_limit, 1, 1000)
        self.wall_clock = _dspin(s.safety.wall_clock_limit_s, 1, 86400, 30, " s", 0)
        self.no_progress = _spin(s.safety.no_progress_repeats, 2, 20)
        f.addRow("Default mode", self.safety_mode)
        f.addRow(self.only_risky)
        f.addRow("Stop hotkey", self.stop_hotkey)
        f.addRow("Step limit", self.step_limit)
        f.addRow("Time limit per run", self.wall_clock)
        f.addRow("Pause after repeats", self.no_progress)
        tabs.addTab(safe, "Safety")

        # privacy
        priv = QWidget()
        f = QFormLayout(priv)
        self.masked_rects = QPlainTextEdit(
            "\n".join(f"{r.left}, {r.top}, {r.width}, {r.height}" for r in s.privacy.masked_rects)
        )
        self.masked_rects.setPlaceholderText(
            "left, top, width, height — one rectangle per line (desktop pixels)"
        )
        self.masked_titles = QPlainTextEdit("\n".join(s.privacy.masked_window_titles))
        self.masked_titles.setPlaceholderText(
            "window titles to black out, one per line (e.g. Password Manager)"
        )
        self.exclude_own = QCheckBox("Never show this app's windows to the model")
        self.exclude_own.setChecked(s.privacy.exclude_own_windows)
        f.addRow("Masked rectangles", self.masked_rects)
        f.addRow("Masked windows", self.masked_titles)
        f.addRow(self.exclude_own)
        tabs.addTab(priv, "Privacy")

        self.error = QLabel("")
        self.error.setObjectName("settingsError")
        self.error.setStyleSheet("color: #d64545;")
        self.error.setWordWrap(True)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self._save)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(tabs)
        layout.addWidget(self.error)
        layout.addWidget(buttons)

    def collect(self) -> Settings:
        """The settings the form describes, validated (raises ValueError / ValidationError)."""
        s = self._settings
        data: dict[str, Any] = s.model_dump()
        data["engine"].update(
            mode=self.engine_mode.currentText(),
            model=self.model.text().strip(),
            launcher=self.launcher.currentText(),
            vllm_executable=self.vllm_executable.text().strip() or "vllm",
            python_executable=self.python_executable.text().strip() or None,
            gpu_memory_utilization=self.gpu_util.value(),
            max_model_len=self.max_model_len.value(),
            max_num_batched_tokens=self.max_batched.value(),
            request_timeout_s=self.request_timeout.value(),
            endpoints=self._endpoints(data["engine"].get("endpoints", [])),
        )
        if not data["engine"]["model"]:
            raise ValueError("the model name is empty")
        if data["engine"]["mode"] == "endpoints" and not data["engine"]["endpoints"]:
            raise ValueError("endpoint mode needs at least one endpoint URL")
        data["images"].update(
            chat_budget_tokens=self.chat_budget.value(),
            agent_budget_tokens=self.agent_budget.value(),
            ocr_budget_tokens=self.ocr_budget.value(),
            encoding=self.encoding.currentText(),
        )
        data["queue"].update(max_in_flight=self.max_in_flight.value(), max_queued=self.max_queued.value())
        data["cache"].update(
            enabled=self.cache_enabled.isChecked(),
            l1_ttl_s=self.l1_ttl.value() * 60,
            l2_ttl_s=self.l2_ttl.value() * 3600,
        )
        data["safety"].update(
            mode=self.safety_mode.currentText(),
            confirm_only_risky=self.only_risky.isChecked(),
            stop_hotkey=self.stop_hotkey.text().strip() or s.safety.stop_hotkey,
            step_limit=self.step_limit.value(),
            wall_clock_limit_s=self.wall_clock.value(),
            no_progress_repeats=self.no_progress.value(),
        )
        data["privacy"].update(
            masked_rects=parse_rects(self.masked_rects.toPlainText()),
            masked_window_titles=[
                t.strip() for t in self.masked_titles.toPlainText().splitlines() if t.strip()
            ],
            exclude_own_windows=self.exclude_own.isChecked(),
        )
        return Settings.model_validate(data)  # validates the data only (no env or file re-read)

    def _endpoints(self, previous: list[dict[str, Any]]) -> list[dict[str, Any]]:
        by_url = {e["url"]: e for e in previous}
        urls = [u.strip() for u in self.endpoints.toPlainText().splitlines() if u.strip()]
        for url in urls:
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"endpoint {url!r} must start with http:// or https://")
        return [by_url.get(u, {"url": u}) for u in urls]

    def _save(self) -> None:
        try:
            new = self.collect()
            save_settings(new)
        except ValidationError as exc:
            self.error.setText(
                "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
            )
            return
        except (ValueError, UserFacingError, OSError) as exc:
            self.error.setText(str(exc))
            return
        self._settings = new
        self.saved.emit(new)
        self.accept()
