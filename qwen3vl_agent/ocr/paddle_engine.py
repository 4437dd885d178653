"""Chinese and Japanese on the CPU: PaddleOCR's PP-OCR models run with ONNX Runtime (rapidocr).

Why this one: the rapidocr wheel ships its models (PP-OCRv6 small detector and recogniser, with
the line-direction classifier), so nothing is downloaded at run time, and the recogniser reads
simplified and traditional Chinese, Japanese kana and kanji, and Latin text in one pass (0 % CER
on generated Chinese and Japanese pages, docs/benchmarks.md). Tesseract has no CJK data here and
reads Chinese pages at ~95 % CER.

Settings, each measured on the 2-core box: one ONNX Runtime thread by default, or as many as the
job has cores when this is the job's one PaddleOCR process (a job loads PaddleOCR in one process
only: a copy in each worker peaked at 815 MB), idle ONNX Runtime threads sleeping instead of
spinning (spinning cost 50 % more CPU per page on a shared box; this and the sessions' memory
settings are in `paddle_sessions`), no line-direction classifier (it flips some long lines into
garbage; pages are turned upright by `page_prep` instead), and the
detector's input capped at 960 px on its long side (an A4 page's 9 pt print is still found; peak
memory 367 MB instead of 673 MB uncapped). Its boxes come in row order, so the reading order is
rebuilt from the boxes (`reading_order`).
"""

from __future__ import annotations

import functools
import importlib.util
import threading
from typing import Any

import numpy as np
from PIL import Image

from qwen3vl_agent.errors import UserFacingError
from qwen3vl_agent.ocr import paddle_sessions
from qwen3vl_agent.ocr.model import Box, OcrLine, OcrPage
from qwen3vl_agent.ocr.reading_order import ordered_lines_and_text

ENGINE_NAME = "paddleocr"
DET_MAX_SIDE = 960
_lock = threading.Lock()  # one page at a time per loaded engine


class PaddleEngineUnavailableError(UserFacingError):
    """rapidocr (PaddleOCR models for ONNX Runtime) is not installed."""


def is_available() -> bool:
    return all(importlib.util.find_spec(name) is not None for name in ("rapidocr", "onnxruntime"))


@functools.lru_cache(maxsize=1)
def _engine(threads: int = 1) -> Any:
    if not is_available():
        raise PaddleEngineUnavailableError(
            "The Chinese/Japanese CPU engine is not installed", "pip install rapidocr onnxruntime"
        )
    return paddle_sessions.new_engine(
        {
            "Global.use_cls": False,
            "Global.log_level": "critical",
            "Det.limit_type": "max",
            "Det.limit_side_len": DET_MAX_SIDE,
            "Rec.rec_batch_num": 1,
            "EngineConfig.onnxruntime.intra_op_num_threads": max(1, threads),
            "EngineConfig.onnxruntime.inter_op_num_threads": 1,
        }
    )


def recognise_lines(image: Image.Image, threads: int = 1) -> list[OcrLine]:
    """The detected lines with their boxes (page pixels) and scores, in the detector's order."""
    pixels = np.ascontiguousarray(np.asarray(image.convert("RGB")))
    with _lock:
        output = _engine(threads)(pixels)
    boxes = output.boxes if output.boxes is not None else []
    texts = output.txts or ()
    scores = output.scores or ()
    lines: list[OcrLine] = []
    for quad, text, score in zip(boxes, texts, scores, strict=False):
        xs = [float(p[0]) for p in quad]
        ys = [float(p[1]) for p in quad]
        if not str(text).strip():
            continue
        lines.append(
            OcrLine(
                text=str(text), box=Box(min(xs), min(ys), max(xs), max(ys)), confidence=round(float(score), 4)
            )
        )
    return lines


def recognise_image(image: Image.Image, index: int = 0, threads: int = 1) -> OcrPage:
    """Read one (upright, straight) page; lines come back in reading order, a table row as one line."""
    lines, text = ordered_lines_and_text(recognise_lines(image, threads))
    return OcrPage(
        index=index, width=image.width, height=image.height, text=text, lines=lines, engine=ENGINE_NAME
    )
