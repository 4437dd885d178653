"""Engine: managed vLLM or remote endpoints, the model, and the server's sizing and timeouts."""

from __future__ import annotations

import shlex
from typing import Any

from PySide6.QtWidgets import QCheckBox, QLineEdit, QPlainTextEdit, QWidget

from qwen3vl_agent.config import EngineSettings
from qwen3vl_agent.ui.settings_pages.common import (
    PageError,
    SecretField,
    SettingsPage,
    combo,
    dspin,
    optional_number,
    read_optional_number,
    spin,
)


def parse_env(text: str) -> dict[str, str]:
    """Lines of `NAME=value` -> a dict; raise ValueError naming the bad line."""
    env = {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        name, sep, value = line.partition("=")
        name = name.strip()
        if not sep or not name or not name.replace("_", "a").isalnum() or name[0].isdigit():
            raise ValueError(f"line {n}: expected NAME=value, got {line!r}")
        env[name] = value.strip()
    return env


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
        self.host = QLineEdit(e.host)
        self.port = spin(e.port, 0, 65535)
        self.port.setSpecialValueText("any free port")
        self.max_num_seqs = optional_number(e.max_num_seqs, "vLLM's default")
        self.limit_mm_images = spin(e.limit_mm_images, 1, 64, suffix=" images")
        self.chunked_prefill = QCheckBox("Chunked prefill")
        self.chunked_prefill.setChecked(e.enable_chunked_prefill)
        self.dtype = QLineEdit(e.dtype or "")
        self.dtype.setPlaceholderText("auto")
        self.extra_args = QLineEdit(shlex.join(e.extra_args))
        self.extra_args.setPlaceholderText("more vllm serve arguments, e.g. --enforce-eager")
        self.engine_env = QPlainTextEdit("\n".join(f"{k}={v}" for k, v in e.env.items()))
        self.engine_env.setPlaceholderText("NAME=value, one per line (e.g. CUDA_VISIBLE_DEVICES=1)")
        self.engine_env.setMaximumHeight(70)
        self.server_key = SecretField(e.api_key or "", "empty: a new key per start", "engineApiKey")
        self.startup_timeout = dspin(e.startup_timeout_s, 10, 86400, 60, " s", 0)
        self.restart_on_crash = QCheckBox("Restart the engine when it crashes")
        self.restart_on_crash.setChecked(e.restart_on_crash)
        self.max_restarts = spin(e.max_restarts, 0, 100)
        self.row("Engine", self.mode, ("engine", "mode"), M)
        self.row("Model", self.model, ("engine", "model"), M)
        self.row("Served model name", self.served_name, ("engine", "served_model_name"), M)
        self.row("Request timeout", self.request_timeout, ("engine", "request_timeout_s"), M)
        self.row("Connect timeout", self.connect_timeout, ("engine", "connect_timeout_s"), M)
        self.row("Retries", self.max_retries, ("engine", "max_retries"), M)
        self.note("Managed server (used in 'managed' mode):")
        self.row("Launcher", self.launcher, ("engine", "launcher"), M)
        self.row("vllm executable", self.vllm_executable, ("engine", "vllm_executable"), M)
        self.row("Python (module launcher)", self.python_executable, ("engine", "python_executable"), M)
        self.row("GPU memory share", self.gpu_util, ("engine", "gpu_memory_utilization"), M)
        self.row("Max model length", self.max_model_len, ("engine", "max_model_len"), M)
        self.row("Max batched tokens", self.max_batched, ("engine", "max_num_batched_tokens"), M)
        self.row("Host", self.host, ("engine", "host"), M)
        self.row("Port", self.port, ("engine", "port"), M)
        self.row("Max sequences", self.max_num_seqs, ("engine", "max_num_seqs"), M)
        self.row("Images per prompt", self.limit_mm_images, ("engine", "limit_mm_images"), M)
        self.form.addRow("", self.chunked_prefill)
        self.row("dtype", self.dtype, ("engine", "dtype"), M)
        self.row("Extra arguments", self.extra_args, ("engine", "extra_args"), M)
        self.row("Environment", self.engine_env, ("engine", "env"), M)
        self.row("Server API key", self.server_key, ("engine", "api_key"))
        self.server_key.setToolTip("The key the managed server requires; empty: a new random key per start")
        self.row("Start-up timeout", self.startup_timeout, ("engine", "startup_timeout_s"), M)
        self.form.addRow("", self.restart_on_crash)
        self.row("Restarts at most", self.max_restarts, ("engine", "max_restarts"), M)
        self.note("Engine changes take effect when the engine restarts (saving restarts it).")

    def apply(self, data: dict[str, Any]) -> None:
        model = self.model.text().strip()
        if not model:
            raise PageError(("engine", "model"), "the model name is empty")
        try:
            extra_args = shlex.split(self.extra_args.text())
        except ValueError as exc:
            raise PageError(("engine", "extra_args"), f"cannot split the arguments: {exc}") from None
        try:
            env = parse_env(self.engine_env.toPlainText())
        except ValueError as exc:
            raise PageError(("engine", "env"), str(exc)) from None
        seqs = read_optional_number(self.max_num_seqs, ("engine", "max_num_seqs"))
        if seqs is not None and (seqs != int(seqs) or seqs < 1):
            raise PageError(("engine", "max_num_seqs"), f"{seqs:g} is not a positive whole number")
        data["engine"].update(
            host=self.host.text().strip() or "127.0.0.1",
            port=self.port.value(),
            max_num_seqs=None if seqs is None else int(seqs),
            limit_mm_images=self.limit_mm_images.value(),
            enable_chunked_prefill=self.chunked_prefill.isChecked(),
            dtype=self.dtype.text().strip() or None,
            extra_args=extra_args,
            env=env,
            api_key=self.server_key.edit.text().strip() or None,
            startup_timeout_s=self.startup_timeout.value(),
            restart_on_crash=self.restart_on_crash.isChecked(),
            max_restarts=self.max_restarts.value(),
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
