"""Engine: managed vLLM or remote endpoints, the model, and the server's sizing and timeouts."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QLineEdit, QWidget

from qwen3vl_agent.config import EngineSettings
from qwen3vl_agent.ui.settings_pages.common import PageError, SettingsPage, combo, dspin, spin


class EnginePage(SettingsPage):
    title = "Engine"

    def __init__(self, settings: Any, parent: QWidget | None = None) -> None:
        super().__init__(settings, parent)
        e = settings.engine
        M = EngineSettings
        self.mode = combo(["managed", "endpoints"], e.mode)
        self.mode.setToolTip("managed: start vLLM here; endpoints: use the servers on the Endpoints page")
        self.model = QLineEdit(e.model)
        self.served_name = QLineEdit(e.served_model_name or "")
        self.served_name.setPlaceholderText("the model name")
        self.launcher = combo(["vllm-serve", "python-module"], e.launcher)
        self.vllm_executable = QLineEdit(e.vllm_executable)
        self.python_executable = QLineEdit(e.python_executable or "")
        self.python_executable.setPlaceholderText("this interpreter")
        self.gpu_util = dspin(e.gpu_memory_utilization, 0.05, 1.0, 0.05)
        self.max_model_len = spin(e.max_model_len, 1024, 262144, 1024, " tokens")
        self.max_batched = spin(e.max_num_batched_tokens, 256, 262144, 512, " tokens")
        self.request_timeout = dspin(e.request_timeout_s, 1, 3600, 10, " s", 0)
        self.connect_timeout = dspin(e.connect_timeout_s, 0.5, 600, 1, " s", 1)
        self.max_retries = spin(e.max_retries, 0, 20)
        self.row("Engine", self.mode, ("engine", "mode"), M)
        self.row("Model", self.model, ("engine", "model"), M)
        self.row("Served model name", self.served_name, ("engine", "served_model_name"), M)
        self.row("Launcher", self.launcher, ("engine", "launcher"), M)
        self.row("vllm executable", self.vllm_executable, ("engine", "vllm_executable"), M)
        self.row("Python (module launcher)", self.python_executable, ("engine", "python_executable"), M)
        self.row("GPU memory share", self.gpu_util, ("engine", "gpu_memory_utilization"), M)
        self.row("Max model length", self.max_model_len, ("engine", "max_model_len"), M)
        self.row("Max batched tokens", self.max_batched, ("engine", "max_num_batched_tokens"), M)
        self.row("Request timeout", self.request_timeout, ("engine", "request_timeout_s"), M)
        self.row("Connect timeout", self.connect_timeout, ("engine", "connect_timeout_s"), M)
        self.row("Retries", self.max_retries, ("engine", "max_retries"), M)
        self.note("Engine changes take effect when the engine restarts (saving restarts it).")

    def apply(self, data: dict[str, Any]) -> None:
        model = self.model.text().strip()
        if not model:
            raise PageError(("engine", "model"), "the model name is empty")
        data["engine"].update(
            mode=self.mode.currentText(),
            model=model,
            served_model_name=self.served_name.text().strip() or None,
            launcher=self.launcher.currentText(),
            vllm_executable=self.vllm_executable.text().strip() or "vllm",
            python_executable=self.python_executable.text().strip() or None,
            gpu_memory_utilization=self.gpu_util.value(),
            max_model_len=self.max_model_len.value(),
            max_num_batched_tokens=self.max_batched.value(),
            request_timeout_s=self.request_timeout.value(),
            connect_timeout_s=self.connect_timeout.value(),
            max_retries=self.max_retries.value(),
        )
