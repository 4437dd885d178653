"""The CPU engine: Tesseract (Debian's tesseract-ocr data) in-process through its C API
(tesserocr; pytesseract's program calls when tesserocr is missing); no GPU, no network.

Chosen by measurement (docs: /work/shared/reference/cpu-ocr.md): 0.51 % CER with eng+deu+fra,
and its layout analysis keeps two-column pages in reading order. Tesseract's OpenMP threads
spin on small machines, so each call runs single-threaded (`OMP_THREAD_LIMIT=1`) and a job runs
pages in parallel *processes* instead. Every page is straightened first (`page_prep`: a skew of
6° costs Tesseract 61 % CER); a page that reads badly or sideways is checked with Tesseract's
orientation detection and read again upright. Chinese and Japanese pages go to the PaddleOCR
engine (`paddle_engine`), by `--lang` or, with `--lang auto`, per page (`languages`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from PIL import Image

from qwen3vl_agent.ocr import paddle_engine
from qwen3vl_agent.ocr.inputs import LoadOptions, PageInput, PageRef, load_page
from qwen3vl_agent.ocr.languages import AUTO_MARGIN, AUTO_PROBE_CONFIDENCE, plan_languages
from qwen3vl_agent.ocr.model import Box, OcrLine, OcrPage
from qwen3vl_agent.ocr.page_prep import prepare_page, straighten, turn_upright
from qwen3vl_agent.ocr.reading_order import in_reading_order, ordered_lines_and_text
from qwen3vl_agent.ocr.tesseract_api import (
    CpuEngineUnavailableError,
    available_languages,
    detect_orientation,
    image_data,
)

__all__ = [
    "CpuEngineUnavailableError",
    "CpuOptions",
    "available_languages",
    "default_languages",
    "recognise_image",
    "run_page",
]

PREFERRED_LANGUAGES = ("eng", "deu", "fra")
ENGINE_NAME = "tesseract"
_LOW_CONFIDENCE = 0.55
_OSD_MIN_CONFIDENCE = 1.5


@dataclass(frozen=True)
class CpuOptions:
    languages: str | None = None  # Tesseract's "eng+deu"; None = eng+deu+fra where installed
    lang: str = "auto"  # auto | Tesseract codes (eng, deu+fra...) | chi_sim, chi_tra, jpn (PaddleOCR)
    psm: int = 3  # fully automatic page segmentation, no OSD
    detect_orientation: bool = True
    deskew: bool = True


def default_languages() -> str:
    have = available_languages()
    chosen = [lang for lang in PREFERRED_LANGUAGES if lang in have]
    if not chosen:
        chosen = [lang for lang in have if lang != "osd"][:1]
    if not chosen:
        raise CpuEngineUnavailableError("Tesseract has no language data", "apt install tesseract-ocr-eng")
    return "+".join(chosen)


def is_available() -> bool:
    try:
        default_languages()
    except CpuEngineUnavailableError:
        return False
    return True


def _lines_from_data(data: dict[str, list[Any]]) -> tuple[list[OcrLine], str]:
    """Group Tesseract's words into lines (block, paragraph, line) and rebuild the page text."""
    groups: dict[tuple[int, int, int], list[int]] = {}
    for i, word in enumerate(data["text"]):
        conf = float(data["conf"][i])
        if conf < 0 or not str(word).strip():
            continue
        key = (int(data["block_num"][i]), int(data["par_num"][i]), int(data["line_num"][i]))
        groups.setdefault(key, []).append(i)
    lines: list[OcrLine] = []
    text_parts: list[str] = []
    previous: tuple[int, int] | None = None
    for key, idx in groups.items():  # insertion order = Tesseract's reading order
        words = [str(data["text"][i]).strip() for i in idx]
        left = min(int(data["left"][i]) for i in idx)
        top = min(int(data["top"][i]) for i in idx)
        right = max(int(data["left"][i]) + int(data["width"][i]) for i in idx)
        bottom = max(int(data["top"][i]) + int(data["height"][i]) for i in idx)
        weights = [len(w) for w in words]
        conf = sum(float(data["conf"][i]) * n for i, n in zip(idx, weights, strict=True)) / max(
            1, sum(weights)
        )
        text = " ".join(words)
        lines.append(OcrLine(text=text, box=Box(left, top, right, bottom), confidence=round(conf / 100.0, 4)))
        if previous is not None and previous != key[:2]:
            text_parts.append("")  # blank line between paragraphs
        text_parts.append(text)
        previous = key[:2]
    return lines, "\n".join(text_parts)


