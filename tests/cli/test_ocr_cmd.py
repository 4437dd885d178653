"""The `qwen3vl-agent ocr` command line: spellings, exports, failure summary and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from qwen3vl_agent.cli.main import cli
from tests.support.ocr_documents import cer, paragraphs_page, write_text_pdf


def _run(*args: str) -> object:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_ocr_path_prints_text_and_exits_zero(tmp_path: Path) -> None:
    page = paragraphs_page()
    png = tmp_path / "letter.png"
    page.image.save(png)
    result = _run("ocr", str(png), "--engine", "cpu", "--no-progress", "--workers", "1")
    assert result.exit_code == 0, result.stderr  # type: ignore[attr-defined]
    assert cer(page.text, result.stdout) < 0.02  # type: ignore[attr-defined]
    assert "1/1 pages done" in result.stderr  # type: ignore[attr-defined]


def test_formats_go_to_out_and_failures_give_a_summary_and_exit_code_1(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    write_text_pdf(folder / "digital.pdf", [["Quarterly figures are attached."]])
    (folder / "broken.pdf").write_bytes(b"%PDF-1.7\n1 0 obj <<")
    out = tmp_path / "out"
    result = _run(
        "ocr",
        str(folder),
        "--engine",
        "cpu",
        "--out",
        str(out),
        "--format",
        "md",
        "--format",
        "json",
        "--format",
        "pdf",
        "--no-progress",
    )
    assert result.exit_code == 1
    stderr = result.stderr  # type: ignore[attr-defined]
    assert "problems:" in stderr and "broken.pdf" in stderr and "not a readable PDF" in stderr
    assert sorted(p.name for p in out.iterdir()) == ["digital.json", "digital.md", "digital.searchable.pdf"]
    data = json.loads((out / "digital.json").read_text())
    assert data["pages"][0]["source"] == "text-layer"
    assert "Quarterly figures are attached." in (out / "digital.md").read_text()

    jobs = _run("ocr", "jobs", "--json")
    (row,) = json.loads(jobs.stdout)  # type: ignore[attr-defined]
    assert row["status"] == "done_with_errors" and row["documents_failed"] == 1 and row["done"] == 1

    again = _run("ocr", "resume", row["id"], "--no-progress")  # nothing pending: nothing redone
    assert again.exit_code == 1 and "1/1 pages done" in again.stderr  # type: ignore[attr-defined]


def test_bad_input_is_one_clear_line_with_exit_code_2(tmp_path: Path) -> None:
    result = _run("ocr", str(tmp_path / "missing.png"), "--engine", "cpu")
    assert result.exit_code == 2 and "No such file" in result.stderr  # type: ignore[attr-defined]
    schema_missing = _run("ocr", str(tmp_path), "--mode", "json")
    assert schema_missing.exit_code == 2 and "needs a JSON schema" in schema_missing.stderr  # type: ignore[attr-defined]
    unknown = _run("ocr", "resume", "nope")
    assert unknown.exit_code == 2 and "No OCR job 'nope'" in unknown.stderr  # type: ignore[attr-defined]
    huge_dpi = _run("ocr", str(tmp_path), "--dpi", "5000", "--engine", "cpu")
    assert huge_dpi.exit_code == 2 and "out of range" in huge_dpi.stderr  # type: ignore[attr-defined]
    no_such_lang = _run("ocr", str(tmp_path), "--engine", "cpu", "--lang", "eng+klingon")
    assert no_such_lang.exit_code == 2  # type: ignore[attr-defined]
    assert "no language data for klingon" in no_such_lang.stderr  # type: ignore[attr-defined]


def test_lang_chi_sim_reads_a_chinese_scan_through_a_job(tmp_path: Path) -> None:
    """`--engine cpu --lang chi_sim` on a scanned PDF: the PaddleOCR engine in a worker process."""
    from tests.support.ocr_documents import chinese_page, cjk_cer, write_scanned_pdf

    page = chinese_page()
    pdf = write_scanned_pdf(tmp_path / "zh.pdf", [page.image])
    out = tmp_path / "out"
    result = _run("ocr", str(pdf), "--engine", "cpu", "--lang", "chi_sim", "--out", str(out), "--no-progress")
    assert result.exit_code == 0, result.stderr  # type: ignore[attr-defined]
    assert cjk_cer(page.text, (out / "zh.txt").read_text(encoding="utf-8")) <= 0.01


def test_without_an_engine_the_default_qwen_run_falls_back_to_cpu_and_says_so(
    tmp_path: Path, monkeypatch: object
) -> None:
    monkeypatch.setenv("QWEN3VL_AGENT_ENGINE__VLLM_EXECUTABLE", str(tmp_path / "no-such-vllm"))  # type: ignore[attr-defined]
    page = paragraphs_page()
    png = tmp_path / "letter.png"
    page.image.save(png)
    result = _run("ocr", str(png), "--no-progress", "--workers", "1")
    assert result.exit_code == 0, result.stderr  # type: ignore[attr-defined]
    stderr = result.stderr  # type: ignore[attr-defined]
    assert "fallback: Qwen3-VL is unavailable" in stderr and "using the CPU engine" in stderr
    assert "(engine: cpu)" in stderr and cer(page.text, result.stdout) < 0.02  # type: ignore[attr-defined]


def test_retry_failed_runs_the_failed_page_again_and_exports_the_document_again(tmp_path: Path) -> None:
    from qwen3vl_agent.agents.ocr_job import OcrJobOptions, create_job
    from qwen3vl_agent.agents.ocr_job_store import OcrJobStore

    page = paragraphs_page()
    png = tmp_path / "letter.png"
    page.image.save(png)
    good = png.read_bytes()
    out = tmp_path / "out"
    store = OcrJobStore()
    job_id = create_job(store, [png], OcrJobOptions(engine="cpu", workers=1, out_dir=str(out)))
    store.close()
    png.write_bytes(good[: len(good) // 3])  # damaged after the job was made: the page fails

    first = _run("ocr", "resume", job_id, "--no-progress")
    assert first.exit_code == 1 and "letter.png page 1" in first.stderr  # type: ignore[attr-defined]
    assert (out / "letter.txt").read_text() == ""  # exported with the page missing

    png.write_bytes(good)  # repaired
    again = _run("ocr", "resume", job_id, "--retry-failed", "--no-progress")
    assert again.exit_code == 0, again.stderr  # type: ignore[attr-defined]
    assert "1/1 pages done" in again.stderr  # type: ignore[attr-defined]
    assert cer(page.text, (out / "letter.txt").read_text()) < 0.02  # exported again, with the text


def test_links_out_of_an_input_folder_are_skipped_with_a_note(tmp_path: Path) -> None:
    folder, elsewhere = tmp_path / "in", tmp_path / "elsewhere"
    folder.mkdir()
    elsewhere.mkdir()
    paragraphs_page().image.save(elsewhere / "private.png")
    (folder / "private.png").symlink_to(elsewhere / "private.png")
    skipped = _run("ocr", str(folder), "--engine", "cpu", "--no-progress")
    assert skipped.exit_code == 2  # type: ignore[attr-defined]
    assert "No documents found" in skipped.stderr and "--follow-symlinks" in skipped.stderr  # type: ignore[attr-defined]
    followed = _run(
        "ocr", str(folder), "--engine", "cpu", "--no-progress", "--follow-symlinks", "--workers", "1"
    )
    assert followed.exit_code == 0 and "1/1 pages done" in followed.stderr  # type: ignore[attr-defined]
