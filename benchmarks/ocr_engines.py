"""CPU OCR, engine × input kind: CER, pages per second and peak memory, side by side with plain
Tesseract (the program, one process per page) and OCRmyPDF (`ocrmypdf --force-ocr`) on the same pages.

Input kinds, generated with exact text (tests/support/ocr_documents.py): A4 Latin pages at 150 dpi
as PNG files and as one scanned PDF (one image per page); the same pages skewed (±3–8°) and some
turned (90°/180°); Chinese pages (plain, a mixed Chinese/English invoice, two columns). Our engine
runs as a real OCR job (`OcrJob`, `--engine cpu --lang auto`, two worker processes); plain
Tesseract runs `tesseract PAGE stdout -l eng+deu+fra` two at a time; OCRmyPDF runs with `--jobs 2`
and writes a sidecar text file. Memory is the peak PSS of this script's process tree minus the
script's own share, sampled every 50 ms.

    .venv/bin/python benchmarks/ocr_engines.py [--pages 10] [--ocrmypdf PATH-TO-ocrmypdf]
    .venv/bin/python benchmarks/ocr_engines.py --cpu-time [--pages 10]

`--cpu-time` measures CPU seconds per page instead (one page at a time, after a warm-up page:
this process's CPU time for the in-process engines, the children's for the `tesseract`
program): on a box shared with other work the wall clock says little, but CPU time does, and
an idle 2-core box reads about 2 / (CPU seconds per page) pages per second with two workers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.ocr_cpu import PeakSampler  # noqa: E402
from benchmarks.process_memory import tree_pss_mb  # noqa: E402
from qwen3vl_agent.agents.ocr_job import OcrJob, OcrJobOptions, create_job  # noqa: E402
from qwen3vl_agent.agents.ocr_job_store import OcrJobStore  # noqa: E402
from tests.support.ocr_documents import (  # noqa: E402
    GeneratedPage,
    benchmark_pages,
    cer,
    chinese_page,
    chinese_two_column_page,
    cjk_cer,
    mixed_invoice_page,
    write_scanned_pdf,
)


def _skewed(pages: list[GeneratedPage]) -> list[GeneratedPage]:
    angles = [4.0, -6.0, 8.0, -3.0, 5.0]
    turns = [0, 90, 0, 180, 0]
    out = []
    for i, page in enumerate(pages):
        image = page.image.convert("L").rotate(
            angles[i % 5], resample=Image.Resampling.BICUBIC, fillcolor=255
        )
        out.append(GeneratedPage(f"{page.name}-skewed", image.rotate(turns[i % 5], expand=True), page.text))
    return out


def _measure(run, texts: list[str], score=cer) -> dict[str, float]:  # type: ignore[no-untyped-def]
    baseline = tree_pss_mb(os.getpid())
    sampler = PeakSampler()
    sampler.start()
    start = time.perf_counter()
    hyps = run()
    elapsed = time.perf_counter() - start
    sampler.stop.set()
    sampler.join()
    return {
        "pages": len(texts),
        "pages_per_s": round(len(texts) / elapsed, 3),
        "peak_mb": round(sampler.peak - baseline, 1),
        "cer_percent": round(100 * score("\n".join(texts), "\n".join(hyps)), 3),
    }


def _pdf_layer_text(path: Path) -> list[str]:
    """The text a PDF viewer would search and select, page by page."""
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(str(path))
    try:
        return [str(doc[i].get_textpage().get_text_range()) for i in range(len(doc))]
    finally:
        doc.close()


def _ours(paths: list[Path], count: int, out: Path | None = None) -> list[str]:
    store = OcrJobStore()
    options = OcrJobOptions(engine="cpu", lang="auto", workers=2)
    if out is not None:
        options.formats, options.out_dir = ["txt", "pdf"], str(out)
    job_id = create_job(store, paths, options)
    summary = asyncio.run(OcrJob(store, job_id).run())
    assert summary.counts.done == count, summary
    texts = []
    for doc_id, *_ in store.documents(job_id):
        texts.extend(p.text for p in store.load_document(doc_id, "text").pages)
    store.close()
    return texts


def _plain_tesseract(paths: list[Path]) -> list[str]:
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}

    def one(path: Path) -> str:
        cmd = ["tesseract", str(path), "stdout", "-l", "eng+deu+fra", "--psm", "3"]
        return subprocess.run(cmd, capture_output=True, text=True, env=env, check=True).stdout

    with ThreadPoolExecutor(2) as pool:
        return list(pool.map(one, paths))


def _ocrmypdf(exe: str, pdf: Path, tmp: Path) -> list[str]:
    sidecar = tmp / "ocrmypdf.txt"
    cmd = [exe, "--force-ocr", "--jobs", "2", "-l", "eng+deu+fra", "--sidecar", str(sidecar)]
    subprocess.run([*cmd, str(pdf), str(tmp / "ocrmypdf.pdf")], capture_output=True, check=True)
    return sidecar.read_text(encoding="utf-8").split("\f")


def _cpu_seconds(run, items: list) -> float:  # type: ignore[no-untyped-def, type-arg]
    """CPU seconds (this process + waited-for children) per item, after one warm-up item."""
    import resource

    run(items[0])

    def used() -> float:
        me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime

    start = used()
    for item in items:
        run(item)
    return (used() - start) / len(items)


def cpu_time_report(pages: int) -> None:
    from qwen3vl_agent.ocr.cpu_engine import CpuOptions, recognise_image

    os.environ["OMP_THREAD_LIMIT"] = "1"
    kinds = benchmark_pages()
    latin = [kinds[i % len(kinds)] for i in range(pages)]
    with tempfile.TemporaryDirectory() as tmp_name:
        paths = []
        for i, page in enumerate(latin):
            paths.append(Path(tmp_name) / f"{i}.png")
            page.image.save(paths[-1])
        rows = {
            "ours, in-process (tesserocr), lang auto": _cpu_seconds(
                lambda im: recognise_image(im), [p.image for p in latin]
            ),
            "ours, lang tesseract, no deskew": _cpu_seconds(
                lambda im: recognise_image(im, CpuOptions(lang="tesseract", deskew=False)),
                [p.image for p in latin],
            ),
            "plain tesseract program": _cpu_seconds(lambda path: _plain_tesseract([path]), paths),
            "ours, PaddleOCR (chi_sim)": _cpu_seconds(
                lambda im: recognise_image(im, CpuOptions(lang="chi_sim")),
                [chinese_page().image, mixed_invoice_page().image, chinese_two_column_page().image],
            ),
        }
    print(f"load average: {os.getloadavg()[0]:.2f}")
    for name, seconds in rows.items():
        print(
            json.dumps(
                {
                    "engine": name,
                    "cpu_s_per_page": round(seconds, 3),
                    "idle_2core_pages_per_s": round(2 / seconds, 2),
                }
            )
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pages", type=int, default=10, help="Latin pages per input kind")
    parser.add_argument("--ocrmypdf", default=shutil.which("ocrmypdf"), help="the ocrmypdf program")
    parser.add_argument("--cpu-time", action="store_true", help="CPU seconds per page instead")
    args = parser.parse_args()
    if args.cpu_time:
        cpu_time_report(args.pages)
        return
    results: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        os.environ["QWEN3VL_AGENT_HOME"] = str(tmp / "home")
        kinds = benchmark_pages()
        latin = [kinds[i % len(kinds)] for i in range(args.pages)]
        inputs = {
            "png": latin,
            "skewed/turned png": _skewed(latin),
            "chinese png": [chinese_page(), mixed_invoice_page(), chinese_two_column_page()],
        }
        files: dict[str, list[Path]] = {}
        for kind, pages in inputs.items():
            folder = tmp / kind.replace("/", "-").replace(" ", "-")
            folder.mkdir()
            files[kind] = []
            for i, page in enumerate(pages):
                files[kind].append(folder / f"{i:03d}.png")
                page.image.save(files[kind][-1])
        pdf = write_scanned_pdf(tmp / "scanned.pdf", [p.image for p in latin])
        print(f"load average before: {os.getloadavg()[0]:.2f}; {os.cpu_count()} CPUs", flush=True)
        texts = [p.text for p in latin]

        def record(engine: str, kind: str, row: dict[str, float]) -> None:
            results.append({"engine": engine, "input": kind, **row})
            print(json.dumps(results[-1]), flush=True)

        ours_out = tmp / "ours-out"
        record(
            "ours (job, cpu, lang auto)",
            "scanned pdf",
            _measure(lambda: _ours([pdf], len(latin), ours_out), texts),
        )
        searchable = {"ours": next(ours_out.rglob("*.pdf"))}
        for kind, pages in inputs.items():
            score = cjk_cer if kind.startswith("chinese") else cer
            page_texts = [p.text for p in pages]
            count = len(pages)
            record(
                "ours (job, cpu, lang auto)",
                kind,
                _measure(lambda f=files[kind], n=count: _ours(f, n), page_texts, score),
            )
            if not kind.startswith("chinese"):
                record(
                    "plain tesseract (program)",
                    kind,
                    _measure(lambda f=files[kind]: _plain_tesseract(f), page_texts),
                )
        if args.ocrmypdf:
            record(
                "ocrmypdf --force-ocr",
                "scanned pdf",
                _measure(lambda: _ocrmypdf(args.ocrmypdf, pdf, tmp), texts),
            )
            searchable["ocrmypdf"] = tmp / "ocrmypdf.pdf"
        print(f"input scanned PDF: {pdf.stat().st_size / 1024:.0f} KiB")
        for name, path in searchable.items():
            layer = "\n".join(_pdf_layer_text(path))
            print(
                f"searchable PDF by {name}: {path.stat().st_size / 1024:.0f} KiB,"
                f" CER of its selectable text {100 * cer(chr(10).join(texts), layer):.3f} %"
            )
        print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
