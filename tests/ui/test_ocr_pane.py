"""The OCR pane on the real CPU engine (Tesseract): a job's text and boxes appear in the viewer,
in sync; exports write files; a stopped job is listed, resumes, and redoes no finished page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from qwen3vl_agent.config import Settings
from tests.support.ocr_documents import cer, paragraphs_page, write_scanned_pdf


def settings() -> Settings:
    return Settings.model_validate({"engine": {"vllm_executable": "/nonexistent/vllm"}})


def test_cpu_job_shows_text_and_boxes_in_sync_and_exports(
    make_window: Any, qloop: Any, tmp_path: Path
) -> None:
    page = paragraphs_page(seed=7, paragraphs=2)
    path = tmp_path / "letter.png"
    page.image.save(path)
    window = make_window(settings(), start_engine=False)
    pane = window.ocr
    window.tabs.setCurrentWidget(pane)
    pane.add_paths([str(path)])
    pane.engine.setCurrentIndex(pane.engine.findData("cpu"))
    pane.primary_action()
    qloop.wait_until(lambda: not pane.busy and pane._job_task is not None, 180, "the OCR job")
    assert pane.progress.value() == pane.progress.maximum() == 1
    assert "pages/s" in pane.progress_label.text() or "Done" in pane.progress_label.text()
    assert pane.last_progress is not None and pane.last_progress.kind == "finished"

    qloop.wait_until(lambda: pane.current_page is not None, 30, "the page to show")
    shown = pane.text.toPlainText()
    assert cer(page.text, shown) < 0.05, shown
    assert pane.page_view.box_count == len(pane.current_page.lines) == pane.lines.count() > 3
    pane.lines.setCurrentRow(2)  # a line selected in the list -> its box selected on the page
    assert pane.page_view._selected == 2
    box = pane.page_view._boxes[4]  # a box clicked on the page -> its line selected
    view = pane.page_view
    QTest.mouseClick(
        view.viewport(),
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
        view.mapFromScene(box.sceneBoundingRect().center()),
    )
    assert pane.lines.currentRow() == 4

    out = tmp_path / "out"
    files = qloop.run(pane.export("txt", out))
    assert [f.suffix for f in files] == [".txt"]
    assert cer(page.text, files[0].read_text()) < 0.05


def test_stopped_job_is_listed_and_resumes_without_redoing_pages(
    make_window: Any, qloop: Any, tmp_path: Path
) -> None:
    pages = [paragraphs_page(seed=s, paragraphs=1) for s in (11, 12, 13, 14)]
    pdf = write_scanned_pdf(tmp_path / "scan.pdf", [p.image for p in pages])
    window = make_window(settings(), start_engine=False)
    pane = window.ocr
    pane.add_paths([str(pdf)])
    # default engine: Qwen3-VL, which is unavailable here -> the job falls back to the CPU engine
    notices: list[str] = []
    window.ctx.bridge.notice.connect(lambda _level, text: notices.append(text))
    pane.primary_action()
    qloop.wait_until(
        lambda: pane.last_progress is not None and pane.last_progress.done >= 1, 180, "a first page"
    )
    pane.stop_action()
    qloop.wait_until(lambda: not pane.busy, 60, "the job to stop")
    assert any("CPU engine" in n for n in notices)
    job_id = pane.job_id
    store = pane.store
    qloop.wait_until(lambda: store.job(job_id).status == "interrupted", 30, "the interrupted status")
    done_before = store.counts(job_id).done
    assert 1 <= done_before < 4

    pane.refresh_jobs()
    qloop.wait_until(lambda: job_id in pane.resumable_jobs(), 10, "the job in the resume list")
    row = next(i for i in range(pane.jobs.count()) if pane.jobs.item(i).data(0x0100) == job_id)
    pane.jobs.setCurrentRow(row)
    assert pane.resume_button.isEnabled() and pane.resume_button.text() == "Resume"
    pane._resume_selected()
    qloop.wait_until(
        lambda: pane._job_task is not None and not pane.busy and store.counts(job_id).pending == 0,
        240,
        "resume",
    )
    counts = store.counts(job_id)
    assert counts.done == 4 and counts.failed == 0
    assert all(completions == 1 for *_rest, completions in store.page_stats(job_id))


def test_closing_the_window_interrupts_the_job_and_keeps_finished_pages(
    make_window: Any, qloop: Any, tmp_path: Path
) -> None:
    pages = [paragraphs_page(seed=s, paragraphs=1) for s in (21, 22, 23, 24, 25)]
    pdf = write_scanned_pdf(tmp_path / "scan.pdf", [p.image for p in pages])
    window = make_window(settings(), start_engine=False)
    pane = window.ocr
    pane.add_paths([str(pdf)])
    pane.engine.setCurrentIndex(pane.engine.findData("cpu"))
    pane.primary_action()
    qloop.wait_until(
        lambda: pane.last_progress is not None and pane.last_progress.done >= 1, 180, "a first page"
    )
    worker_thread = pane._worker._thread
    qloop.run(window.shutdown_work(), timeout=60)  # what closing the window runs before quitting
    store, job_id = pane.store, pane.job_id
    job = store.job(job_id)
    assert job.status == "interrupted"
    assert store.counts(job_id).done >= 1
    assert not worker_thread.is_alive()
