"""Searchable PDF: the original pages with an invisible text layer from the OCR lines.

Why reportlab + pypdfium2: reportlab (well kept, pure Python) writes text in render mode 3
(invisible) with per-line horizontal scaling so a selection covers the printed words — the
technique OCRmyPDF's hOCR renderer used. It works for every engine (Tesseract's own `pdf`
output would only serve the CPU engine and cost a second recognition pass). For PDF inputs,
pypdfium2 copies the ORIGINAL pages (vector text and images stay as they were) and stamps the
text layer on them as a form XObject; image inputs become image pages under the text layer.
Pages the engine turned upright get their layer turned back onto the original page.
Pages that already had a text layer, or that failed, are kept without a new layer; text from
modes without positions (Qwen text/markdown/json) is laid in unplaced, so it is still searchable.
Lines with Chinese or Japanese text use one of the PDF standard CJK fonts (Adobe's STSong-Light,
HeiseiMin-W3: not embedded, Unicode CMaps), which every viewer can map back to the characters;
DejaVu has no CJK glyphs, and reportlab cannot embed the CFF-outline Noto CJK fonts.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, BinaryIO

from PIL import Image

from qwen3vl_agent.ocr.atomic import atomic_target
from qwen3vl_agent.ocr.inputs import PDFIUM_LOCK, LoadOptions, PageRef, document_kind, load_page, page_count
from qwen3vl_agent.ocr.model import OcrPage

_FONT = "Helvetica"
_TTF_CANDIDATES = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
)


def _font_name() -> str:
    """DejaVu Sans (embedded, all of Unicode it covers) when installed, else Helvetica."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    if "OcrSans" in pdfmetrics.getRegisteredFontNames():
        return "OcrSans"
    for candidate in _TTF_CANDIDATES:
        if Path(candidate).exists():
            pdfmetrics.registerFont(TTFont("OcrSans", candidate))
            return "OcrSans"
    return _FONT


_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3000-\u303f\uff00-\uffef]")
_KANA = re.compile(r"[\u3040-\u30ff]")


def _font_for(text: str, latin: str) -> str:
    """The font a line of text is written in: `latin`, or a standard CJK font for CJK text."""
    if not _CJK.search(text) and not _KANA.search(text):
        return latin
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont

    name = "HeiseiMin-W3" if _KANA.search(text) else "STSong-Light"
    if name not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(name))
    return name


def _draw_text_layer(canvas: object, page: OcrPage, w_pt: float, h_pt: float, latin_font: str) -> None:
    from reportlab.pdfbase.pdfmetrics import stringWidth

    sx, sy = w_pt / max(1, page.width), h_pt / max(1, page.height)
    if not any(line.box for line in page.lines):
        _draw_unplaced_text(canvas, page.text, h_pt, latin_font)
        return
    for line in page.lines:
        if not line.text.strip():
            continue
        if line.box is None or line.box.width <= 0 or line.box.height <= 0:
            continue
        size = max(1.0, line.box.height * sy * 0.85)
        font = _font_for(line.text, latin_font)
        natural = stringWidth(line.text, font, size)
        if natural <= 0:
            continue
        t = canvas.beginText()  # type: ignore[attr-defined]
        t.setTextRenderMode(3)  # invisible: searchable and selectable, not drawn
        t.setFont(font, size)
        t.setHorizScale(100.0 * line.box.width * sx / natural)
        t.setTextOrigin(line.box.left * sx, h_pt - line.box.bottom * sy + size * 0.2)
        t.textLine(line.text)
        canvas.drawText(t)  # type: ignore[attr-defined]


