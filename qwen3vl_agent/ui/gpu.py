"""GPU memory for the status bar through nvidia-ml-py, guarded: no driver, no GPU -> None."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class GpuMemory:
    used_bytes: int
    total_bytes: int
    name: str

    def describe(self) -> str:
        gib = 1024**3
        return f"GPU {self.used_bytes / gib:.1f}/{self.total_bytes / gib:.0f} GiB"


class GpuProbe:
    """Reads the first GPU's memory; `available` turns False for good when NVML is missing."""

    def __init__(self) -> None:
        self.available = False
        self._handle: Any = None
        self._name = ""
        try:
            import pynvml

            pynvml.nvmlInit()
            self._handle = pynvml.nvmlDeviceGetHandleByIndex(0)
            name = pynvml.nvmlDeviceGetName(self._handle)
            self._name = name.decode() if isinstance(name, bytes) else str(name)
            self.available = True
        except Exception:  # no library, no driver, no device: the status bar just omits GPU memory
            self.available = False

    def read(self) -> GpuMemory | None:
        if not self.available:
            return None
        try:
            import pynvml

            info = pynvml.nvmlDeviceGetMemoryInfo(self._handle)
            return GpuMemory(int(info.used), int(info.total), self._name)
        except Exception:
            return None

    def close(self) -> None:
        if self.available:
            with contextlib.suppress(Exception):
                import pynvml

                pynvml.nvmlShutdown()
            self.available = False
