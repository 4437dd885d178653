"""Chinese and Japanese on the CPU (PaddleOCR models through rapidocr/ONNX Runtime), on pages
rendered with Noto CJK with exact text. Thresholds a little above the measured figures
(docs/benchmarks.md, "Chinese and Japanese"): Chinese 0.0 %, mixed invoice 0.0 % (2.1 % if the
spaces between Chinese and Latin text counted), two columns 0.45 %, Japanese 0.76 % (二 read as
the katakana ニ)."""

from __future__ import annotations

from pathlib import Path

import pytest

from qwen3vl_agent.ocr import paddle_engine
from qwen3vl_agent.ocr.cpu_engine import CpuOptions, cjk_share, recognise_image, run_page, run_page_with_probe
from qwen3vl_agent.ocr.inputs import LoadOptions, PageRef
from qwen3vl_agent.ocr.languages import LanguageError, check_languages, plan_languages
from tests.support.ocr_documents import (
    chinese_page,
    chinese_two_column_page,
    cjk_cer,
    japanese_page,
    mixed_invoice_page,
    paragraphs_page,
)

pytestmark = pytest.mark.skipif(not paddle_engine.is_available(), reason="rapidocr is not installed")
CHINESE = CpuOptions(lang="chi_sim")


def test_lang_names_pick_the_engine_and_unknown_ones_fail_clearly() -> None:
    assert plan_languages("auto").engine == "auto" and plan_languages("tesseract").engine == "tesseract"
    assert plan_languages("chi_sim+eng").engine == "paddle" and plan_languages("jpn").engine == "paddle"
    assert plan_languages("deu+fra") == plan_languages("deu+fra", None)
    assert plan_languages("deu+fra").tesseract == "deu+fra"
    with pytest.raises(LanguageError, match="no language data for klingon"):
        check_languages("eng+klingon")


def test_simplified_chinese_page() -> None:
    page = chinese_page()
    result = recognise_image(page.image, CHINESE)
    assert result.engine == "paddleocr" and cjk_cer(page.text, result.text) <= 0.01
    assert all(line.box is not None and line.confidence for line in result.lines)


def test_mixed_chinese_english_invoice() -> None:
    page = mixed_invoice_page()
    result = recognise_image(page.image, CHINESE)
    assert cjk_cer(page.text, result.text) <= 0.01, result.text
    assert "ThinkPad X1" in result.text and "23,597.00" in result.text


def test_two_column_chinese_article_reads_in_column_order() -> None:
    page = chinese_two_column_page()
    result = recognise_image(page.image, CHINESE)
    assert cjk_cer(page.text, result.text) <= 0.01
    sides = [
        "left" if line.box and line.box.right < page.image.width / 2 else "right" for line in result.lines
    ]
    assert sides == sorted(sides) and sides.count("left") > 10  # every left line before the right ones


def test_japanese_page() -> None:
    page = japanese_page()
    assert cjk_cer(page.text, recognise_image(page.image, CpuOptions(lang="jpn")).text) <= 0.015


def test_auto_reads_a_turned_chinese_page_with_paddle_and_a_latin_page_with_tesseract() -> None:
    page = chinese_page()
    result = recognise_image(page.image.rotate(90, expand=True))
    assert result.engine == "paddleocr" and result.rotation == 90
    assert cjk_cer(page.text, result.text) <= 0.01
    latin = recognise_image(paragraphs_page().image)
    assert latin.engine.startswith("tesseract")


def test_a_page_worker_hands_an_unsure_page_off_and_keeps_a_latin_one(tmp_path: Path) -> None:
    """`hand_off_cjk`: the job's page workers never load PaddleOCR; `run_page_with_probe` (the
    job's one PaddleOCR process) reads the handed-off page and compares it with Tesseract's."""
    load = LoadOptions()
    options = CpuOptions(hand_off_cjk=True)
    chinese, latin = chinese_page(), paragraphs_page()
    chinese.image.save(tmp_path / "zh.png")
    latin.image.save(tmp_path / "en.png")
    handed = run_page(PageRef(str(tmp_path / "zh.png"), "image", 0), load, options)
    assert handed["hand_off"] == "paddle" and handed["probe"]["engine"].startswith("tesseract")
    probe = handed["probe"]
    result = run_page_with_probe(PageRef(str(tmp_path / "zh.png"), "image", 0), load, options, probe)
    assert result["engine"] == "paddleocr" and cjk_cer(chinese.text, result["text"]) <= 0.01
    kept = run_page(PageRef(str(tmp_path / "en.png"), "image", 0), load, options)
    assert "hand_off" not in kept and kept["engine"].startswith("tesseract")


def test_paddle_first_keeps_tesseract_for_latin_pages_and_turns_sideways_cjk_pages() -> None:
    first = CpuOptions(paddle_first=True)
    assert recognise_image(paragraphs_page().image, first).engine.startswith("tesseract")
    assert cjk_share("发票 INV-2024") == 0.2 and cjk_share("Invoice 2024") == 0.0
    page = japanese_page()
    result = recognise_image(page.image.rotate(90, expand=True), first)
    assert result.engine == "paddleocr" and result.rotation == 90
    assert cjk_cer(page.text, result.text) <= 0.015
