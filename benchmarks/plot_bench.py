"""Plot QPS and P99 end-to-end latency against concurrency for rows 1-3 of the H100 table.

Reads the JSON results of `benchmarks/h100/run_rows.sh` (vLLM's `bench serve` files and
`qwen3vl-agent bench` reports) and writes one PNG:

    .venv/bin/python benchmarks/plot_bench.py [--results benchmarks/results/h100] [--out docs/bench_h100_concurrency.png]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

ROOT = Path(__file__).resolve().parents[1]
CONCURRENCY = (1, 8, 32, 120)
ROWS = {
    "r1r": "1: vLLM bench serve, realistic 1080p PNG",
    "r2": "2: app path, full 1080p, no cache",
    "r3": "3: app path, agent budget 1024 tokens, no cache",
}


def point(path: Path) -> tuple[float, float] | None:
    """(requests/s, P99 end-to-end ms) of one result file of either kind."""
    if not path.exists():
        return None
    d = json.loads(path.read_text())
    if "summary" in d:
        return d["summary"]["qps"], d["summary"]["e2e_ms"]["p99"]
    return d["request_throughput"], d["p99_e2el_ms"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--results", type=Path, default=ROOT / "benchmarks/results/h100")
    ap.add_argument("--out", type=Path, default=ROOT / "docs/bench_h100_concurrency.png")
    a = ap.parse_args()
    fig, (ax_q, ax_p) = plt.subplots(1, 2, figsize=(12, 4.6))
    for key, label in ROWS.items():
        pts = [(c, point(a.results / f"{key}_c{c}.json")) for c in CONCURRENCY]
        xs = [c for c, p in pts if p]
        ax_q.plot(xs, [p[0] for _, p in pts if p], marker="o", label=label)
        ax_p.plot(xs, [p[1] / 1000 for _, p in pts if p], marker="o", label=label)
    noise = point(a.results / "r1n_c120.json")
    if noise:
        ax_q.plot(
            [120],
            [noise[0]],
            marker="x",
            color="grey",
            linestyle="",
            label="1: random-mm noise 1080p (c=120)",
        )
        ax_p.plot([120], [noise[1] / 1000], marker="x", color="grey", linestyle="")
    for ax, title, unit in (
        (ax_q, "Throughput", "requests / s"),
        (ax_p, "P99 end-to-end latency", "seconds"),
    ):
        ax.set_xscale("log")
        ax.set_xticks(CONCURRENCY, [str(c) for c in CONCURRENCY])
        ax.set_xlabel("concurrent users (closed loop)")
        ax.set_ylabel(unit)
        ax.set_title(title)
        ax.grid(True, alpha=0.3)
    ax_q.legend(fontsize=8, loc="upper left")
    fig.suptitle(
        "Qwen3-VL-4B-shaped model (dummy weights), vLLM 0.25.0, one H100 80GB; 64 tokens out", fontsize=10
    )
    fig.tight_layout()
    a.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(a.out, dpi=110)
    print(a.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
