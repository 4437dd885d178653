"""Plot row D: agent workspaces at once against rows/min, against linear scaling and the GPU's busy %.

Reads `d_w{N}.json` (+ `.sys.json`, sampled each second) of one sitting's results folder, whichever
N it holds (1, 2, 4, 8, 16, 32), and draws linear scaling from N = 1 and the issue's 0.8 x of it:

    .venv/bin/python benchmarks/h200/plot_row_d.py --results benchmarks/results/<sitting> \\
        [--out docs/bench_row_d.png] [--title "H100, replicas = auto (2)"]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

ROOT = Path(__file__).resolve().parents[2]


def load(results: Path) -> list[tuple[int, float, float, float]]:
    """(N, rows/min, requests/s, GPU busy mean %) for every d_wN.json in the folder, by N."""
    points = []
    for path in results.glob("d_w*.json"):
        if path.name.endswith(".sys.json") or not path.stem[3:].isdigit():
            continue  # lever runs (d_w32_api4, d_w8_h1) are not on the curve
        run = json.loads(path.read_text())[0]
        busy = json.loads(path.with_suffix(".sys.json").read_text())["gpu_util_pct"]["mean"]
        points.append((run["workspaces"], run["rows_per_min"], run["requests_per_s"], busy))
    return sorted(points)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--results", type=Path, required=True)
    ap.add_argument("--out", type=Path, default=ROOT / "docs/bench_row_d.png")
    ap.add_argument("--title", default="")
    args = ap.parse_args()
    points = load(args.results)
    if not points or points[0][0] != 1:
        raise SystemExit(f"{args.results}: no d_w1.json to scale from")
    ns = [p[0] for p in points]
    base = points[0][1]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    ax1.plot(ns, [p[1] for p in points], "o-", label="measured")
    ax1.plot(ns, [base * n for n in ns], ":", color="grey", label="linear from N = 1")
    ax1.plot(ns, [0.8 * base * n for n in ns], "--", color="grey", label="0.8 x linear (target)")
    ax1.set(xscale="log", yscale="log", xlabel="agent workspaces at once (N)", ylabel="rows/min")
    ax1.set_title(f"Row D {args.title}".strip(), fontsize=10)
    ax1.set_xticks(ns, [str(n) for n in ns])
    ax1.legend(fontsize=8)
    ax2.plot(ns, [p[3] for p in points], "o-", label="GPU busy % (mean, 1 s samples)")
    ax2.plot(ns, [100 * p[2] / (points[0][2] * p[0]) for p in points], "s--", label="req/s as % of linear")
    ax2.set(xscale="log", xlabel="agent workspaces at once (N)", ylabel="%", ylim=(0, 105))
    ax2.set_xticks(ns, [str(n) for n in ns])
    ax2.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)
    print(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
