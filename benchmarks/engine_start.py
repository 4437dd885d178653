"""Time from `ManagedEngine.start()` to a healthy `/health`, cold and warm, on the tiny CPU engine.

Cold: empty vLLM cache / temp folders (what a first start after install sees; the OS file cache
is left as it is). Warm: the same folders again. Also times `stop()`.

    .venv/bin/python benchmarks/engine_start.py [--warm-runs 2]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from qwen3vl_agent.engine.managed import ManagedEngine  # noqa: E402
from tests.support.engine_fixtures import ENGINE_PYTHON, TINY_MODEL_DIR, tiny_engine_settings  # noqa: E402
from tests.support.tiny_checkpoint import ensure_tiny_checkpoint  # noqa: E402


async def one_start(run_dir: Path, log_dir: Path) -> tuple[float, float]:
    env = {
        "TMPDIR": str(run_dir / "tmp"),
        "VLLM_CACHE_ROOT": str(run_dir / "cache" / "vllm"),
        "XDG_CACHE_HOME": str(run_dir / "cache"),
        "HF_HOME": str(run_dir / "cache" / "hf"),
        "TORCHINDUCTOR_CACHE_DIR": str(run_dir / "cache" / "inductor"),
    }
    for sub in ("tmp", "cache"):
        (run_dir / sub).mkdir(parents=True, exist_ok=True)
    engine = ManagedEngine(tiny_engine_settings(TINY_MODEL_DIR, env=env), log_dir)
    t0 = time.perf_counter()
    await engine.start()
    ready = time.perf_counter() - t0
    t1 = time.perf_counter()
    await engine.stop()
    return ready, time.perf_counter() - t1


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--warm-runs", type=int, default=2)
    args = parser.parse_args()
    ensure_tiny_checkpoint(ENGINE_PYTHON, TINY_MODEL_DIR)
    base = Path(tempfile.mkdtemp(prefix="engine-start-", dir=REPO / ".cache"))
    try:
        run_dir, log_dir = base / "run", base / "logs"
        cold = await one_start(run_dir, log_dir)
        print(f"cold: ready {cold[0]:.1f} s, stop {cold[1]:.1f} s", flush=True)
        for i in range(args.warm_runs):
            warm = await one_start(run_dir, log_dir)
            print(f"warm {i + 1}: ready {warm[0]:.1f} s, stop {warm[1]:.1f} s", flush=True)
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
