"""OCR batches as persisted, resumable jobs.

`create_job` finds the documents, counts their pages and writes one row per page; `OcrJob.run`
works through the pages that are still pending: through the inference service's queue (never
more pages in flight than the queue allows) for Qwen3-VL, or through a pool of worker processes
for the CPU engine. Each result is stored as soon as it exists; a failed page is stored with its
reason and the job goes on. When Qwen3-VL is unavailable (at the start or mid-way) the job falls
back to the CPU engine and says so in its events. Finished documents are exported.
"""

from __future__ import annotations

import asyncio
import functools
import multiprocessing
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast

from qwen3vl_agent.agents.ocr_job_store import JobCounts, OcrJobStore, PendingPage
from qwen3vl_agent.errors import EngineUnavailableError, UserFacingError
from qwen3vl_agent.ocr import cpu_engine
from qwen3vl_agent.ocr.exports import FORMATS, export_document
from qwen3vl_agent.ocr.inputs import (
    LoadOptions,
    PageRef,
    close_cached_pdfs,
    discover,
    document_kind,
    load_page,
    page_count,
)
from qwen3vl_agent.ocr.model import OcrPage
from qwen3vl_agent.ocr.qwen_engine import MODES, Mode, OcrSubmitter, QwenOcrEngine, QwenOptions, check_schema

ENGINES = ("qwen", "cpu")


@dataclass
class OcrJobOptions:
    """Everything a job needs to run again after a restart (stored with the job as JSON)."""

    engine: str = "qwen"
    mode: str = "text"
    schema: dict[str, Any] | None = None
    dpi: int = 200
    use_text_layer: bool = True
    formats: list[str] = field(default_factory=lambda: ["txt"])
    out_dir: str | None = None
    include: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    roots: list[str] = field(default_factory=list)  # folders given, for the exports' sub-folders
    languages: str | None = None
    budget_tokens: int = 2048
    max_tokens: int | None = None  # per page answer; None = the prompt file's value per mode
    concurrency: int | None = None  # Qwen pages in flight; None = the queue's max_in_flight
    workers: int | None = None  # CPU worker processes; None = CPU count
    max_pixels: int = 200_000_000
    cluster: str | None = None  # a Ray address: the pages run on that cluster (agents/ocr_cluster.py)

    def validate(self) -> OcrJobOptions:
        if self.engine not in ENGINES:
            raise UserFacingError(f"Unknown engine {self.engine!r}; choose qwen or cpu")
        if self.mode not in MODES:
            raise UserFacingError(f"Unknown mode {self.mode!r}; choose one of {', '.join(MODES)}")
        if self.mode == "json":
            if self.schema is None:
                raise UserFacingError("--mode json needs a JSON schema (--schema FILE)")
            check_schema(self.schema)
            if self.engine == "cpu":
                raise UserFacingError(
                    "--mode json needs the Qwen3-VL engine (the CPU engine reads text only)"
                )
        bad = [f for f in self.formats if f not in FORMATS]
        if bad:
            raise UserFacingError(f"Unknown format {bad[0]!r}; choose from {', '.join(FORMATS)}")
        if not 36 <= self.dpi <= 1200:
            raise UserFacingError(f"--dpi {self.dpi} is out of range (36..1200)")
        return self

    @staticmethod
    def from_dict(d: dict[str, Any]) -> OcrJobOptions:
        known = {k: v for k, v in d.items() if k in OcrJobOptions.__dataclass_fields__}
        return OcrJobOptions(**known)

    def load_options(self) -> LoadOptions:
        # json extraction reads the rendered page, not the text layer
        use_layer = self.use_text_layer and self.mode != "json"
        return LoadOptions(dpi=self.dpi, use_text_layer=use_layer, max_pixels=self.max_pixels)


@dataclass(frozen=True)
class JobProgress:
    """A progress event for the UI and the CLI."""

    job_id: str
    kind: str  # started, page_done, page_failed, fallback, exported, export_failed, finished
    done: int
    failed: int
    total: int
    rate: float  # pages per second in this run
    eta_s: float | None
    message: str = ""
    path: str | None = None
    page: int | None = None  # 1-based


ProgressCallback = Callable[[JobProgress], None]


@dataclass(frozen=True)
class JobSummary:
    job_id: str
    status: str
    counts: JobCounts
    engine_used: str
    failures: list[tuple[str, int | None, str]]
    exported: list[str]

    @property
    def ok(self) -> bool:
        return self.status == "done"


