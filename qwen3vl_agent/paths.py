"""Where the app keeps its files: platformdirs locations, overridable for tests and portable installs.

`QWEN3VL_AGENT_HOME` puts config, data, cache and logs under one folder (tests use a temporary one).
The folders are the user's eyes only (0700, see `file_modes`): they hold screenshots, chats and data rows.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from qwen3vl_agent.file_modes import private_mkdir, secure_app_dirs, tighten

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

    @property
    def folders(self) -> tuple[Path, ...]:
        return (self.config_dir, self.data_dir, self.cache_dir, self.log_dir)

    def ensure(self) -> AppPaths:
        """Create the folders (0700); an existing one that is open to others is tightened."""
        for d in self.folders:
            if d.is_dir():
                tighten(d)
            else:
                private_mkdir(d)
        return self

    def secure(self) -> int:
        """Make an existing install private (once per folder; see `file_modes.secure_app_dirs`)."""
        return secure_app_dirs(self.folders)


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
