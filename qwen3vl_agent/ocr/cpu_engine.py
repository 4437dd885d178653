"""The CPU engine: Tesseract (Debian's tesseract-ocr) through pytesseract; no GPU, no network.

Chosen by measurement (docs: /work/shared/reference/cpu-ocr.md): 0.51 % CER with eng+deu+fra,
and its layout analysis keeps two-column pages in reading order. Tesseract's OpenMP threads
spin on small machines, so each call runs single-threaded (`OMP_THREAD_LIMIT=1`) and a job runs
pages in parallel *processes* instead. A page that reads badly is checked with Tesseract's
orientation detection and read again upright.
"""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass
from typing import Any

from PIL import Image

from qwen3vl_agent.errors import UserFacingError
from qwen3vl_agent.ocr.inputs import LoadOptions, PageInput, PageRef, load_page
from qwen3vl_agent.ocr.model import Box, OcrLine, OcrPage

PREFERRED_LANGUAGES = ("eng", "deu", "fra")
ENGINE_NAME = "tesseract"
_LOW_CONFIDENCE = 0.55
_OSD_MIN_CONFIDENCE = 1.5


class CpuEngineUnavailableError(UserFacingError):
    """Tesseract is not installed or has no language data."""


@dataclass(frozen=True)
class CpuOptions:
    languages: str | None = None  # "eng+deu"; None = eng+deu+fra where installed
    psm: int = 3  # fully automatic page segmentation, no OSD
    detect_orientation: bool = True


def _single_thread_env() -> None:
    os.environ["OMP_THREAD_LIMIT"] = "1"  # pytesseract's subprocess inherits it


@functools.lru_cache(maxsize=1)
def available_languages() -> tuple[str, ...]:
    import pytesseract

    _single_thread_env()
    try:
        return tuple(pytesseract.get_languages(config=""))
    except (pytesseract.TesseractNotFoundError, OSError) as exc:
        raise CpuEngineUnavailableError(
            "Tesseract is not installed", "run scripts/install-system-deps.sh (apt install tesseract-ocr)"
        ) from exc


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
    import pytesseract

    try:
        data = pytesseract.image_to_data(
            image, lang=lang, config=f"--psm {psm}", output_type=pytesseract.Output.DICT
        )
    except pytesseract.TesseractNotFoundError as exc:
        raise CpuEngineUnavailableError(
            "Tesseract is not installed", "run scripts/install-system-deps.sh"
        ) from exc
    except pytesseract.TesseractError as exc:
        raise UserFacingError(f"Tesseract failed on this page: {exc.message or exc}") from exc
    return _lines_from_data(data)


def detect_rotation(image: Image.Image) -> int:
    """Degrees (0, 90, 180, 270) to turn the page clockwise so its text is upright; 0 if unsure."""
    import pytesseract

    try:
        osd = pytesseract.image_to_osd(image, config="--psm 0")
    except pytesseract.TesseractError:
        return 0  # too little text to tell
    rotate = re.search(r"Rotate:\s*(\d+)", osd)
    conf = re.search(r"Orientation confidence:\s*([\d.]+)", osd)
    if not rotate or not conf or float(conf.group(1)) < _OSD_MIN_CONFIDENCE:
        return 0
    return int(rotate.group(1)) % 360


def _mean_conf(lines: list[OcrLine]) -> float:
    page = OcrPage(0, 1, 1, "", lines)
    return page.confidence or 0.0


def _looks_sideways(lines: list[OcrLine]) -> bool:
    """Tesseract reads vertical text lines too, but then its boxes stand upright: turn the page."""
    long = [ln for ln in lines if ln.box is not None and len(ln.text) >= 8]
    tall = [ln for ln in long if ln.box is not None and ln.box.height > ln.box.width]
    return bool(long) and len(tall) * 2 > len(long)


def recognise_image(image: Image.Image, options: CpuOptions | None = None, index: int = 0) -> OcrPage:
    """Read one page image; boxes are in the pixels of the upright page."""
    options = options or CpuOptions()
    _single_thread_env()
    lang = options.languages or default_languages()
    gray = image.convert("L")
    lines, text = _recognise(gray, lang, options.psm)
    rotation = 0
    suspicious = len(lines) < 2 or _mean_conf(lines) < _LOW_CONFIDENCE or _looks_sideways(lines)
    if options.detect_orientation and suspicious:
        rotation = detect_rotation(gray)
        if rotation:
            gray = gray.rotate(-rotation, expand=True)  # PIL turns counter-clockwise
            turned_lines, turned_text = _recognise(gray, lang, options.psm)
            if _looks_sideways(lines) or _mean_conf(turned_lines) >= _mean_conf(lines):
                lines, text = turned_lines, turned_text
            else:
                rotation, gray = 0, image.convert("L")
    return OcrPage(
        index=index,
        width=gray.width,
        height=gray.height,
        text=text,
        lines=lines,
        engine=f"{ENGINE_NAME}:{lang}",
        rotation=rotation,
    )


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
