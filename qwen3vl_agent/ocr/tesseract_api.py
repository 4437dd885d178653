"""Tesseract in this process through its C API (tesserocr), or as a program (pytesseract) without it.

Why: the program path starts a `tesseract` process per call, which loads eng+deu+fra again each
time (≈0.3–0.5 s a page on the 2-core box, docs/benchmarks.md "## OCR"). tesserocr keeps one
initialised `TessBaseAPI` per language set and process, so a worker pays for loading once.
Both paths return Tesseract's own TSV (the same columns `pytesseract.image_to_data` gives) and
orientation-and-script detection, so the engine above does not care which one ran.
"""

from __future__ import annotations

import functools
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from qwen3vl_agent.errors import UserFacingError

TSV_COLUMNS = (
    "level",
    "page_num",
    "block_num",
    "par_num",
    "line_num",
    "word_num",
    "left",
    "top",
    "width",
    "height",
    "conf",
    "text",
)
_TESSDATA_CANDIDATES = (
    "/usr/share/tesseract-ocr/5/tessdata",
    "/usr/share/tesseract-ocr/4.00/tessdata",
    "/usr/share/tessdata",
    "/usr/local/share/tessdata",
    "/opt/homebrew/share/tessdata",
)


class CpuEngineUnavailableError(UserFacingError):
    """Tesseract is not installed or has no language data."""


class TesseractFailedError(UserFacingError):
    """Tesseract could not read this page."""


@dataclass(frozen=True)
class Orientation:
    """Tesseract's orientation and script detection for one page."""

    rotate_cw: int  # degrees to turn the page clockwise so its text is upright
    confidence: float
    script: str  # "Latin", "Han", "Japanese", "Hangul", "Cyrillic", ...
    script_confidence: float


def _single_thread_env() -> None:
    # Tesseract's OpenMP threads spin on small machines: one thread per call, pages in processes
    os.environ["OMP_THREAD_LIMIT"] = "1"


def tessdata_dir() -> str | None:
    """Where the language data is: TESSDATA_PREFIX, else the usual system folders."""
    env = os.environ.get("TESSDATA_PREFIX")
    if env and Path(env).is_dir():
        return env
    for candidate in _TESSDATA_CANDIDATES:
        if any(Path(candidate).glob("*.traineddata")):
            return candidate
    return None


def uses_c_api() -> bool:
    """True when tesserocr is importable and finds the language data."""
    try:
        import tesserocr  # noqa: F401
    except ImportError:
        return False
    return tessdata_dir() is not None


@functools.lru_cache(maxsize=1)
def available_languages() -> tuple[str, ...]:
    _single_thread_env()
    if uses_c_api():
        folder = tessdata_dir()
        assert folder is not None
        return tuple(sorted(p.name.removesuffix(".traineddata") for p in Path(folder).glob("*.traineddata")))
    import pytesseract

    try:
        return tuple(pytesseract.get_languages(config=""))
    except (pytesseract.TesseractNotFoundError, OSError) as exc:
        raise CpuEngineUnavailableError(
            "Tesseract is not installed", "run scripts/install-system-deps.sh (apt install tesseract-ocr)"
        ) from exc


# ---------------------------------------------------------------- the C API (tesserocr)

_api_lock = threading.Lock()  # one page at a time per initialised API (it is not re-entrant)
_apis: dict[tuple[str, int], Any] = {}  # one initialised API per language set and page mode


def _api(lang: str, psm: int) -> Any:
    """The initialised API for `lang` and `psm` (call with `_api_lock` held)."""
    import tesserocr

    if (lang, psm) not in _apis:
        try:
            _apis[lang, psm] = tesserocr.PyTessBaseAPI(path=tessdata_dir(), lang=lang, psm=psm)
        except RuntimeError as exc:
            raise CpuEngineUnavailableError(
                f"Tesseract cannot load the languages {lang}",
                "install them, e.g. apt install tesseract-ocr-deu",
            ) from exc
    return _apis[lang, psm]


def release() -> None:
    """End the initialised APIs (their language models, ≈80 MB for eng+deu+fra, ≈58 MB for osd);
    the next call initialises them again (≈0.13 s / 0.06 s)."""
    with _api_lock:
        for api in _apis.values():
            api.End()
        _apis.clear()


def _parse_tsv(tsv: str) -> dict[str, list[Any]]:
    data: dict[str, list[Any]] = {name: [] for name in TSV_COLUMNS}
    for row in tsv.splitlines():
        cells = row.split("\t")
        if len(cells) < len(TSV_COLUMNS) or not cells[0].isdigit():
            continue  # the header line of the program's output
        for name, cell in zip(TSV_COLUMNS[:-1], cells[: len(TSV_COLUMNS) - 1], strict=True):
            data[name].append(float(cell) if name == "conf" else int(cell))
        data["text"].append("\t".join(cells[len(TSV_COLUMNS) - 1 :]))
    return data


def image_data(image: Image.Image, lang: str, psm: int) -> dict[str, list[Any]]:
    """Tesseract's words with their boxes, confidences and block/paragraph/line numbers."""
    _single_thread_env()
    if uses_c_api():
        with _api_lock:
            api = _api(lang, psm)
            api.SetImage(image)
            tsv = api.GetTSVText(0)
            api.Clear()
        return _parse_tsv(tsv)
    import pytesseract

    try:
        data: dict[str, list[Any]] = pytesseract.image_to_data(
            image, lang=lang, config=f"--psm {psm}", output_type=pytesseract.Output.DICT
        )
    except pytesseract.TesseractNotFoundError as exc:
        raise CpuEngineUnavailableError(
            "Tesseract is not installed", "run scripts/install-system-deps.sh"
        ) from exc
    except pytesseract.TesseractError as exc:
        raise TesseractFailedError(f"Tesseract failed on this page: {exc.message or exc}") from exc
    return data


def detect_orientation(image: Image.Image) -> Orientation | None:
    """Orientation and script of a page; None when there is too little text to tell."""
    _single_thread_env()
    if "osd" not in available_languages():
        return None
    if uses_c_api():
        import tesserocr

        with _api_lock:
            api = _api("osd", int(tesserocr.PSM.OSD_ONLY))
            api.SetImage(image)
            found = api.DetectOrientationScript()
            api.Clear()
        if not found:
            return None
        # orient_deg counts the other way round from the program's "Rotate:" (measured: a page
        # turned 90° anticlockwise reports 270 and needs a 90° clockwise turn)
        return Orientation(
            (360 - int(found["orient_deg"])) % 360,
            float(found["orient_conf"]),
            str(found["script_name"]),
            float(found["script_conf"]),
        )
    import pytesseract

    try:
        osd = pytesseract.image_to_osd(image, config="--psm 0")
    except pytesseract.TesseractError:
        return None
    rotate = re.search(r"Rotate:\s*(\d+)", osd)
    conf = re.search(r"Orientation confidence:\s*([\d.]+)", osd)
    script = re.search(r"Script:\s*(\S+)", osd)
    script_conf = re.search(r"Script confidence:\s*([\d.]+)", osd)
    if not rotate or not conf:
        return None
    return Orientation(
        int(rotate.group(1)) % 360,
        float(conf.group(1)),
        script.group(1) if script else "",
        float(script_conf.group(1)) if script_conf else 0.0,
    )
