"""What the executor's risk rules need to know about a target: the text around it, by OCR.

The executor cannot see the screen; in confirm-only-risky mode it decides from an
`ActionContext` whether a click is on "Submit/Send/Delete/Pay…" or typing goes into a password
field. The agent has the screenshot it sent, so it reads the strip of the screen around the
click point (the row the target sits on, more to the left: form labels sit left of their fields) with the CPU OCR
engine. Typing and keys go where the last click went, so they reuse that click's text.
Costs one small Tesseract call per click, and only in confirm-only-risky mode.
"""

from __future__ import annotations

import io
from typing import Any

from PIL import Image

from qwen3vl_agent.actions.model import POINTER_ACTIONS, ActionType, ResolvedAction
from qwen3vl_agent.agents.ports import Observation

STRIP_LEFT = 0.5  # of the image width, left of the point (labels sit left of their fields)
STRIP_RIGHT = 0.25  # of the image width, right of the point
STRIP_HALF_HEIGHT = 0.025  # of the image height, above and below


def text_around(observation: Observation, coordinate: tuple[float, float]) -> str:
    """OCR text of the strip of the sent screenshot around a model-space point."""
    from qwen3vl_agent.ocr.cpu_engine import CpuOptions, recognise_image

    source = observation.source
    if isinstance(source, Image.Image):
        image = source  # full resolution: small label text reads far better than on the sent copy
    else:
        image = Image.open(io.BytesIO(observation.image.data)).convert("RGB")
    extent = _extent(observation)
    x = coordinate[0] / extent[0] * image.width
    y = coordinate[1] / extent[1] * image.height
    half_h = max(12.0, STRIP_HALF_HEIGHT * image.height)
    box = (
        max(0, int(x - STRIP_LEFT * image.width)),
        max(0, int(y - half_h)),
        min(image.width, int(x + STRIP_RIGHT * image.width)),
        min(image.height, int(y + half_h)),
    )
    if box[2] <= box[0] or box[3] <= box[1]:
        return ""
    crop = image.crop(box)
    crop = crop.resize((crop.width * 2, crop.height * 2), Image.Resampling.LANCZOS)
    return " ".join(
        recognise_image(
            crop, CpuOptions(psm=6, detect_orientation=False, deskew=False, lang="tesseract")
        ).text.split()
    )


def _extent(observation: Observation) -> tuple[float, float]:
    if observation.geometry is not None:
        ex, ey = observation.geometry.space.extent
        return (float(ex), float(ey))
    return (1000.0, 1000.0)


class TargetTexts:
    """Remembers the text at the last click so typing and keys get the same context."""

    def __init__(self) -> None:
        self.last: str | None = None

    def for_action(self, resolved: ResolvedAction, observation: Observation) -> str | None:
        action = resolved.action
        if action.action in POINTER_ACTIONS and action.coordinate is not None:
            self.last = text_around(observation, action.coordinate)
            return self.last
        if action.action in (ActionType.TYPE, ActionType.KEY):
            return self.last
        return None


def context_for(text: str | None) -> Any:
    from qwen3vl_agent.executor import ActionContext

    return ActionContext(target_text=text) if text else None
