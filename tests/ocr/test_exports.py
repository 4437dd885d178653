"""Exports: txt, md, json, html and a searchable PDF; atomic writes; a disk that fills up."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pypdfium2 as pdfium
import pytest
from PIL import ImageChops

from qwen3vl_agent.ocr.atomic import ExportError, write_atomic, write_text_atomic
from qwen3vl_agent.ocr.cpu_engine import run_page
from qwen3vl_agent.ocr.exports import export_document
from qwen3vl_agent.ocr.inputs import LoadOptions, page_count, page_refs
from qwen3vl_agent.ocr.model import OcrDocument, OcrPage, PageFailure
from tests.support.ocr_documents import (
    SENTENCES,
    cer,
    paragraphs_page,
    table_page,
    write_scanned_pdf,
    write_text_pdf,
)


def _ocr(path: Path, dpi: int = 150) -> OcrDocument:
    n = page_count(path)
    pages = [OcrPage.from_dict(run_page(ref, LoadOptions(dpi=dpi))) for ref in page_refs(path, n)]
    return OcrDocument(str(path), pages, [], n)


def _pdf_text(path: Path, index: int) -> str:
    doc = pdfium.PdfDocument(str(path))
    try:
        return str(doc[index].get_textpage().get_text_range())
    finally:
        doc.close()


def _render(path: Path, index: int) -> object:
    doc = pdfium.PdfDocument(str(path))
    try:
        return doc[index].render(scale=1).to_pil().convert("L")
    finally:
        doc.close()


def test_every_format_from_a_scanned_pdf(tmp_path: Path) -> None:
    pages = [paragraphs_page(), table_page()]
    scan = write_scanned_pdf(tmp_path / "scan.pdf", [p.image for p in pages])
    doc = _ocr(scan)
    out = tmp_path / "out"
    written = export_document(doc, ["txt", "md", "json", "html", "pdf"], out)
    assert [p.name for p in written] == [
        "scan.txt",
        "scan.md",
        "scan.json",
        "scan.html",
        "scan.searchable.pdf",
    ]
    assert not list(out.glob(".*.part"))

    txt = (out / "scan.txt").read_text(encoding="utf-8")
    assert txt.count("\f") == 1 and cer(pages[0].text + pages[1].text, txt) < 0.02
    md = (out / "scan.md").read_text(encoding="utf-8")
    assert "<!-- page 1 -->" in md and "<!-- page 2 -->" in md
    data = json.loads((out / "scan.json").read_text(encoding="utf-8"))
    assert data["page_count"] == 2 and len(data["pages"]) == 2
    line = data["pages"][1]["lines"][0]
    assert len(line["box"]) == 4 and 0 < line["confidence"] <= 1 and line["text"]
    html = (out / "scan.html").read_text(encoding="utf-8")
    assert html.count('<section class="page"') == 2 and "data-bbox=" in html

    searchable = out / "scan.searchable.pdf"
    assert page_count(searchable) == 2
    for i, page in enumerate(pages):
        assert cer(page.text, _pdf_text(searchable, i)) < 0.02
    # the text layer is invisible: the pages look exactly like the originals
    for i in range(2):
        diff = ImageChops.difference(_render(scan, i), _render(searchable, i))  # type: ignore[arg-type]
        assert diff.getbbox() is None


def test_searchable_pdf_from_an_image_and_failed_pages_are_listed(tmp_path: Path) -> None:
    page = paragraphs_page()
    png = tmp_path / "letter.png"
    page.image.save(png)
    doc = _ocr(png)
    doc.failures.append(PageFailure(1, "example failure"))
    written = export_document(doc, ["pdf", "md", "html"], tmp_path / "out")
    assert cer(page.text, _pdf_text(written[0], 0)) < 0.02
    assert "page 2 failed: example failure" in written[1].read_text(encoding="utf-8")
    assert "example failure" in written[2].read_text(encoding="utf-8")


def test_pdf_with_its_own_text_layer_is_not_given_a_second_one(tmp_path: Path) -> None:
    pdf = write_text_pdf(tmp_path / "born-digital.pdf", [[SENTENCES[0]]])
    doc = _ocr(pdf)
    assert doc.pages[0].source == "text-layer"
    (out,) = export_document(doc, ["pdf"], tmp_path / "out")
    assert _pdf_text(out, 0).strip() == SENTENCES[0]


def test_folder_layout_is_kept_so_equal_names_never_collide(tmp_path: Path) -> None:
    for sub in ("a", "b"):
        (tmp_path / "in" / sub).mkdir(parents=True)
        paragraphs_page().image.save(tmp_path / "in" / sub / "page.png")
    for sub in ("a", "b"):
        doc = OcrDocument(str(tmp_path / "in" / sub / "page.png"), [OcrPage(0, 10, 10, sub)], [], 1)
        export_document(doc, ["txt"], tmp_path / "out", root=tmp_path / "in")
    assert (tmp_path / "out/a/page.txt").read_text().strip() == "a"
    assert (tmp_path / "out/b/page.txt").read_text().strip() == "b"


def test_a_failing_write_leaves_neither_a_partial_nor_a_temporary_file(tmp_path: Path) -> None:
    """Fault injection (the writer raises ENOSPC): the real disk-full case is the tmpfs test below."""
    target = tmp_path / "doc.txt"
    write_text_atomic(target, "old content")

    def fill_up(fh: object) -> None:
        fh.write(b"half of it")  # type: ignore[attr-defined]
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(ExportError, match="disk is full"):
        write_atomic(target, fill_up)
    assert target.read_text() == "old content"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["doc.txt"]


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 64 KiB tmpfs (needs root and mount rights; skipped where they are missing)."""
    mount_point = tmp_path / f"tiny-{uuid.uuid4().hex[:6]}"
    mount_point.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount_point)], capture_output=True, text=True
    )
    if result.returncode != 0:
        pytest.skip(
            f"cannot mount a tmpfs here ({result.stderr.strip()}); the fault-injection test covers it"
        )
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def test_a_disk_that_fills_while_exporting(tiny_disk: Path, tmp_path: Path) -> None:
    pages = [paragraphs_page(), table_page()]
    scan = write_scanned_pdf(tmp_path / "scan.pdf", [p.image for p in pages])
    doc = _ocr(scan)
    # the text formats fit; the searchable PDF (the scan's images, ~130 KB) does not
    with pytest.raises(ExportError, match=r"disk is full.*scan\.searchable\.pdf"):
        export_document(doc, ["txt", "json", "pdf"], tiny_disk)
    names = sorted(os.listdir(tiny_disk))
    assert names == ["scan.json", "scan.txt"]  # no partial PDF, no temporary file
    json.loads((tiny_disk / "scan.json").read_text(encoding="utf-8"))  # complete, not truncated


