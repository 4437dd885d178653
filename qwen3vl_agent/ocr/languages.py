"""`--lang`: which CPU engine reads a page, from the language the user names or, with `auto`, per page.

Tesseract (with the Latin languages installed here) reads Latin pages best and keeps their
layout; PaddleOCR's models (`paddle_engine`) read Chinese and Japanese, and the Latin text mixed
into them. `auto` reads with Tesseract first and, when Tesseract is unsure of the page (mean
confidence below `AUTO_PROBE_CONFIDENCE`: measured 0.95 on Latin pages, 0.06–0.19 on Chinese and
Japanese ones, 0.70 on a mixed Chinese/English invoice), reads it again with PaddleOCR and keeps
whichever engine is clearly surer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from qwen3vl_agent.errors import UserFacingError

# Tesseract's names for the scripts PaddleOCR reads (its recogniser covers them all at once)
PADDLE_LANGUAGES = frozenset({"chi_sim", "chi_tra", "jpn", "chi_sim_vert", "chi_tra_vert", "jpn_vert"})
AUTO_PROBE_CONFIDENCE = 0.85
AUTO_MARGIN = 0.10  # PaddleOCR's page confidence must beat Tesseract's by this much


class LanguageError(UserFacingError):
    """`--lang` names a language no installed engine reads."""


@dataclass(frozen=True)
class LanguagePlan:
    engine: Literal["auto", "tesseract", "paddle"]
    tesseract: str | None = None  # Tesseract's languages ("eng+deu"); None = its default set


def plan_languages(lang: str | None, tesseract_languages: str | None = None) -> LanguagePlan:
    """What `--lang` (and the older `--languages`, Tesseract's own list) ask for."""
    choice = (lang or "auto").strip()
    if choice == "auto":
        return LanguagePlan("auto", tesseract_languages or None)
    if choice == "tesseract":  # Tesseract alone, with its languages (screen text, read-back)
        return LanguagePlan("tesseract", tesseract_languages or None)
    parts = [p for p in choice.split("+") if p]
    if not parts:
        raise LanguageError(f"--lang {lang!r} names no language", "e.g. --lang auto, eng, chi_sim, jpn")
    if any(p in PADDLE_LANGUAGES for p in parts):
        return LanguagePlan("paddle")
    return LanguagePlan("tesseract", "+".join(parts))


def check_languages(lang: str | None, tesseract_languages: str | None = None) -> LanguagePlan:
    """The plan, after checking that its engine and languages are installed (a clear error if not)."""
    from qwen3vl_agent.ocr import paddle_engine
    from qwen3vl_agent.ocr.tesseract_api import available_languages

    plan = plan_languages(lang, tesseract_languages)
    if plan.engine == "paddle" and not paddle_engine.is_available():
        raise LanguageError(
            f"--lang {lang} needs the Chinese/Japanese CPU engine", "pip install rapidocr onnxruntime"
        )
    if plan.tesseract:
        have = set(available_languages())
        missing = [p for p in plan.tesseract.split("+") if p not in have]
        if missing:
            raise LanguageError(
                f"Tesseract has no language data for {', '.join(missing)}",
                f"install it (e.g. apt install tesseract-ocr-{missing[0].replace('_', '-')}) "
                "or use --lang auto, chi_sim or jpn",
            )
    return plan
