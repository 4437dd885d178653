"""The CPU engine: Tesseract (Debian's tesseract-ocr data) in-process through its C API
(tesserocr; pytesseract's program calls when tesserocr is missing); no GPU, no network.

Chosen by measurement (docs: /work/shared/reference/cpu-ocr.md): 0.51 % CER with eng+deu+fra,
and its layout analysis keeps two-column pages in reading order. Tesseract's OpenMP threads
spin on small machines, so each call runs single-threaded (`OMP_THREAD_LIMIT=1`) and a job runs
pages in parallel *processes* instead. Every page is straightened first (`page_prep`: a skew of
6° costs Tesseract 61 % CER); a page that reads badly or sideways is checked with Tesseract's
orientation detection and read again upright. Chinese and Japanese pages go to the PaddleOCR
engine (`paddle_engine`), by `--lang` or, with `--lang auto`, per page (`languages`).

An OCR job keeps PaddleOCR in one process (it weighs ~250 MB while it reads a page): its page
workers read with Tesseract and hand a page that needs PaddleOCR back to the job (`hand_off_cjk`),
which goes on in one process that holds both engines (`paddle_first`, `paddle_threads`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from PIL import Image

from qwen3vl_agent.ocr import heap, paddle_engine
from qwen3vl_agent.ocr.inputs import LoadOptions, PageInput, PageRef, load_page
from qwen3vl_agent.ocr.languages import AUTO_MARGIN, AUTO_PROBE_CONFIDENCE, plan_languages
from qwen3vl_agent.ocr.model import Box, OcrLine, OcrPage
from qwen3vl_agent.ocr.page_prep import straighten, turn_upright
from qwen3vl_agent.ocr.reading_order import in_reading_order, ordered_lines_and_text
from qwen3vl_agent.ocr.tesseract_api import (
    CpuEngineUnavailableError,
    available_languages,
    detect_orientation,
    image_data,
)
from qwen3vl_agent.ocr.tesseract_api import release as release_tesseract

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
    # `--lang auto` in a job's page workers: a page Tesseract is unsure of comes back as a hand-off
    # (`run_page`) instead of loading PaddleOCR in this process
    hand_off_cjk: bool = False
    # `--lang auto` in the job's one PaddleOCR process: while the pages come out CJK, PaddleOCR
    # reads first and Tesseract only when PaddleOCR finds no Chinese or Japanese on the page
    # (saves Tesseract's pass on CJK pages); after a Latin page, Tesseract first again (saves
    # PaddleOCR's pass on runs of Latin pages)
    paddle_first: bool = False
    paddle_threads: int = 1  # ONNX Runtime threads for PaddleOCR


class _Run:
    """What the last `paddle_first` page in this process turned out to be (runs of pages in one
    language are the rule in a document)."""

    cjk = True


_CJK_SHARE = 0.10  # of a page's characters, for PaddleOCR's reading to count as a CJK page
_PADDLE_SURE = 0.90  # below this page confidence (or few/tall lines) the page may be turned


def cjk_share(text: str) -> float:
    """The share of CJK characters (Han, kana, Hangul, CJK punctuation) among the non-space ones."""
    chars = [c for c in text if not c.isspace()]
    if not chars:
        return 0.0
    cjk = sum(
        1
        for c in chars
        if "\u3000" <= c <= "\u30ff"
        or "\u3400" <= c <= "\u9fff"
        or "\uac00" <= c <= "\ud7af"
        or "\uff00" <= c <= "\uffef"
    )
    return cjk / len(chars)


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


def _paddle_page(image: Image.Image, index: int, options: CpuOptions, rotation: int = 0) -> OcrPage:
    """PaddleOCR on the page turned by `rotation` and straightened. Tesseract's orientation
    detection runs only when the reading looks turned (few lines, unsure, standing boxes): upright
    pages (0.98-1.0 confidence) skip it, and its model (~60 MB) stays unloaded."""
    rgb = image.convert("RGB")
    prepared = straighten(turn_upright(rgb, rotation)) if options.deskew else None
    _lean(options)
    page = paddle_engine.recognise_image(
        prepared.image if prepared else turn_upright(rgb, rotation), index, options.paddle_threads
    )
    page.rotation, page.skew = rotation, prepared.skew if prepared else 0.0
    unsure = len(page.lines) < 2 or (page.confidence or 0.0) < _PADDLE_SURE or _looks_sideways(page.lines)
    if options.detect_orientation and rotation == 0 and unsure:
        turn = detect_rotation(image.convert("L"))
        if turn:
            other = _paddle_page(image, index, options, turn)
            if _looks_sideways(page.lines) or (other.confidence or 0.0) >= (page.confidence or 0.0):
                return other
    return page


def _lean(options: CpuOptions) -> None:
    """In the job's one process with both engines: Tesseract's models (≈80 MB, osd ≈58 MB) are
    let go before PaddleOCR reads (its activations take ≈150-200 MB), so the two never add up;
    reloading them costs ≈0.13 s, only when a page needs Tesseract after PaddleOCR."""
    if options.paddle_first:
        release_tesseract()
        heap.trim()


def _surer(tesseract: OcrPage, paddle: OcrPage) -> OcrPage:
    """`--lang auto`'s choice: Tesseract unless it is unsure and PaddleOCR clearly surer."""
    confidence = tesseract.confidence or 0.0
    if confidence < AUTO_PROBE_CONFIDENCE and (paddle.confidence or 0.0) >= confidence + AUTO_MARGIN:
        return paddle
    return tesseract


