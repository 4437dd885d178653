"""CPU OCR engine throughput: pages per second and peak memory on a generated 50-page scanned PDF.

Runs a real OCR job (Tesseract, OMP_THREAD_LIMIT=1, eng+deu+fra, pages in worker processes)
with 1 worker and with one worker per CPU core, samples the memory (PSS: shared pages counted once) of the whole process tree
(this process, the workers and their tesseract children) every 50 ms, and checks the
character error rate of the result against the known text.

    .venv/bin/python benchmarks/ocr_cpu.py [--pages 50] [--dpi 150]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.process_memory import sampled, tree_pss_mb  # noqa: E402
from qwen3vl_agent.agents.ocr_job import OcrJob, OcrJobOptions, create_job  # noqa: E402
from qwen3vl_agent.agents.ocr_job_store import OcrJobStore  # noqa: E402
from tests.support.ocr_documents import benchmark_pages, cer, write_scanned_pdf  # noqa: E402


def run_once(pdf: Path, workers: int, dpi: int, texts: list[str]) -> dict[str, float]:
    store = OcrJobStore()
    job_id = create_job(store, [pdf], OcrJobOptions(engine="cpu", dpi=dpi, workers=workers))
    baseline = tree_pss_mb(os.getpid())  # this script alone (interpreter, libraries, page images)
    with sampled(interval_s=0.05) as sampler:
        start = time.perf_counter()
        summary = asyncio.run(OcrJob(store, job_id).run())
        elapsed = time.perf_counter() - start
    assert summary.counts.done == len(texts), summary
    doc_id = store.documents(job_id)[0][0]
    doc = store.load_document(doc_id, "text")
    ref, hyp = "\n".join(texts), "\n".join(p.text for p in doc.pages)
    store.close()
    return {
        "workers": workers,
        "pages": len(texts),
        "seconds": round(elapsed, 2),
        "pages_per_s": round(len(texts) / elapsed, 3),
        "peak_tree_pss_mb": round(sampler.peak_pss, 1),
        "of_which_this_script_mb": round(baseline, 1),
        "cer_percent": round(100 * cer(ref, hyp), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pages", type=int, default=50)
    parser.add_argument("--dpi", type=int, default=150)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["QWEN3VL_AGENT_HOME"] = str(Path(tmp) / "home")
        kinds = benchmark_pages()
        chosen = [kinds[i % len(kinds)] for i in range(args.pages)]
        pdf = write_scanned_pdf(Path(tmp) / "fifty.pdf", [p.image for p in chosen])
        print(f"{args.pages}-page scanned PDF ({', '.join(k.name for k in kinds)} in turn), {args.dpi} dpi")
        print(f"load average before: {os.getloadavg()[0]:.2f}")
        results = [
            run_once(pdf, w, args.dpi, [p.text for p in chosen]) for w in sorted({1, os.cpu_count() or 1})
        ]
    for r in results:
        print(json.dumps(r))


if __name__ == "__main__":
    main()
