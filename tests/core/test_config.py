from __future__ import annotations

import subprocess
import sys

import pytest

from qwen3vl_agent.config import Settings, load_settings, save_settings
from qwen3vl_agent.errors import ConfigError
from qwen3vl_agent.paths import app_paths


def test_defaults_without_a_file() -> None:
    s = load_settings()
    assert s.engine.model == "Qwen/Qwen3-VL-4B-Instruct"
    assert s.images.agent_budget_tokens == 1024


def test_toml_file_then_environment_override(monkeypatch: pytest.MonkeyPatch) -> None:
    path = app_paths().config_file
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('[engine]\nmodel = "from-file"\nport = 8123\n[queue]\nmax_in_flight = 5\n')
    s = load_settings()
    assert (s.engine.model, s.engine.port, s.queue.max_in_flight) == ("from-file", 8123, 5)
    monkeypatch.setenv("QWEN3VL_AGENT_ENGINE__MODEL", "from-env")
    s = load_settings()
    assert s.engine.model == "from-env" and s.engine.port == 8123


def test_broken_toml_is_a_clear_error() -> None:
    path = app_paths().config_file
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("[engine\nmodel = ")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings()


def test_invalid_value_names_the_field() -> None:
    path = app_paths().config_file
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("[engine]\ngpu_memory_utilization = 3.0\n")
    with pytest.raises(ConfigError, match=r"engine\.gpu_memory_utilization"):
        load_settings()


def test_save_round_trip() -> None:
    s = Settings()
    s.engine.model = "round/trip"
    save_settings(s)
    assert load_settings().engine.model == "round/trip"


def test_cli_config_show_and_path() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "qwen3vl_agent", "config", "path"], capture_output=True, text=True, check=True
    ).stdout
    assert "config file:" in out and "database:" in out
    path = app_paths().config_file
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("[engine\n")
    bad = subprocess.run(
        [sys.executable, "-m", "qwen3vl_agent", "config", "show"], capture_output=True, text=True
    )
    assert bad.returncode == 2
    assert "not valid TOML" in bad.stderr and "Traceback" not in bad.stderr
