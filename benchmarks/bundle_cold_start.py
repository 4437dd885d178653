"""Cold start of the PyInstaller bundle: process start to an interactive main window.

    .venv/bin/python benchmarks/bundle_cold_start.py [--bundle dist/qwen3vl-agent/qwen3vl-agent] [--runs 5]

Builds the bundle first when `--bundle` is not given (scripts/build-bundle.sh's PyInstaller call).
Runs on a private Xvfb with the engine not started (QWEN3VL_AGENT_NO_ENGINE=1), timed from
`Popen` to the app's READY line (printed after the first event-loop turn with the window shown,
when QWEN3VL_AGENT_STARTUP_MARK is set). The first run after the build is the coldest (page cache
empty for the bundle's files); it is reported on its own.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def one_start(exe: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    proc = subprocess.Popen([str(exe)], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("READY"):
                return time.perf_counter() - start
        raise RuntimeError(f"the bundle exited ({proc.wait()}) before its window was ready")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main() -> None:
    from tests.support.bundle import build_bundle
    from tests.support.xvfb import start_xvfb, stop_xvfb

    parser = argparse.ArgumentParser()
    parser.add_argument("--bundle", type=Path)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        exe = args.bundle or build_bundle(root / "dist")
        proc, display = start_xvfb(workdir=root)
        try:
            env = {
                **display.env(),
                "QWEN3VL_AGENT_HOME": str(root / "home"),
                "QWEN3VL_AGENT_NO_ENGINE": "1",
                "QWEN3VL_AGENT_STARTUP_MARK": "1",
                "QT_QPA_PLATFORM": "xcb",
            }
            times = [one_start(exe, env) for _ in range(args.runs)]
        finally:
            stop_xvfb(proc)
        size_mib = sum(f.stat().st_size for f in exe.parent.rglob("*") if f.is_file()) / 2**20
    result = {
        "first_run_s": round(times[0], 3),
        "warm_median_s": round(statistics.median(times[1:] or times), 3),
        "runs": [round(t, 3) for t in times],
        "bundle_mib": round(size_mib, 1),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
