"""Reading documents: images, multi-page TIFF, PDFs (text layer or rendered), folders, bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from qwen3vl_agent.ocr.inputs import (
    DocumentError,
    LoadOptions,
    PageRef,
    decode_bytes,
    discover,
    discover_inputs,
    iter_pages,
    load_page,
    page_count,
    page_refs,
)
from tests.support.ocr_documents import (
    SENTENCES,
    normalise,
    paragraphs_page,
    table_page,
    write_huge_png,
    write_many_page_pdf,
    write_scanned_pdf,
    write_text_pdf,
    write_zero_page_pdf,
)


def _rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def test_folders_are_searched_recursively_with_include_and_exclude(tmp_path: Path) -> None:
    image = Image.new("RGB", (40, 30), "white")
    for rel in ["a.png", "sub/b.jpg", "sub/deeper/c.webp", "sub/skip.png", "notes.txt"]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        if rel.endswith(".txt"):
            (tmp_path / rel).write_text("not a document")
        else:
            image.save(tmp_path / rel)
    names = [p.name for p in discover([tmp_path])]
    assert names == ["a.png", "b.jpg", "c.webp", "skip.png"]  # .txt is not a document type
    assert [p.name for p in discover([tmp_path], exclude=["skip*"])] == ["a.png", "b.jpg", "c.webp"]
    assert [p.name for p in discover([tmp_path], include=["sub/*"], exclude=["*.png"])] == ["b.jpg", "c.webp"]
    with pytest.raises(DocumentError, match="No such file"):
        discover([tmp_path / "missing.pdf"])


def test_image_formats_and_multi_page_tiff(tmp_path: Path) -> None:
    first, second = Image.new("RGB", (120, 80), "white"), Image.new("RGB", (60, 90), "black")
    tiff = tmp_path / "scan.tiff"
    first.save(tiff, save_all=True, append_images=[second])
    assert page_count(tiff) == 2
    pages = list(iter_pages(tiff))
    assert [(p.width, p.height) for p in pages] == [(120, 80), (60, 90)]
    assert pages[1].image is not None and pages[1].image.getpixel((5, 5)) == (0, 0, 0)
    for fmt in ("jpeg", "webp", "png"):
        path = tmp_path / f"one.{fmt}"
        first.save(path, format=fmt.upper())
        assert page_count(path) == 1 and load_page(PageRef(str(path), "image", 0)).image is not None


def test_pdf_text_layer_is_used_when_allowed_and_rendered_otherwise(tmp_path: Path) -> None:
    pdf = write_text_pdf(tmp_path / "text.pdf", [["Hello text layer", SENTENCES[0]], [SENTENCES[3]]])
    assert page_count(pdf) == 2
    with_layer = load_page(PageRef(str(pdf), "pdf", 0), LoadOptions(dpi=100, use_text_layer=True))
    assert with_layer.image is None and with_layer.text_lines
    assert normalise(with_layer.text_layer_text) == normalise("Hello text layer " + SENTENCES[0])
    top_line = with_layer.text_lines[0]
    assert top_line.box is not None
    # A4 at 100 dpi is 827x1169 px; the first line sits about 72 pt (100 px) from the top
    assert (with_layer.width, with_layer.height) == (827, 1170)
    assert 60 < top_line.box.top < 110 and 75 < top_line.box.left < 90
    rendered = load_page(PageRef(str(pdf), "pdf", 1), LoadOptions(dpi=100, use_text_layer=False))
    assert rendered.text_lines is None and rendered.image is not None and rendered.image.size == (827, 1170)


def test_encrypted_truncated_and_empty_pdfs_are_refused_clearly(tmp_path: Path) -> None:
    from reportlab.pdfgen import canvas

    encrypted = tmp_path / "secret.pdf"
    c = canvas.Canvas(str(encrypted), encrypt="s3cret")
    c.drawString(72, 720, "classified")
    c.showPage()
    c.save()
    with pytest.raises(DocumentError, match="encrypted"):
        page_count(encrypted)

    whole = write_text_pdf(tmp_path / "whole.pdf", [["some text"]]).read_bytes()
    truncated = tmp_path / "truncated.pdf"
    truncated.write_bytes(whole[: len(whole) // 3])
    with pytest.raises(DocumentError, match="truncated"):
        page_count(truncated)

    empty = write_zero_page_pdf(tmp_path / "empty.pdf")
    with pytest.raises(DocumentError, match="without pages"):
        page_count(empty)

    not_pdf = tmp_path / "fake.pdf"
    not_pdf.write_text("hello")
    with pytest.raises(DocumentError):
        page_count(not_pdf)


def test_huge_image_is_rejected_before_decoding(tmp_path: Path) -> None:
    huge = write_huge_png(tmp_path / "huge.png")  # 30000 x 30000, a valid PNG of ~100 KB
    before = _rss_mb()
    with pytest.raises(DocumentError, match=r"too large.*30000x30000"):
        page_count(huge)
    with pytest.raises(DocumentError, match="too large"):
        load_page(PageRef(str(huge), "image", 0))
    assert _rss_mb() - before < 100  # decoding would have taken ~900 MB


def test_truncated_image_is_a_clear_error(tmp_path: Path) -> None:
    good = tmp_path / "good.png"
    paragraphs_page().image.save(good)
    bad = tmp_path / "cut.png"
    bad.write_bytes(good.read_bytes()[:5000])
    with pytest.raises(DocumentError, match=r"truncated|damaged|not a readable"):
        load_page(PageRef(str(bad), "image", 0))


def test_a_2000_page_pdf_streams_in_bounded_memory(tmp_path: Path) -> None:
    pdf = write_many_page_pdf(tmp_path / "long.pdf", 2000)
    assert page_count(pdf) == 2000
    assert len(page_refs(pdf, 2000)) == 2000
    rss_after_warmup = 0.0
    seen = 0
    for page in iter_pages(pdf, LoadOptions(dpi=72, use_text_layer=False)):
        assert page.image is not None and page.image.size == (596, 842)
        seen += 1
        if seen == 20:
            rss_after_warmup = _rss_mb()
    # 2000 pages of 595x842 RGB held at once would be ~3 GB; streaming keeps one page at a time
    assert seen == 2000
    assert _rss_mb() - rss_after_warmup < 64
    last = load_page(PageRef(str(pdf), "pdf", 1999), LoadOptions(dpi=72, use_text_layer=True))
    assert last.text_layer_text == "Page 2000 of a long report"
    with pytest.raises(DocumentError, match="no page 2001"):
        load_page(PageRef(str(pdf), "pdf", 2000))


def test_a_scan_with_only_a_stamped_line_of_text_is_still_read_as_a_scan(tmp_path: Path) -> None:
    """A page-sized image plus a short text stamp (a page number, a fax header) is a scan;
    a scan that already carries a full OCR text layer keeps using it."""
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    scan = paragraphs_page().image
    path = tmp_path / "stamped.pdf"
    c = canvas.Canvas(str(path), pagesize=(595.2, 841.92))
    c.drawImage(ImageReader(scan), 0, 0, 595.2, 841.92)
    c.drawString(500, 20, "Page 1 of 2")
    c.showPage()
    c.drawImage(ImageReader(scan), 0, 0, 595.2, 841.92)
    text = c.beginText(72, 700)
    text.setTextRenderMode(3)  # what OCR tools put over a scan
    for line in paragraphs_page().text.splitlines():
        text.textLine(line)
    c.drawText(text)
    c.showPage()
    c.save()
    stamped = load_page(PageRef(str(path), "pdf", 0), LoadOptions(dpi=72))
    assert stamped.image is not None and stamped.text_lines is None
    ocrd = load_page(PageRef(str(path), "pdf", 1), LoadOptions(dpi=72))
    assert ocrd.image is None and ocrd.text_lines


@pytest.mark.parametrize("mode", ["RGBA", "P"])
def test_dark_text_on_a_transparent_png_is_read_by_ocr(tmp_path: Path, mode: str) -> None:
    """Black text on a transparent background (an RGBA PNG, or a palette PNG whose background
    index is transparent): flattened onto black it read as nothing; on white Tesseract reads it."""
    from PIL import ImageDraw

    from qwen3vl_agent.ocr.cpu_engine import recognise_image
    from qwen3vl_agent.ocr.inputs import register_memory_image
    from tests.support.ocr_documents import font

    text = "Invoice 48213 is due on 15 March"
    ink = Image.new("L", (1400, 140), 0)
    ImageDraw.Draw(ink).text((40, 40), text, font=font(14), fill=255)
    path = tmp_path / f"label-{mode}.png"
    if mode == "P":
        # index 0: transparent black (the background), index 1: opaque black (the ink)
        pal = ink.point(lambda v: 1 if v > 100 else 0).convert("P")
        pal.putpalette([0, 0, 0, 0, 0, 0])
        pal.save(path, transparency=0)
        with Image.open(path) as check:
            assert check.mode == "P" and check.getpixel((2, 2)) == 0 and "transparency" in check.info
    else:
        rgba = Image.new("RGBA", ink.size, (0, 0, 0, 0))
        rgba.putalpha(ink)  # black ink whose coverage is its alpha
        rgba.save(path)
    page = load_page(PageRef(str(path), "image", 0))
    assert page.image is not None and page.image.getpixel((2, 2)) == (255, 255, 255)
    assert normalise(text) in normalise(recognise_image(page.image).text)
    # an image from the clipboard or a screen grab goes through the same flattening
    with Image.open(path) as img:
        memory = load_page(register_memory_image(f"clip-{mode}", img))
    assert memory.image is not None and memory.image.getpixel((2, 2)) == (255, 255, 255)


def test_a_scanned_pdf_page_is_read_as_its_own_image_at_its_own_resolution(tmp_path: Path) -> None:
    """A page that is one image yields that image's pixels (not a re-render at --dpi), whether
    the image is lossless or JPEG, and turned as the page's /Rotate shows it."""
    import numpy as np
    import pypdfium2 as pdfium

    png_page = table_page().image.convert("L")
    jpeg_file = tmp_path / "scan.jpg"
    png_page.save(jpeg_file, quality=80)
    pdf = write_scanned_pdf(tmp_path / "scan.pdf", [png_page, Image.open(jpeg_file), png_page])
    doc = pdfium.PdfDocument(pdf)
    doc[2].set_rotation(90)
    turned = tmp_path / "turned.pdf"
    doc.save(turned)
    doc.close()

    lossless = load_page(PageRef(str(pdf), "pdf", 0), LoadOptions(dpi=200))
    assert lossless.image is not None and lossless.dpi == 150
    assert np.array_equal(np.asarray(lossless.image.convert("L")), np.asarray(png_page))
    jpeg = load_page(PageRef(str(pdf), "pdf", 1), LoadOptions(dpi=300))
    assert jpeg.image is not None and jpeg.image.size == png_page.size
    decoded = np.asarray(Image.open(jpeg_file).convert("L"), dtype=int)
    assert np.abs(np.asarray(jpeg.image.convert("L"), dtype=int) - decoded).max() <= 2
    rotated = load_page(PageRef(str(turned), "pdf", 2), LoadOptions(dpi=200))
    assert rotated.image is not None and rotated.image.size == (png_page.height, png_page.width)
    upright_again = rotated.image.convert("L").rotate(90, expand=True)
    assert np.array_equal(np.asarray(upright_again), np.asarray(png_page))