def recognise_image(
    image: Image.Image, options: CpuOptions | None = None, index: int = 0, probe: OcrPage | None = None
) -> OcrPage:
    """Read one page; boxes are in the pixels of the upright, straightened page. `probe`:
    Tesseract's reading of it, done elsewhere (a job's page worker), for `--lang auto`."""
    options = options or CpuOptions()
    plan = plan_languages(options.lang, options.languages)
    if plan.engine == "paddle":
        return _paddle_page(image, index, options)
    if plan.engine == "auto" and probe is not None and paddle_engine.is_available():
        return _surer(probe, _paddle_page(image, index, options, probe.rotation))
    if plan.engine == "auto" and options.paddle_first and paddle_engine.is_available():
        result = _paddle_or_tesseract_first(image, options, plan.tesseract, index)
        _Run.cjk = result.engine == paddle_engine.ENGINE_NAME
        return result
    return _tesseract_first(image, options, plan.engine == "auto", plan.tesseract, index)


def _paddle_or_tesseract_first(
    image: Image.Image, options: CpuOptions, languages: str | None, index: int
) -> OcrPage:
    if not _Run.cjk:
        return _tesseract_first(image, options, True, languages, index)
    first = _paddle_page(image, index, options)
    if cjk_share(first.text) >= _CJK_SHARE:
        return first
    page, _ = _tesseract_page(image, options, languages or default_languages(), index)
    return _surer(page, first)


def _tesseract_first(
    image: Image.Image, options: CpuOptions, auto: bool, languages: str | None, index: int
) -> OcrPage:
    page, gray = _tesseract_page(image, options, languages or default_languages(), index)
    confidence = page.confidence or 0.0
    if auto and confidence < AUTO_PROBE_CONFIDENCE and paddle_engine.is_available():
        _lean(options)
        other = paddle_engine.recognise_image(gray, index, options.paddle_threads)
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
    """Load and read one page; the entry point of the job's worker processes (returns a dict).

    With `hand_off_cjk` and `--lang auto`, a page Tesseract is unsure of comes back as
    `{"hand_off": "paddle", "probe": Tesseract's page}` for the job's PaddleOCR process
    (`run_page_with_probe`)."""
    options = options or CpuOptions()
    try:
        page = load_page(ref, load)
        if page.text_lines is not None:
            return page_from_text_layer(page).to_dict()
        assert page.image is not None
        plan = plan_languages(options.lang, options.languages)
        if options.hand_off_cjk and plan.engine == "auto" and paddle_engine.is_available():
            result, _ = _tesseract_page(page.image, options, plan.tesseract or default_languages(), ref.index)
            result.dpi = page.dpi
            if (result.confidence or 0.0) < AUTO_PROBE_CONFIDENCE:
                return {"hand_off": "paddle", "probe": result.to_dict()}
            return result.to_dict()
        result = recognise_image(page.image, options, index=ref.index)
        result.dpi = page.dpi
        return result.to_dict()
    finally:
        heap.trim()


def run_page_with_probe(
    ref: PageRef, load: LoadOptions, options: CpuOptions, probe: dict[str, Any]
) -> dict[str, Any]:
    """A page handed off by a page worker, read by PaddleOCR and compared with Tesseract's reading."""
    try:
        page = load_page(ref, load)
        assert page.image is not None
        result = recognise_image(page.image, options, index=ref.index, probe=OcrPage.from_dict(probe))
        result.dpi = page.dpi
        return result.to_dict()
    finally:
        heap.trim()
