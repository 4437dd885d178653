"""How a CPU OCR job spreads its pages over processes so that PaddleOCR is loaded only once.

Tesseract is light (≈80 MB a process) and single-threaded, so Latin pages run in one worker per
core. PaddleOCR (Chinese, Japanese) weighs ≈250 MB while it reads a page, and a copy in each
worker took a Chinese job to 815 MB (docs/benchmarks.md). So a job starts in the Latin mode,
where a worker hands a page that Tesseract is unsure of back to the job instead of loading
PaddleOCR (`CpuOptions.hand_off_cjk`), and at the first such page it switches, for the rest of
the job, to one worker that holds both engines and gives ONNX Runtime all the cores
(`paddle_threads`), reading with PaddleOCR first (`paddle_first`). The workers of the Latin mode
finish their pages and end before that one starts. A job for `--lang chi_sim`/`jpn` starts in
the CJK mode.
"""

from __future__ import annotations

import asyncio
import dataclasses

from qwen3vl_agent.agents.ocr_workers import WorkerPool
from qwen3vl_agent.ocr.cpu_engine import CpuOptions
from qwen3vl_agent.ocr.languages import plan_languages


class CpuMode:
    """The CPU options for the next page, and the switch to the one-process CJK mode."""

    def __init__(self, base: CpuOptions, cores: int) -> None:
        self.cores = max(1, cores)
        plan = plan_languages(base.lang, base.languages)
        self.cjk = plan.engine == "paddle"
        self._latin = dataclasses.replace(base, hand_off_cjk=plan.engine == "auto")
        self._cjk = dataclasses.replace(base, paddle_first=True, paddle_threads=self.cores)
        self._switch: asyncio.Future[None] | None = None

    @property
    def switched(self) -> bool:
        """True once the job met a page for PaddleOCR in the Latin mode and switched."""
        return self._switch is not None

    @property
    def workers(self) -> int:
        return 1 if self.cjk else self.cores

    def options(self) -> CpuOptions:
        return self._cjk if self.cjk else self._latin

    async def ready(self) -> None:
        """Wait while the job is switching (the Latin workers finishing their pages)."""
        if self._switch is not None:
            await asyncio.shield(self._switch)

    async def enter_cjk(self, pool: WorkerPool) -> None:
        """Switch to the CJK mode (once; later callers wait for the first one's switch)."""
        if self._switch is None:
            self.cjk = True
            self._switch = asyncio.ensure_future(asyncio.to_thread(pool.resize, 1))
        await asyncio.shield(self._switch)
