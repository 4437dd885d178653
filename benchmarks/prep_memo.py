"""A repeated image: what preparing it again costs, with and without the memo (imaging/prep_memo.py).

For a 1920x1080 screenshot at the chat budget (1024 tokens) and at the agent budget, times each of:
prepare_image (what every repeat cost before), a memo miss (the key's hash + prepare_image), and a
memo hit (the key's hash only), for the two sources the app repeats: an RGB screenshot (the bench's
repeat mix, a new capture of an unchanged screen) and its PNG bytes (a chat attachment, sent again
each turn). Medians and p90 of --runs each, CPU time of this process per call beside wall time.

    .venv/bin/python benchmarks/prep_memo.py [--runs 40] [--out results.json]
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from qwen3vl_agent.bench.images import ImageKind, render
from qwen3vl_agent.imaging.prep import prepare_image
from qwen3vl_agent.imaging.prep_memo import PreparedMemo
from qwen3vl_agent.percentile import percentile_or_nan


def timed(variants: dict[str, Callable[[], object]], runs: int) -> dict[str, dict[str, float]]:
    """Wall and CPU ms per call of each variant, the variants interleaved run by run (no drift)."""
    wall: dict[str, list[float]] = {k: [] for k in variants}
    cpu: dict[str, list[float]] = {k: [] for k in variants}
    for _ in range(runs):
        for name, fn in variants.items():
            w0, c0 = time.perf_counter(), time.process_time()
            fn()
            wall[name].append((time.perf_counter() - w0) * 1000)
            cpu[name].append((time.process_time() - c0) * 1000)
    return {
        k: {
            "wall_ms_p50": round(statistics.median(wall[k]), 2),
            "wall_ms_p90": round(percentile_or_nan(wall[k], 90), 2),
            "cpu_ms_p50": round(statistics.median(cpu[k]), 2),
        }
        for k in variants
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=40)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    shot = render(ImageKind.DESKTOP, 3).convert("RGB")
    buf = io.BytesIO()
    shot.save(buf, "PNG", compress_level=1)
    attachment = buf.getvalue()
    results: dict[str, Any] = {"source": "1920x1080 rendered desktop", "attachment_bytes": len(attachment)}
    for budget in (1024, 2048):
        for name, source in (("rgb_screenshot", shot), ("png_attachment", attachment)):
            prepare_image(source, budget)  # warm the thread pool and the encoder
            memo = PreparedMemo()
            memo.prepare(source, budget)
            results[f"{name}@{budget}"] = timed(
                {
                    "prepare": lambda s=source, b=budget: prepare_image(s, b),
                    "memo_miss": lambda s=source, b=budget: PreparedMemo().prepare(s, b),
                    "memo_hit": lambda s=source, b=budget, m=memo: m.prepare(s, b),
                },
                args.runs,
            )
            print(name, budget, json.dumps(results[f"{name}@{budget}"]), flush=True)
    if args.out:
        args.out.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