def _recognise(image: Image.Image, lang: str, psm: int) -> tuple[list[OcrLine], str]:
    return _lines_from_data(image_data(image, lang, psm))


def detect_rotation(image: Image.Image) -> int:
    """Degrees (0, 90, 180, 270) to turn the page clockwise so its text is upright; 0 if unsure."""
    found = detect_orientation(image)
    if found is None or found.confidence < _OSD_MIN_CONFIDENCE:
        return 0
    return found.rotate_cw


def _mean_conf(lines: list[OcrLine]) -> float:
    page = OcrPage(0, 1, 1, "", lines)
    return page.confidence or 0.0


def _looks_sideways(lines: list[OcrLine]) -> bool:
    """Tesseract reads vertical text lines too, but then its boxes stand upright: turn the page."""
    long = [ln for ln in lines if ln.box is not None and len(ln.text) >= 8]
    tall = [ln for ln in long if ln.box is not None and ln.box.height > ln.box.width]
    return bool(long) and len(tall) * 2 > len(long)


def recognise_image(image: Image.Image, options: CpuOptions | None = None, index: int = 0) -> OcrPage:
    """Read one page image; boxes are in the pixels of the upright, straightened page."""
    options = options or CpuOptions()
    plan = plan_languages(options.lang, options.languages)
    if plan.engine == "paddle":
        prepared = prepare_page(image.convert("RGB"), orientation=options.detect_orientation)
        page = paddle_engine.recognise_image(prepared.image, index)
        page.rotation, page.skew = prepared.rotation, prepared.skew
        return page
    page, gray = _tesseract_page(image, options, plan.tesseract or default_languages(), index)
    confidence = page.confidence or 0.0
    if plan.engine == "auto" and confidence < AUTO_PROBE_CONFIDENCE and paddle_engine.is_available():
        other = paddle_engine.recognise_image(gray, index)
        if (other.confidence or 0.0) >= confidence + AUTO_MARGIN:
            other.rotation, other.skew = page.rotation, page.skew
            return other
    return page


def _tesseract_page(
    image: Image.Image, options: CpuOptions, lang: str, index: int
) -> tuple[OcrPage, Image.Image]:
    """Tesseract's reading of the page, and the prepared (upright, straight) image it read."""
    original = image.convert("L")
    prepared = straighten(original) if options.deskew else None
    gray = prepared.image if prepared else original
    lines, text = _recognise(gray, lang, options.psm)
    rotation, skew = 0, prepared.skew if prepared else 0.0
    suspicious = len(lines) < 2 or _mean_conf(lines) < _LOW_CONFIDENCE or _looks_sideways(lines)
    if options.detect_orientation and suspicious:
        rotation = detect_rotation(original)
        if rotation:
            upright = turn_upright(original, rotation)
            turned = straighten(upright) if options.deskew else None
            turned_gray = turned.image if turned else upright
            turned_lines, turned_text = _recognise(turned_gray, lang, options.psm)
            if _looks_sideways(lines) or _mean_conf(turned_lines) >= _mean_conf(lines):
                lines, text, gray = turned_lines, turned_text, turned_gray
                skew = turned.skew if turned else 0.0
            else:
                rotation = 0
    # Tesseract keeps columns of prose in order but reads a borderless table column by column
    # (a digit table: 67.6 % CER); the boxes' reading order reads it row by row (0.0 %) and
    # changes nothing on the other test pages (docs/benchmarks.md)
    _, text = ordered_lines_and_text(lines)
    page = OcrPage(
        index=index,
        width=gray.width,
        height=gray.height,
        text=text,
        lines=in_reading_order(lines),
        engine=f"{ENGINE_NAME}:{lang}",
        rotation=rotation,
        skew=skew,
    )
    return page, gray


def page_from_text_layer(page: PageInput) -> OcrPage:
    """A page whose PDF text layer was used instead of OCR."""
    lines = page.text_lines or []
    return OcrPage(
        index=page.ref.index,
        width=page.width,
        height=page.height,
        text=page.text_layer_text,
        lines=lines,
        engine="pdf-text-layer",
        source="text-layer",
        dpi=page.dpi,
    )


def run_page(ref: PageRef, load: LoadOptions, options: CpuOptions | None = None) -> dict[str, Any]:
    """Load and read one page; the entry point of the job's worker processes (returns a dict)."""
    page = load_page(ref, load)
    if page.text_lines is not None:
        return page_from_text_layer(page).to_dict()
    assert page.image is not None
    result = recognise_image(page.image, options, index=ref.index)
    result.dpi = page.dpi
    return result.to_dict()