def create_job(store: OcrJobStore, paths: Sequence[str | Path], options: OcrJobOptions) -> str:
    """Record a new job: its documents and one pending row per page (unreadable files are recorded)."""
    options.validate()
    files = [f.resolve() for f in discover(paths, options.include, options.exclude)]
    options.roots = [str(Path(p).resolve()) for p in paths if Path(p).is_dir()]
    if not files:
        raise UserFacingError("No documents found", "check the paths and the --include/--exclude patterns")
    job_id = store.create_job(options.engine, options.mode, asdict(options))
    for position, path in enumerate(files):
        try:
            count, error = page_count(path, options.max_pixels), None
        except UserFacingError as exc:
            count, error = 0, str(exc)
        except Exception as exc:  # an unexpected reader failure is this file's problem only
            count, error = 0, f"{path}: {type(exc).__name__}: {exc}"
        store.add_document(job_id, position, str(path), count, error)
        if error:
            store.add_event(job_id, "document_failed", error)
    close_cached_pdfs()
    return job_id


def _finished(tasks: set[asyncio.Task[None]], slots: asyncio.Semaphore, task: asyncio.Task[None]) -> None:
    tasks.discard(task)
    slots.release()


def _reason(exc: BaseException) -> str:
    if isinstance(exc, UserFacingError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


class OcrJob:
    """Run (or resume) one stored job."""

    def __init__(
        self,
        store: OcrJobStore,
        job_id: str,
        service: OcrSubmitter | None = None,
        *,
        on_progress: ProgressCallback | None = None,
        unavailable_reason: str | None = None,
        max_in_flight: int = 32,
    ) -> None:
        self.store = store
        self.job_id = job_id
        self.service = service
        self.on_progress = on_progress
        self.unavailable_reason = unavailable_reason
        self.max_in_flight = max_in_flight
        self.job = store.job(job_id)
        self.options = OcrJobOptions.from_dict(self.job.options)
        self.load = self.options.load_options()
        self.engine_used = "qwen"
        self._fallen_back = False
        self._start = time.monotonic()
        self._finished_now = 0
        self._counts = store.counts(job_id)

    # ------------------------------------------------------------ events

    def _emit(self, kind: str, message: str = "", path: str | None = None, page: int | None = None) -> None:
        if kind in ("fallback", "export_failed", "finished", "started"):
            self.store.add_event(self.job_id, kind, message)
        if self.on_progress is None:
            return
        c = self._counts
        elapsed = max(1e-6, time.monotonic() - self._start)
        rate = self._finished_now / elapsed
        eta = (c.pending / rate) if rate > 0 else None
        self.on_progress(
            JobProgress(self.job_id, kind, c.done, c.failed, c.total, rate, eta, message, path, page)
        )

    def _fall_back(self, reason: str) -> None:
        if self._fallen_back:
            return
        self._fallen_back = True
        self.engine_used = "cpu"
        note = f"Qwen3-VL is unavailable ({reason}); using the CPU engine (Tesseract) instead"
        if self.options.mode in ("markdown", "html", "lines"):
            note += f"; the CPU engine gives text and line boxes, not the model's {self.options.mode}"
        self._emit("fallback", note)

    def _record_done(self, page: PendingPage, result: OcrPage, duration: float) -> None:
        self.store.mark_done(page, result, duration)
        self._finished_now += 1
        c = self._counts
        self._counts = JobCounts(c.total, c.done + 1, c.failed, c.pending - 1, c.documents_failed)
        self._emit("page_done", path=page.path, page=page.page_index + 1)

    def _record_failed(self, page: PendingPage, reason: str, engine: str, duration: float) -> None:
        self.store.mark_failed(page, reason, engine, duration)
        self._finished_now += 1
        c = self._counts
        self._counts = JobCounts(c.total, c.done, c.failed + 1, c.pending - 1, c.documents_failed)
        self._emit("page_failed", reason, path=page.path, page=page.page_index + 1)

    @staticmethod
    def _ref(page: PendingPage) -> PageRef:
        return PageRef(page.path, document_kind(Path(page.path)) or "image", page.page_index)

    # ------------------------------------------------------------ Qwen3-VL through the queue

    async def _qwen_page(self, engine: QwenOcrEngine, page: PendingPage) -> None:
        if self._fallen_back:
            return  # left pending for the CPU pass
        start = time.monotonic()
        self.store.mark_started(page)
        try:
            loaded = await asyncio.to_thread(load_page, self._ref(page), self.load)
            result = await engine.recognise(loaded)
        except EngineUnavailableError as exc:
            self._fall_back(str(exc))
            return
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._record_failed(page, _reason(exc), engine.name, time.monotonic() - start)
            return
        self._record_done(page, result, time.monotonic() - start)

    async def _run_qwen(self) -> None:
        assert self.service is not None
        engine = QwenOcrEngine(
            self.service,
            QwenOptions(
                mode=cast(Mode, self.options.mode),
                schema=self.options.schema,
                budget_tokens=self.options.budget_tokens,
                max_tokens=self.options.max_tokens,
            ),
        )
        limit = max(1, min(self.options.concurrency or self.max_in_flight, self.max_in_flight))
        slots = asyncio.Semaphore(limit)
        tasks: set[asyncio.Task[None]] = set()
        try:
            for page in self.store.pending_pages(self.job_id):
                await slots.acquire()
                if self._fallen_back:
                    slots.release()
                    break
                task = asyncio.create_task(self._qwen_page(engine, page))
                tasks.add(task)
                task.add_done_callback(functools.partial(_finished, tasks, slots))
            if tasks:
                await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)

    # ------------------------------------------------------------ CPU engine in worker processes

    async def _run_cpu(self) -> None:
        if self.options.mode == "json":
            for page in list(self.store.pending_pages(self.job_id)):
                self._record_failed(
                    page, "json extraction needs the Qwen3-VL engine, which is unavailable", "cpu", 0
                )
            return
        workers = max(1, self.options.workers or os.cpu_count() or 1)
        options = cpu_engine.CpuOptions(languages=self.options.languages)
        loop = asyncio.get_running_loop()
        context = multiprocessing.get_context("forkserver")
        # the fork server needs only the engine module, not whatever program started the job
        context.set_forkserver_preload(["qwen3vl_agent.ocr.cpu_engine"])
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=context)
        slots = asyncio.Semaphore(workers + 1)  # a small backlog keeps every worker busy
        tasks: set[asyncio.Task[None]] = set()

        async def one(page: PendingPage) -> None:
            nonlocal pool
            start = time.monotonic()
            self.store.mark_started(page)
            try:
                data = await loop.run_in_executor(
                    pool, cpu_engine.run_page, self._ref(page), self.load, options
                )
            except asyncio.CancelledError:
                raise
            except BrokenProcessPool as exc:
                pool = ProcessPoolExecutor(max_workers=workers, mp_context=context)
                self._record_failed(
                    page, f"the OCR worker process died ({exc})", "cpu", time.monotonic() - start
                )
                return
            except Exception as exc:
                self._record_failed(page, _reason(exc), "cpu", time.monotonic() - start)
                return
            self._record_done(page, OcrPage.from_dict(data), time.monotonic() - start)

        try:
            for page in self.store.pending_pages(self.job_id):
                await slots.acquire()
                task = asyncio.create_task(one(page))
                tasks.add(task)
                task.add_done_callback(functools.partial(_finished, tasks, slots))
            if tasks:
                await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)
            pool.shutdown(wait=True, cancel_futures=True)

    # ------------------------------------------------------------ exports

    def _root_for(self, path: str) -> Path | None:
        resolved = Path(path).resolve()
        for root in self.options.roots:
            if resolved.is_relative_to(root):
                return Path(root)
        return None

    async def _export(self) -> list[str]:
        written: list[str] = []
        if not self.options.out_dir or not self.options.formats:
            return written
        out = Path(self.options.out_dir)
        for doc_id, path, _count, status, _error, exported_at in self.store.documents(self.job_id):
            if status != "ok" or exported_at is not None or not self.store.document_finished(doc_id):
                continue
            doc = self.store.load_document(doc_id, self.options.mode)
            try:
                files = await asyncio.to_thread(
                    export_document, doc, self.options.formats, out, self._root_for(path)
                )
            except UserFacingError as exc:
                self.store.mark_exported(doc_id, [], error=str(exc))
                self._emit("export_failed", str(exc), path=path)
                continue
            names = [str(f) for f in files]
            self.store.mark_exported(doc_id, names)
            written += names
            self._emit("exported", ", ".join(names), path=path)
        return written

    # ------------------------------------------------------------ the run

    async def run(self) -> JobSummary:
        """Work through the pending pages, export, and return the summary (never raises for a page)."""
        self.store.set_status(self.job_id, "running")
        self._emit("started", f"{self._counts.pending} of {self._counts.total} pages to do")
        try:
            if self.options.engine == "qwen" and self.service is None:
                self._fall_back(self.unavailable_reason or "no inference service")
            if self.options.engine == "qwen" and not self._fallen_back:
                await self._run_qwen()
            else:
                self.engine_used = "cpu"
            if self.engine_used == "cpu" or self._fallen_back:
                await self._run_cpu()
        except asyncio.CancelledError:
            self.store.set_status(
                self.job_id, "interrupted", "interrupted; resume it to finish", self.engine_used
            )
            raise
        exported = await self._export()
        close_cached_pdfs()
        self._counts = self.store.counts(self.job_id)
        failures = self.store.failures(self.job_id)
        c = self._counts
        status = "done" if (c.failed == 0 and c.pending == 0 and not failures) else "done_with_errors"
        message = f"{c.done} pages done, {c.failed} failed, {c.documents_failed} documents unreadable"
        self.store.set_status(self.job_id, status, message, self.engine_used)
        self._emit("finished", message)
        return JobSummary(self.job_id, status, c, self.engine_used, failures, exported)
