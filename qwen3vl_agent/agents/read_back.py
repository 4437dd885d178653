"""Read-back: were a row's values really entered? Checked on screen with the CPU OCR engine.

After an episode, the values a person can see are looked for in OCR text: first on a fresh
full-resolution capture (forms that keep their values), then on the screenshots the run sent,
newest first (forms that clear after Submit still showed them before it). A value counts as
seen when it appears in the text, exactly or with a small OCR slip (similarity >= 0.85).
Values nobody can read on screen are not checked: empty ones, yes/no flags (a checkbox),
fields whose name says they are secret (password, pin, secret, token), and secret columns
(masked as •••• before they get here). A value must stand as whole words: "Bruno Bauer" is not
seen in "Alice AdamsBruno Bauer" (what a half-filled form typed into looks like).

`SubmitCheck` runs the same check BEFORE a click on Submit (or any target the risk rules call
irreversible): a form that does not show the row's values is not submitted; the model is told
what is missing instead, so a dirty form can never be recorded as a good row.
"""

from __future__ import annotations

import asyncio
import difflib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from qwen3vl_agent.actions.model import CLICK_ACTIONS, ResolvedAction
from qwen3vl_agent.agents.ports import Observation
from qwen3vl_agent.executor.secrets import MASK
from qwen3vl_agent.storage.trajectories import TrajectoryStore

HIDDEN_FIELD = re.compile(r"pass(word)?|pwd|pin|secret|token|cvv|cvc", re.IGNORECASE)
FLAG_VALUES = frozenset({"yes", "no", "true", "false", "y", "n", "1", "0", "x", "on", "off"})


def visible_values(values: dict[str, str], fields: list[str] | None = None) -> dict[str, str]:
    """The values read-back can check (see the module docstring), or exactly `fields` if given."""
    if fields:
        return {f: values[f] for f in fields if f in values and values[f] != MASK}
    return {
        k: v
        for k, v in values.items()
        if v.strip() and v.strip().lower() not in FLAG_VALUES and not HIDDEN_FIELD.search(k) and v != MASK
    }


def _norm(text: str) -> str:
    return " ".join(text.casefold().split())


def value_seen(value: str, text: str, threshold: float = 0.85) -> bool:
    """True when `value` is in `text`, exactly or as a near match of the same number of words."""
    v, t = _norm(value), _norm(text)
    if not v:
        return True
    if re.search(r"(?<!\w)" + re.escape(v) + r"(?!\w)", t):
        return True
    n = len(v.split())
    for line in text.splitlines():
        words = _norm(line).split()
        for i in range(max(1, len(words) - n + 1)):
            window = " ".join(words[i : i + n])
            if difflib.SequenceMatcher(None, v, window).ratio() >= threshold:
                return True
    return False


@dataclass(frozen=True)
class ReadBackReport:
    ok: bool
    missing: list[str]
    source: str  # which image proved it (or the best one)

    @property
    def message(self) -> str:
        if self.ok:
            return f"all values seen ({self.source})"
        return f"not seen on screen: {', '.join(self.missing)} ({self.source})"


def ocr_text(image: Image.Image) -> str:
    """OCR text of a screen image; small images are enlarged first (Tesseract likes ~30 px text)."""
    from qwen3vl_agent.ocr.cpu_engine import CpuOptions, recognise_image

    if image.width < 1600:
        factor = 2
        image = image.resize((image.width * factor, image.height * factor), Image.Resampling.LANCZOS)
    # screen text: Tesseract alone, and no straightening (a window's rules are level already)
    return recognise_image(image, CpuOptions(deskew=False, lang="tesseract")).text


def check_images(values: dict[str, str], images: Iterable[tuple[str, Image.Image]]) -> ReadBackReport:
    """The first image (in the given order) where every value is seen, else the best one."""
    best: ReadBackReport | None = None
    for label, image in images:
        text = ocr_text(image)
        missing = [f"{k}={v!r}" for k, v in values.items() if not value_seen(v, text)]
        report = ReadBackReport(not missing, missing, label)
        if report.ok:
            return report
        if best is None or len(missing) < len(best.missing):
            best = report
    return best or ReadBackReport(not values, [f"{k}={v!r}" for k, v in values.items()], "no image")


async def check_read_back(
    kit: Any, store: TrajectoryStore, run_id: int, values: dict[str, str], fields: list[str] | None = None
) -> ReadBackReport:
    """Read-back for one finished row: the live screen first, then the run's screenshots, newest first."""
    wanted = visible_values(values, fields)
    if not wanted:
        return ReadBackReport(True, [], "no visible values to check")
    live = await kit.observer.grab_image()

    def images() -> Iterator[tuple[str, Image.Image]]:
        yield "the screen now", live
        for step in reversed(store.steps(run_id)):
            if step.screenshot_path and Path(step.screenshot_path).exists() and step.part == 0:
                with Image.open(step.screenshot_path) as img:
                    yield f"the screenshot of step {step.step_index}", img.convert("RGB")

    return await asyncio.to_thread(check_images, wanted, images())


class SubmitCheck:
    """The loop's action gate for one row: read-back before a click on an irreversible target.

    Costs one small OCR of the strip around each click (to find the target's words), and one
    OCR of the screen only for a click on Submit-like targets.
    """

    def __init__(self, values: dict[str, str], fields: list[str] | None = None) -> None:
        from qwen3vl_agent.executor import RiskAssessor

        self.wanted = visible_values(values, fields)
        self._risk = RiskAssessor()

    async def __call__(self, resolved: ResolvedAction, observation: Observation) -> str | None:
        action = resolved.action
        if not self.wanted or action.action not in CLICK_ACTIONS or action.coordinate is None:
            return None
        return await asyncio.to_thread(self._check, resolved, observation)

    def _check(self, resolved: ResolvedAction, observation: Observation) -> str | None:
        from qwen3vl_agent.agents.target_text import text_around
        from qwen3vl_agent.executor import ActionContext

        assert resolved.action.coordinate is not None
        words = text_around(observation, resolved.action.coordinate)
        if not self._risk.assess(resolved.action, ActionContext(target_text=words)).risky:
            return None
        image = observation.source
        if not isinstance(image, Image.Image):
            import io

            image = Image.open(io.BytesIO(observation.image.data)).convert("RGB")
        report = check_images(self.wanted, [("the screen before the click", image)])
        if report.ok:
            return None
        return (
            f"read-back before Submit: the form does not show {', '.join(report.missing)}."
            " Correct those fields (select all, then type the value) before submitting"
        )