@pytest.mark.parametrize("quarter_turns", [1, 2, 3])
def test_searchable_layer_of_a_sideways_scan_lies_on_the_printed_lines(
    tmp_path: Path, quarter_turns: int
) -> None:
    """The engine reads the page upright; the text layer is turned back onto the original page."""
    from tests.support.ocr_documents import normalise, rotated_scan_page

    page = rotated_scan_page(quarter_turns=quarter_turns)
    scan = write_scanned_pdf(tmp_path / "sideways.pdf", [page.image])
    doc = _ocr(scan)
    assert doc.pages[0].rotation == (90 * quarter_turns) % 360
    (out,) = export_document(doc, ["pdf"], tmp_path / "out")
    pdf = pdfium.PdfDocument(str(out))
    try:
        w, h = pdf[0].get_size()
        assert (w > h) == (quarter_turns % 2 == 1)  # the original page, still sideways
        # the upright page's first line runs along this edge of the original (PDF y-up coordinates)
        strip = {1: (0, 0, 0.15 * w, h), 2: (0, 0, w, 0.15 * h), 3: (0.85 * w, 0, w, h)}[quarter_turns]
        found = normalise(pdf[0].get_textpage().get_text_bounded(*strip))
    finally:
        pdf.close()
    first_line = normalise(doc.pages[0].lines[0].text)
    assert first_line[:25] in found


def test_text_without_positions_still_makes_the_page_searchable(tmp_path: Path) -> None:
    """Qwen's text/markdown modes give no boxes; the text still goes into the layer (unplaced)."""
    page = paragraphs_page()
    png = tmp_path / "page.png"
    page.image.save(png)
    doc = OcrDocument(str(png), [OcrPage(0, 1240, 1754, page.text, engine="qwen3-vl:text")], [], 1)
    (out,) = export_document(doc, ["pdf"], tmp_path / "out")
    assert cer(page.text, _pdf_text(out, 0)) < 0.01


def test_chinese_and_japanese_text_is_searchable_in_the_pdf(tmp_path: Path) -> None:
    """Lines as the PaddleOCR engine returns them (boxes in page pixels); the PDF's own text
    extraction must give the characters back, on the line they were drawn on."""
    from qwen3vl_agent.ocr.model import Box, OcrLine
    from qwen3vl_agent.ocr.searchable_pdf import write_searchable_pdf
    from tests.support.ocr_documents import JA_SENTENCES, MIXED_INVOICE, chinese_page

    page = chinese_page()
    png = tmp_path / "zh.png"
    page.image.save(png)
    texts = [MIXED_INVOICE[0], JA_SENTENCES[1], "Latin only"]
    lines = [OcrLine(t, Box(120, 140 + 60 * i, 1000, 175 + 60 * i), 0.99) for i, t in enumerate(texts)]
    result = OcrPage(0, page.image.width, page.image.height, "\n".join(texts), lines, engine="paddleocr")
    target = write_searchable_pdf(png, [result], tmp_path / "zh.pdf")
    extracted = _pdf_text(target, 0)
    for text in texts:
        assert text.replace(" ", "") in extracted.replace(" ", "").replace("\r\n", "").replace("\n", "")
    doc = pdfium.PdfDocument(str(target))
    try:
        textpage = doc[0].get_textpage()
        w_pt, h_pt = doc[0].get_size()
        # the Japanese line sits where it was drawn: 200..235 px of 1754 from the top
        found = textpage.get_text_bounded(0, h_pt * (1 - 240 / 1754), w_pt, h_pt * (1 - 195 / 1754))
        assert JA_SENTENCES[1][:10] in found.replace(" ", "")
    finally:
        doc.close()