def _draw_unplaced_text(canvas: object, text: str, h_pt: float, font: str) -> None:
    """Modes without positions (text, markdown, json): the page text, invisible, from the top
    left, so the page is still searchable even though a selection will not match the print."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines:
        return
    size = max(1.0, min(10.0, (h_pt - 72) / (1.2 * len(lines))))
    t = canvas.beginText()  # type: ignore[attr-defined]
    t.setTextRenderMode(3)
    t.setFont(font, size, leading=size * 1.2)
    t.setTextOrigin(36, h_pt - 36 - size)
    for line in lines:
        t.setFont(_font_for(line, font), size, leading=size * 1.2)
        t.textLine(line)
    canvas.drawText(t)  # type: ignore[attr-defined]


class _CheckedWriter:
    """pypdfium2 writes through a ctypes callback that swallows exceptions (a full disk would
    leave a silently truncated PDF): remember the first error so the caller can raise it."""

    def __init__(self, fh: BinaryIO) -> None:
        self.fh = fh
        self.error: OSError | None = None

    def write(self, data: bytes) -> int:
        if self.error is not None:
            return 0
        try:
            return self.fh.write(data)
        except OSError as exc:
            self.error = exc
            return 0


def _overlay_pdf(sizes: Sequence[tuple[float, float]], pages: Sequence[OcrPage | None]) -> bytes:
    """A PDF of the given page sizes holding only the invisible text."""
    from reportlab.pdfgen import canvas as rl_canvas

    font = _font_name()
    buf = io.BytesIO()
    c = rl_canvas.Canvas(buf, pageCompression=1)
    for (w_pt, h_pt), page in zip(sizes, pages, strict=True):
        c.setPageSize((w_pt, h_pt))
        if page is not None and page.source != "text-layer":
            _draw_text_layer(c, page, w_pt, h_pt, font)
        c.showPage()
    c.save()
    return buf.getvalue()


def _upright_size(size: tuple[float, float], page: OcrPage | None) -> tuple[float, float]:
    """The page size in the frame the OCR boxes refer to (turned when the engine turned the page)."""
    w, h = size
    return (h, w) if page is not None and page.rotation in (90, 270) else (w, h)


def _upright_to_page(rotation: int, w: float, h: float) -> Any:
    """Matrix taking the upright frame (the engine turned the page clockwise by `rotation`)
    back onto the original page of size w x h, so the text lies on the printed lines."""
    import pypdfium2 as pdfium

    matrix = pdfium.PdfMatrix()
    if rotation == 90:
        return matrix.rotate(90, ccw=True).translate(w, 0)
    if rotation == 180:
        return matrix.rotate(180).translate(w, h)
    if rotation == 270:
        return matrix.rotate(90).translate(0, h)
    return matrix


def _pdf_from_pdf(source: str, pages: Sequence[OcrPage | None], tmp: Path) -> None:
    import pypdfium2 as pdfium

    with PDFIUM_LOCK:
        src = pdfium.PdfDocument(source)
        try:
            sizes = [src.get_page_size(i) for i in range(len(src))]
            upright = [_upright_size(size, page) for size, page in zip(sizes, pages, strict=True)]
            overlay = pdfium.PdfDocument(_overlay_pdf(upright, pages))
            out = pdfium.PdfDocument.new()
            try:
                out.import_pages(src)
                for i, page in enumerate(pages):
                    if page is None or page.source == "text-layer" or not (page.lines or page.text.strip()):
                        continue
                    target = out[i]
                    left, bottom, _, _ = target.get_mediabox()
                    stamp = overlay.page_as_xobject(i, out).as_pageobject()
                    matrix = _upright_to_page(page.rotation, *sizes[i])
                    if left or bottom:
                        matrix = matrix.translate(left, bottom)
                    stamp.transform(matrix)
                    target.insert_obj(stamp)
                    target.gen_content()
                    target.close()
                with open(tmp, "wb") as fh:
                    writer = _CheckedWriter(fh)
                    out.save(writer)
                    if writer.error is not None:
                        raise writer.error
            finally:
                out.close()
                overlay.close()
        finally:
            src.close()


def _pdf_from_images(source: str, pages: Sequence[OcrPage | None], tmp: Path) -> None:
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas as rl_canvas

    font = _font_name()
    c = rl_canvas.Canvas(str(tmp), pageCompression=1)
    for i, page in enumerate(pages):
        loaded = load_page(PageRef(source, "image", i), LoadOptions(use_text_layer=False))
        assert loaded.image is not None
        image: Image.Image = loaded.image
        if page is not None and page.rotation:
            image = image.rotate(-page.rotation, expand=True)  # the upright page the boxes refer to
        dpi = (page.dpi if page and page.dpi else None) or 150
        w_pt, h_pt = image.width * 72 / dpi, image.height * 72 / dpi
        c.setPageSize((w_pt, h_pt))
        c.drawImage(ImageReader(image), 0, 0, w_pt, h_pt)
        if page is not None:
            _draw_text_layer(c, page, w_pt, h_pt, font)
        c.showPage()
    c.save()


def write_searchable_pdf(source: str | Path, pages: Sequence[OcrPage | None], target: Path) -> Path:
    """Write `target` atomically; `pages[i]` is page i's result or None when it failed."""
    source = str(source)
    count = page_count(source)
    padded = list(pages) + [None] * (count - len(pages))
    with atomic_target(target) as tmp:
        if document_kind(Path(source)) == "pdf":
            _pdf_from_pdf(source, padded[:count], tmp)
        else:
            _pdf_from_images(source, padded[:count], tmp)
    return target
