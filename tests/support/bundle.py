"""Build the PyInstaller one-folder bundle from the project's spec (tests and benchmarks)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "packaging" / "pyinstaller" / "qwen3vl-agent.spec"


def build_bundle(dist: Path) -> Path:
    """Build into `dist/qwen3vl-agent/`; return the executable (raises with PyInstaller's errors)."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "PyInstaller",
            "--noconfirm",
            "--log-level",
            "ERROR",
            "--distpath",
            str(dist),
            "--workpath",
            str(dist / ".build"),
            str(SPEC),
        ],
        capture_output=True,
        text=True,
        timeout=1200,
        cwd=ROOT,
    )
    if done.returncode != 0:
        raise RuntimeError(f"PyInstaller failed:\n{done.stderr[-4000:]}")
    return dist / "qwen3vl-agent" / "qwen3vl-agent"