def test_a_scan_with_more_drawn_on_it_renders_at_least_at_the_scan_resolution(tmp_path: Path) -> None:
    """An image plus vector drawing cannot be read from the image alone: the page is rendered,
    at the image's resolution when that is finer than --dpi (a 72 dpi render loses small print)."""
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    path = tmp_path / "annotated.pdf"
    c = canvas.Canvas(str(path), pagesize=(595.2, 841.92))
    c.drawImage(ImageReader(paragraphs_page().image), 0, 0, 595.2, 841.92)
    c.rect(400, 40, 150, 30)  # a drawn box over the scan
    c.showPage()
    c.save()
    page = load_page(PageRef(str(path), "pdf", 0), LoadOptions(dpi=72))
    assert page.image is not None and page.dpi == 150 and abs(page.image.width - 1240) <= 1
    finer = load_page(PageRef(str(path), "pdf", 0), LoadOptions(dpi=300))
    assert finer.dpi == 300 and finer.image is not None and abs(finer.image.width - 2480) <= 1


_PEAK_PROBE = """
import json, resource, sys
from qwen3vl_agent.ocr.inputs import LoadOptions, PageRef, decode_bytes, load_page
ref = PageRef(sys.argv[1], "image", 0)
estimate = decode_bytes(ref, LoadOptions())
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
page = load_page(ref, LoadOptions())
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"size": page.image.size, "mode": page.image.mode, "grown_kib": after - before,
                  "estimate": estimate}))
"""


