"""Where the app keeps its files: platformdirs locations, overridable for tests and portable installs.

`QWEN3VL_AGENT_HOME` puts config, data, cache and logs under one folder (tests use a temporary one).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

APP_NAME = "qwen3vl-agent"


@dataclass(frozen=True)
class AppPaths:
    config_dir: Path
    data_dir: Path
    cache_dir: Path
    log_dir: Path

    @property
    def config_file(self) -> Path:
        return Path(os.environ.get("QWEN3VL_AGENT_CONFIG_FILE") or self.config_dir / "config.toml")

    @property
    def database_file(self) -> Path:
        return self.data_dir / "qwen3vl-agent.sqlite3"

    def ensure(self) -> AppPaths:
        for d in (self.config_dir, self.data_dir, self.cache_dir, self.log_dir):
            d.mkdir(parents=True, exist_ok=True)
        return self


def app_paths() -> AppPaths:
    """The app's folders; `QWEN3VL_AGENT_HOME` overrides all of them at once."""
    home = os.environ.get("QWEN3VL_AGENT_HOME")
    if home:
        root = Path(home)
        return AppPaths(root / "config", root / "data", root / "cache", root / "logs")
    return AppPaths(
        Path(platformdirs.user_config_dir(APP_NAME)),
        Path(platformdirs.user_data_dir(APP_NAME)),
        Path(platformdirs.user_cache_dir(APP_NAME)),
        Path(platformdirs.user_log_dir(APP_NAME)),
    )
