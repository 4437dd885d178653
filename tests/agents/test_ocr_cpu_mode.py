"""A CPU OCR job loads PaddleOCR in one process only: its page workers hand the pages Tesseract
is unsure of back, and the job goes on in one process holding both engines (the memory figures
are in docs/benchmarks.md, `benchmarks/ocr_memory.py`). Real engines, real worker processes."""

from __future__ import annotations

from pathlib import Path

import pytest

from qwen3vl_agent.agents.ocr_job import OcrJob, OcrJobOptions, create_job
from qwen3vl_agent.agents.ocr_job_store import OcrJobStore
from qwen3vl_agent.ocr import paddle_engine
from qwen3vl_agent.ocr.model import OcrPage
from tests.support.ocr_documents import (
    GeneratedPage,
    chinese_page,
    cjk_cer,
    mixed_invoice_page,
    paragraphs_page,
)

pytestmark = pytest.mark.skipif(not paddle_engine.is_available(), reason="rapidocr is not installed")


async def _run(tmp_path: Path, pages: list[GeneratedPage], lang: str) -> tuple[OcrJob, dict[str, OcrPage]]:
    folder = tmp_path / "in"
    folder.mkdir()
    for i, page in enumerate(pages):
        page.image.save(folder / f"{i}-{page.name}.png")
    store = OcrJobStore()
    job_id = create_job(store, [folder], OcrJobOptions(engine="cpu", lang=lang, workers=2))
    job = OcrJob(store, job_id)
    summary = await job.run()
    assert summary.counts.done == len(pages), summary
    read = {}
    for doc_id, path, *_ in store.documents(job_id):
        (page,) = store.load_document(doc_id, "text").pages
        read[Path(path).stem.split("-", 1)[1]] = page
    store.close()
    return job, read


async def test_a_job_meeting_chinese_pages_goes_on_in_one_process_with_both_engines(tmp_path: Path) -> None:
    pages = [paragraphs_page(), chinese_page(), mixed_invoice_page()]
    job, read = await _run(tmp_path, pages, "auto")
    assert job.cpu_mode is not None and job.cpu_mode.switched and job.cpu_mode.cjk
    assert job.workers is not None and job.workers.workers == 1  # PaddleOCR never in two processes
    for page in pages:
        result = read[page.name]
        expected = "tesseract" if page.name.startswith("paragraphs") else "paddleocr"
        assert result.engine.startswith(expected), (page.name, result.engine)
        assert cjk_cer(page.text, result.text) <= 0.01, page.name


async def test_a_chinese_job_starts_in_one_process(tmp_path: Path) -> None:
    job, read = await _run(tmp_path, [chinese_page(), mixed_invoice_page()], "chi_sim")
    assert job.cpu_mode is not None and job.cpu_mode.cjk and not job.cpu_mode.switched
    assert job.workers is not None and job.workers.workers == 1
    assert all(p.engine == "paddleocr" for p in read.values())


async def test_a_latin_job_keeps_a_worker_per_core(tmp_path: Path) -> None:
    job, _ = await _run(tmp_path, [paragraphs_page(seed=1), paragraphs_page(seed=2)], "auto")
    assert job.cpu_mode is not None and not job.cpu_mode.switched
    assert job.workers is not None and job.workers.workers == 2