def test_a_14000_px_square_png_is_read_downscaled_under_a_memory_bound(tmp_path: Path) -> None:
    """A 24 KB 1-bit PNG that claims 14,000 x 14,000 pixels (it used to peak at 1.1 GiB).

    The bound: Pillow decodes the whole 1-bit image at one byte per pixel (196 MB = 187 MiB; no
    Pillow API decodes a PNG in parts), plus the downscaled copy (at most 36 Mpx at Pillow's 4
    bytes per RGB pixel = 137 MiB) and one 256-row strip at a time (17 MiB): 341 MiB at most;
    400 MiB leaves room for allocator slack. The old path made full-size RGB copies: 1,092 MiB
    measured the same way. Measured in a fresh process (ru_maxrss, so imports are not counted)."""
    png = write_huge_png(tmp_path / "big.png", 14000, 14000)
    assert png.stat().st_size < 64_000  # tens of KB on disk
    probe = subprocess.run(
        [sys.executable, "-c", _PEAK_PROBE, str(png)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert probe.returncode == 0, probe.stderr
    result = json.loads(probe.stdout)
    width, height = result["size"]
    assert result["mode"] == "RGB" and width * height <= LoadOptions().max_decode_pixels
    assert width >= 4000 and abs(width - height) <= 1  # downscaled, not cropped or refused
    assert result["grown_kib"] / 1024 < 400, result
    # the job's memory budget counts (at least) what the load really holds
    assert result["estimate"] >= result["grown_kib"] * 1024


def test_symlinks_that_lead_out_of_an_input_folder_are_skipped_unless_asked(tmp_path: Path) -> None:
    inside, outside = tmp_path / "in", tmp_path / "private"
    (inside / "sub").mkdir(parents=True)
    (outside / "deep").mkdir(parents=True)
    image = Image.new("RGB", (40, 30), "white")
    image.save(inside / "a.png")
    image.save(inside / "sub" / "b.png")
    image.save(outside / "secret.png")
    image.save(outside / "deep" / "other.png")
    (inside / "leak.png").symlink_to(outside / "secret.png")  # a file link out of the folder
    (inside / "tree").symlink_to(outside)  # a folder link out of it
    (inside / "alias.png").symlink_to(inside / "a.png")  # a link that stays inside: harmless
    (inside / "sub" / "loop").symlink_to(inside)  # a loop

    found = discover_inputs([inside])
    assert [p.relative_to(inside).as_posix() for p in found.files] == ["a.png", "sub/b.png"]
    assert sorted(p.name for p in found.skipped_links) == ["leak.png", "tree"]

    followed = discover_inputs([inside], follow_symlinks=True)
    names = sorted(p.resolve().name for p in followed.files)
    assert names == ["a.png", "b.png", "other.png", "secret.png"] and followed.skipped_links == []
    # a file named explicitly is read even through a link: the user asked for it
    assert discover([inside / "leak.png"]) == [inside / "leak.png"]


def test_decode_bytes_reads_only_headers(tmp_path: Path) -> None:
    huge = write_huge_png(tmp_path / "huge.png", 20000, 10000)
    before = _rss_mb()
    estimate = decode_bytes(PageRef(str(huge), "image", 0), LoadOptions())
    assert _rss_mb() - before < 32
    # the 1-bit pixels (1 byte each), the downscaled RGB copy (4 bytes each), one strip
    assert estimate == 20000 * 10000 + LoadOptions().max_decode_pixels * 4 + 256 * 20000 * 5
