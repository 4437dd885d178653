"""Plot row A of the H200 sitting: req/s and GPU busy % against vLLM replicas on the one GPU.

Reads `benchmarks/results/h200/a_r{1,2,3,4}.json` (+ `.sys.json`, sampled each second) and draws
the raw-engine reference of the issue (loadgen, 1344x768 PNG, 120 users) beside it:

    .venv/bin/python benchmarks/h200/plot_replicas.py [--out docs/bench_h200_replicas.png]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

ROOT = Path(__file__).resolve().parents[2]
RAW = {1: (19.1, 57), 2: (24.7, 75), 3: (29.9, 97)}  # the raw figures, same machine kind


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--results", type=Path, default=ROOT / "benchmarks/results/h200")
    ap.add_argument("--out", type=Path, default=ROOT / "docs/bench_h200_replicas.png")
    args = ap.parse_args()
    reps, qps, busy = [], [], []
    for n in (1, 2, 3, 4):
        path = args.results / f"a_r{n}.json"
        if not path.exists():
            continue
        reps.append(n)
        qps.append(json.loads(path.read_text())["summary"]["qps"])
        sys_json = json.loads(path.with_suffix(".sys.json").read_text())
        busy.append(sys_json["gpu_util_pct"]["mean"])
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    ax1.plot(reps, qps, "o-", label="app path (qwen3vl-agent bench), managed replicas")
    ax1.plot(list(RAW), [v[0] for v in RAW.values()], "s--", label="raw engine (issue 17 reference)")
    ax1.set(xlabel="vLLM replicas on one H200", ylabel="requests/s", title="Row A: 1344x768, 120 users")
    ax1.set_xticks([1, 2, 3, 4])
    ax1.legend(fontsize=8)
    ax2.plot(reps, busy, "o-", label="app path")
    ax2.plot(list(RAW), [v[1] for v in RAW.values()], "s--", label="raw engine")
    ax2.set(xlabel="vLLM replicas on one H200", ylabel="GPU busy % (mean, 1 s samples)", ylim=(0, 100))
    ax2.set_xticks([1, 2, 3, 4])
    ax2.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)
    print(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
