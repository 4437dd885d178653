"""Peak memory of a CPU OCR job, whole process tree, with the CPU time it took.

Runs a real OCR job (`OcrJob`, `--engine cpu`, default settings unless told: `--lang auto`, one
worker per core) on generated pages with exact text and samples, every 20 ms, the PSS (shared
pages counted once) of this script's process tree: the fork server, the page workers, the
PaddleOCR worker. Reports the peak minus this script's own share, the sum of every process's own
peak RSS (VmHWM, read while it lives; an upper bound, shared pages counted in each process), the
CPU seconds per page of the whole tree (the box is shared: CPU time, not the wall clock, says
what an idle box would do) and the CER.

    .venv/bin/python benchmarks/ocr_memory.py [--kind chinese|latin|mixed] [--pages 8] [--lang auto]
        [--workers N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.process_memory import sampled, tree_pss_mb  # noqa: E402  (psutil loads lazily)

if TYPE_CHECKING:
    from tests.support.ocr_documents import GeneratedPage

# Only the standard library at the top: a job's worker processes import this script again as
# their `__mp_main__` (multiprocessing's forkserver and spawn do), so whatever it imports at the
# top, each worker holds too. With the job, the test pages and pytest imported here, each worker
# held ≈ 85-120 MB more than the same worker started from the `qwen3vl-agent` command, whose main
# module imports almost nothing (docs/benchmarks.md, issue 16). The rest is imported in `main`.


def _pages(kind: str, count: int) -> tuple[list[GeneratedPage], bool]:
    from tests.support.ocr_documents import (
        benchmark_pages,
        chinese_page,
        chinese_two_column_page,
        japanese_page,
        mixed_invoice_page,
    )

    if kind == "latin":
        base = benchmark_pages()
    elif kind == "chinese":
        base = [chinese_page(), mixed_invoice_page(), chinese_two_column_page(), japanese_page()]
    else:
        base = [*benchmark_pages()[:2], chinese_page(), mixed_invoice_page()]
    return [base[i % len(base)] for i in range(count)], kind != "latin"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kind", choices=("chinese", "latin", "mixed"), default="chinese")
    parser.add_argument("--pages", type=int, default=8)
    parser.add_argument("--lang", default="auto")
    parser.add_argument("--workers", type=int, default=None, help="default: the job's (CPU count)")
    args = parser.parse_args()
    from qwen3vl_agent.agents.ocr_job import OcrJob, OcrJobOptions, create_job
    from qwen3vl_agent.agents.ocr_job_store import OcrJobStore
    from tests.support.ocr_documents import cer, cjk_cer

    pages, cjk = _pages(args.kind, args.pages)
    score = cjk_cer if cjk else cer
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        os.environ["QWEN3VL_AGENT_HOME"] = str(tmp / "home")
        paths = []
        for i, page in enumerate(pages):
            paths.append(tmp / f"{i:03d}-{page.name}.png")
            page.image.save(paths[-1])
        store = OcrJobStore()
        options = OcrJobOptions(engine="cpu", lang=args.lang, workers=args.workers)
        job_id = create_job(store, paths, options)
        baseline = tree_pss_mb(os.getpid())
        load_before = os.getloadavg()[0]
        own_cpu = resource.getrusage(resource.RUSAGE_SELF)
        with sampled() as sampler:
            start = time.perf_counter()
            summary = asyncio.run(OcrJob(store, job_id).run())
            elapsed = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_SELF)
        assert summary.counts.done == len(pages), summary
        texts: list[str] = []
        engines: list[str] = []
        for doc_id, *_ in store.documents(job_id):
            for p in store.load_document(doc_id, "text").pages:
                texts.append(p.text)
                engines.append(p.engine)
        store.close()
    app_cpu = (after.ru_utime + after.ru_stime) - (own_cpu.ru_utime + own_cpu.ru_stime)
    workers_cpu = sum(sampler.cpu.values())
    print(
        json.dumps(
            {
                "kind": args.kind,
                "lang": args.lang,
                "pages": len(pages),
                "workers": args.workers or os.cpu_count(),
                "peak_tree_pss_mb_minus_script": round(sampler.peak_pss - baseline, 1),
                "sum_vmhwm_mb_children": round(sum(sampler.hwm.values()), 1),
                "vmhwm_mb_each": sorted(round(v) for v in sampler.hwm.values()),
                "cpu_s_per_page_children": round(workers_cpu / len(pages), 2),
                "cpu_s_per_page_app": round(app_cpu / len(pages), 2),
                "wall_s": round(elapsed, 1),
                "load_avg_before_after": [round(load_before, 1), round(os.getloadavg()[0], 1)],
                "cer_percent": round(100 * score("\n".join(p.text for p in pages), "\n".join(texts)), 3),
                "engines": sorted(set(engines)),
            }
        )
    )


if __name__ == "__main__":
    main()
