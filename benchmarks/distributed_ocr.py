"""Corpus-scale OCR: pages per second of the Ray path with 1 and 2 local workers against the
local job on the same pages (CPU engine, Tesseract).

    .venv/bin/python benchmarks/distributed_ocr.py [--pages 200]

A real Ray head is started on loopback (`ray start --head --num-cpus 2`) and stopped at the end.
Each variant gets a fresh job over the same generated pages (small scanned PDFs and PNGs with two
lines of text each); the time is the job's run, from the first page sent to the last exported file.
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


def make_corpus(root: Path, pages: int) -> None:
    from PIL import Image, ImageDraw

    from tests.support.ocr_documents import font, write_scanned_pdf

    fnt = font(14)

    def page(doc: int, number: int) -> Image.Image:
        image = Image.new("L", (1100, 170), 255)
        draw = ImageDraw.Draw(image)
        draw.text((30, 25), f"Document {doc:03d} page {number} invoice total paid", fill=0, font=fnt)
        draw.text((30, 95), f"Reference {doc * 1000 + number * 7:06d} Zürich Köln", fill=0, font=fnt)
        return image

    pdfs = pages // 10  # half the pages in 5-page PDFs, half as single PNGs
    for doc in range(pdfs):
        write_scanned_pdf(root / f"scan-{doc:03d}.pdf", [page(doc, p) for p in range(1, 6)])
    for doc in range(pdfs, pdfs + pages - pdfs * 5):
        page(doc, 1).save(root / f"page-{doc:04d}.png")


def run_variant(name: str, corpus: Path, out: Path, cluster: str | None, workers: int) -> dict[str, float]:
    from qwen3vl_agent.agents.ocr_cluster import ClusterOcrJob, ClusterOptions
    from qwen3vl_agent.agents.ocr_job import OcrJob, OcrJobOptions, create_job
    from qwen3vl_agent.agents.ocr_job_store import OcrJobStore

    store = OcrJobStore()
    job_id = create_job(
        store, [corpus], OcrJobOptions(engine="cpu", formats=["txt"], out_dir=str(out), workers=workers)
    )
    total = store.counts(job_id).total
    job = (
        ClusterOcrJob(store, job_id, ClusterOptions(cluster, workers=workers))
        if cluster
        else OcrJob(store, job_id)
    )
    start = time.perf_counter()
    summary = asyncio.run(job.run())
    seconds = time.perf_counter() - start
    assert summary.status == "done", summary.failures
    result = {"pages": total, "seconds": round(seconds, 2), "pages_per_s": round(total / seconds, 3)}
    print(f"{name:>16}: {result}", flush=True)
    return result


def main() -> None:
    from tests.support.ray_cluster import start_ray_head, stop_ray

    parser = argparse.ArgumentParser()
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument("--json", type=Path, help="Write the results here too.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        os.environ["QWEN3VL_AGENT_HOME"] = str(root / "home")
        os.environ["OMP_THREAD_LIMIT"] = "1"
        os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
        corpus = root / "corpus"
        corpus.mkdir()
        make_corpus(corpus, args.pages)
        results = {"local_2_processes": run_variant("local (2 procs)", corpus, root / "o-local", None, 2)}
        address = start_ray_head(root / "ray", num_cpus=2)
        try:
            results["ray_1_worker"] = run_variant("ray 1 worker", corpus, root / "o-ray1", address, 1)
            results["ray_2_workers"] = run_variant("ray 2 workers", corpus, root / "o-ray2", address, 2)
        finally:
            stop_ray()
        local = results["local_2_processes"]["pages_per_s"]
        for key in ("ray_1_worker", "ray_2_workers"):
            results[key]["ratio_to_local"] = round(results[key]["pages_per_s"] / local, 3)
        print(json.dumps(results, indent=2))
        if args.json:
            args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
