"""The managed local vLLM server (stub: being written)."""
from __future__ import annotations

from pathlib import Path

from qwen3vl_agent.config import EngineSettings
from qwen3vl_agent.engine.status import EngineState, EngineStatus, StatusListener


class ManagedEngine:
    def __init__(self, settings: EngineSettings, log_dir: Path) -> None:
        self.settings = settings
        self.log_dir = log_dir

    async def start(self, progress: StatusListener | None = None) -> None:
        raise NotImplementedError

    async def stop(self) -> None:
        raise NotImplementedError

    def add_listener(self, listener: StatusListener) -> None:
        raise NotImplementedError

    @property
    def base_url(self) -> str:
        raise NotImplementedError

    @property
    def api_key(self) -> str:
        raise NotImplementedError

    @property
    def served_model_name(self) -> str:
        raise NotImplementedError

    @property
    def state(self) -> EngineState:
        raise NotImplementedError

    @property
    def status(self) -> EngineStatus:
        raise NotImplementedError

    @property
    def log_path(self) -> Path:
        raise NotImplementedError

    @property
    def pid(self) -> int | None:
        raise NotImplementedError
