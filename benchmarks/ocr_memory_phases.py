"""Where the peak memory of a job's one PaddleOCR process comes from, step by step.

Reads pages in one process the way a job's CJK mode does (`--lang auto`, PaddleOCR first while
pages come out CJK, `paddle_threads` = cores) and, around each step (Tesseract's reading, its
orientation detection, PaddleOCR's detector, its recogniser, the straightening, the model loads),
resets and reads the process's peak RSS (`/proc/self/clear_refs` 5, VmHWM). Prints, per page and
step, the peak RSS reached inside the step and the RSS after it, then the whole run's peak.

    .venv/bin/python benchmarks/ocr_memory_phases.py [--order LLCCLLCC] [--threads 2] [--json]
        [--mmap-threshold BYTES]

L = a Latin page (`benchmark_pages()`, in turn), C = a Chinese page (plain, then the mixed invoice).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from qwen3vl_agent.ocr import cpu_engine, heap, paddle_engine, page_prep, tesseract_api  # noqa: E402
from qwen3vl_agent.ocr.cpu_engine import CpuOptions  # noqa: E402
from tests.support.ocr_documents import benchmark_pages, chinese_page, mixed_invoice_page  # noqa: E402


def _status_mb(key: str) -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


def _reset_peak() -> None:
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")


class Steps:
    """Peak RSS inside each wrapped step; nested steps report their own peak (the outer step's
    peak is the max of what it saw outside them and theirs)."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self.page = ""
        self.seen: list[float] = [0.0]  # per open step (and the run at [0]): the peak seen so far

    @property
    def run_peak(self) -> float:
        return max(self.seen[0], _status_mb("VmHWM"))

    def wrap(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def step(*args: Any, **kwargs: Any) -> Any:
            before = _status_mb("VmRSS")
            self.seen[-1] = max(self.seen[-1], _status_mb("VmHWM"))
            _reset_peak()
            self.seen.append(0.0)
            try:
                return fn(*args, **kwargs)
            finally:
                peak = max(self.seen.pop(), _status_mb("VmHWM"))
                self.seen[-1] = max(self.seen[-1], peak)
                _reset_peak()
                self.rows.append(
                    {
                        "page": self.page,
                        "step": "  " * (len(self.seen) - 1) + name,
                        "rss_before": round(before),
                        "peak": round(peak),
                        "rss_after": round(_status_mb("VmRSS")),
                    }
                )

        return step


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--order", default="LLCCLLCC")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--mmap-threshold", type=int, default=0, help="what if: glibc's M_MMAP_THRESHOLD for all, bytes"
    )
    args = parser.parse_args()
    if args.mmap_threshold:
        heap.set_mmap_threshold(args.mmap_threshold)
        heap.HEAP_UP_TO = args.mmap_threshold  # also after the detector's runs
    latin = benchmark_pages()
    chinese = [chinese_page(), mixed_invoice_page()]
    steps = Steps()

    engine = paddle_engine._engine(args.threads)
    steps.rows.append({"page": "-", "step": "load PaddleOCR", "rss_after": round(_status_mb("VmRSS"))})
    det, rec = engine._load_det_model(), engine._load_rec_model()
    det_call, rec_call = type(det).__call__, type(rec).__call__
    type(det).__call__ = steps.wrap("paddle detector", det_call)
    type(rec).__call__ = steps.wrap("paddle recogniser", rec_call)
    tesseract_api.image_data = steps.wrap("tesseract read", tesseract_api.image_data)
    cpu_engine.image_data = tesseract_api.image_data
    cpu_engine.detect_orientation = steps.wrap("tesseract osd", tesseract_api.detect_orientation)
    cpu_engine.straighten = steps.wrap("straighten", page_prep.straighten)
    cpu_engine.release_tesseract = steps.wrap("release tesseract", tesseract_api.release)
    recognise = steps.wrap("page", cpu_engine.recognise_image)
    options = CpuOptions(paddle_first=True, paddle_threads=args.threads)
    counts = {"L": 0, "C": 0}
    cpu_start = time.process_time()
    for i, kind in enumerate(args.order):
        pool = latin if kind == "L" else chinese
        page = pool[counts[kind] % len(pool)]
        counts[kind] += 1
        steps.page = f"{i}:{kind}:{page.name}"
        result = recognise(page.image, options, i)
        steps.rows.append({"page": steps.page, "step": f"-> {result.engine}"})
        cpu_engine.heap.trim()
    cpu_s = round(time.process_time() - cpu_start, 2)
    if args.json:
        print(json.dumps({"run_peak": round(steps.run_peak), "cpu_s": cpu_s, "rows": steps.rows}))
        return
    for row in steps.rows:
        print(
            f"{row['page']:<28} {row['step']:<26} "
            f"{row.get('rss_before', ''):>6} {row.get('peak', ''):>6} {row.get('rss_after', ''):>6}"
        )
    print("run peak (VmHWM):", round(steps.run_peak), "MB; CPU s:", cpu_s)


if __name__ == "__main__":
    main()
