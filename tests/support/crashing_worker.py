"""A page reader that kills its own worker process on chosen files.

It stands in for a document that crashes PDFium or an image codec: no such file can be made on
demand here, and only the job's reaction to a dying worker is under test. Every other page is
read by the real CPU engine. Importable by the job's worker processes (forkserver)."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

from qwen3vl_agent.ocr.cpu_engine import CpuOptions, run_page
from qwen3vl_agent.ocr.inputs import LoadOptions, PageRef


def run_page_or_die(ref: PageRef, load: LoadOptions, options: CpuOptions | None = None) -> dict[str, Any]:
    """The CPU engine's `run_page`, except that a file named `crash*` kills the process (SIGKILL)."""
    if Path(ref.path).name.startswith("crash"):
        os.kill(os.getpid(), signal.SIGKILL)
    return run_page(ref, load, options)
