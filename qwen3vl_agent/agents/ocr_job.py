"""OCR batches as persisted, resumable jobs.

`create_job` finds the documents, counts their pages and writes one row per page; `OcrJob.run`
works through the pages that are still pending, claiming each one first (two runs of one job
share its pages; neither does a page the other has). Pages are decoded in worker processes (a
file that crashes its reader costs a worker, not the app) under a memory budget of decoded
pixels in flight; Qwen3-VL pages then go through the inference service's queue (never more in
flight than the queue allows), CPU pages are read by Tesseract in the same workers. Each result
is stored as soon as it exists; a failed page is stored with its reason and the job goes on.
A page that was in flight when a worker (or the app) died is retried alone; a second death
quarantines it. When Qwen3-VL is unavailable (at the start or mid-way) the job falls back to the
CPU engine and says so in its events. Finished documents are exported.
"""

from __future__ import annotations

import asyncio
import functools
import os
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast

from qwen3vl_agent.agents.ocr_cpu_mode import CpuMode
from qwen3vl_agent.agents.ocr_job_store import JobCounts, OcrJobStore, PendingPage
from qwen3vl_agent.agents.ocr_workers import MemoryBudget, WorkerCrashedError, WorkerPool
from qwen3vl_agent.errors import EngineUnavailableError, UserFacingError
from qwen3vl_agent.ocr import cpu_engine, page_worker
from qwen3vl_agent.ocr.exports import FORMATS, export_document
from qwen3vl_agent.ocr.inputs import (
    DEFAULT_MAX_DECODE_PIXELS,
    LoadOptions,
    PageRef,
    close_cached_pdfs,
    discover_inputs,
    document_kind,
)
from qwen3vl_agent.ocr.languages import check_languages, plan_languages
from qwen3vl_agent.ocr.model import OcrPage
from qwen3vl_agent.ocr.qwen_engine import MODES, Mode, OcrSubmitter, QwenOcrEngine, QwenOptions, check_schema
from qwen3vl_agent.storage.run_lease import RunLease, lease_alive

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
    languages: str | None = None  # Tesseract's own list (eng+deu); --lang is the general choice
    lang: str = "auto"  # CPU engine: auto (per page) | eng, deu+fra... (Tesseract) | chi_sim, jpn (PaddleOCR)
    budget_tokens: int = 2048
    max_tokens: int | None = None  # per page answer; None = the prompt file's value per mode
    concurrency: int | None = None  # Qwen pages in flight; None = the queue's max_in_flight
    workers: int | None = None  # CPU worker processes; None = CPU count
    max_pixels: int = 200_000_000  # larger pages are refused
    max_decode_pixels: int = DEFAULT_MAX_DECODE_PIXELS  # larger pages are downscaled while decoding
    memory_budget_mb: int = 1024  # decoded pixels in flight in the workers, all pages together
    follow_symlinks: bool = False  # follow links in input folders that lead out of them
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
        if self.engine == "cpu":
            check_languages(self.lang, self.languages)
        else:
            plan_languages(self.lang, self.languages)  # the spelling, for a fallback to the CPU
        if not 36 <= self.dpi <= 1200:
            raise UserFacingError(f"--dpi {self.dpi} is out of range (36..1200)")
        if self.memory_budget_mb < 64:
            raise UserFacingError(f"--memory-budget {self.memory_budget_mb} MB is too small (at least 64)")
        return self

    @staticmethod
    def from_dict(d: dict[str, Any]) -> OcrJobOptions:
        known = {k: v for k, v in d.items() if k in OcrJobOptions.__dataclass_fields__}
        return OcrJobOptions(**known)

    def load_options(self) -> LoadOptions:
        # json extraction reads the rendered page, not the text layer
        use_layer = self.use_text_layer and self.mode != "json"
        return LoadOptions(
            dpi=self.dpi,
            use_text_layer=use_layer,
            max_pixels=self.max_pixels,
            max_decode_pixels=self.max_decode_pixels,
        )


@dataclass(frozen=True)
class JobProgress:
    """A progress event for the UI and the CLI."""

    job_id: str
    kind: (
        str  # started, page_done, page_failed, page_quarantined, fallback, exported, export_failed, finished
    )
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
        """Nothing went wrong (pages another run of the job still reads are that run's to report)."""
        return self.status in ("done", "running_elsewhere")


def create_job(store: OcrJobStore, paths: Sequence[str | Path], options: OcrJobOptions) -> str:
    """Record a new job: its documents and one pending row per page (unreadable files are recorded).

    Documents are opened (to count their pages) in a worker process: a file that crashes its
    reader is recorded as unreadable, and the app lives on."""
    options.validate()
    found = discover_inputs(paths, options.include, options.exclude, follow_symlinks=options.follow_symlinks)
    files = [f.resolve() for f in found.files]
    options.roots = [str(Path(p).resolve()) for p in paths if Path(p).is_dir()]
    if not files:
        hint = "check the paths and the --include/--exclude patterns"
        if found.skipped_links:
            hint = f"{len(found.skipped_links)} symbolic links out of the folder were skipped; use --follow-symlinks"
        raise UserFacingError("No documents found", hint)
    job_id = store.create_job(options.engine, options.mode, asdict(options))
    if found.skipped_links:
        store.add_event(job_id, "skipped", skipped_links_note(found.skipped_links))
    surveys = _survey(files, options.max_pixels)
    for position, (path, (count, error)) in enumerate(zip(files, surveys, strict=True)):
        store.add_document(job_id, position, str(path), count, error)
        if error:
            store.add_event(job_id, "document_failed", error)
    return job_id


def skipped_links_note(links: Sequence[Path], shown: int = 5) -> str:
    names = ", ".join(str(p) for p in links[:shown]) + (
        f" and {len(links) - shown} more" if len(links) > shown else ""
    )
    return (
        f"skipped {len(links)} symbolic link(s) that lead out of the input folder: {names}"
        " (use --follow-symlinks to read them)"
    )


_SURVEY_CHUNK = 64


def _survey(files: Sequence[Path], max_pixels: int) -> list[tuple[int, str | None]]:
    """Page counts (or reasons) in a worker process, in chunks; a chunk whose worker died is
    surveyed again one file at a time, so only the file that kills its reader is marked."""
    pool = WorkerPool(1)
    out: list[tuple[int, str | None]] = []
    try:
        for start in range(0, len(files), _SURVEY_CHUNK):
            chunk = [str(f) for f in files[start : start + _SURVEY_CHUNK]]
            try:
                out += pool.call(page_worker.survey_documents, chunk, max_pixels)
                continue
            except WorkerCrashedError:
                pass
            for path in chunk:
                try:
                    out += pool.call(page_worker.survey_documents, [path], max_pixels)
                except WorkerCrashedError:
                    out.append(
                        (0, f"{path}: reading it crashed the reader process (a damaged or hostile file)")
                    )
        return out
    finally:
        pool.close()


def _reason(exc: BaseException) -> str:
    if isinstance(exc, UserFacingError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


PageWork = Callable[[PendingPage], Coroutine[Any, Any, None]]


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
        self.run_id = ""
        self.budget = MemoryBudget(self.options.memory_budget_mb * 1024 * 1024)
        self.workers: WorkerPool | None = None
        self.cpu_page: Callable[..., dict[str, Any]] = cpu_engine.run_page  # what CPU workers run per page
        self.cpu_mode: CpuMode | None = None  # the CPU pass's processes (PaddleOCR in one only)
        self._suspects: list[PendingPage] = []  # in flight when a worker died: retried alone

    # ------------------------------------------------------------ events

    def _emit(self, kind: str, message: str = "", path: str | None = None, page: int | None = None) -> None:
        if kind in ("fallback", "export_failed", "finished", "started", "page_quarantined"):
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
        if not self.store.mark_done(page, result, duration, self.run_id):
            return  # the claim is gone (never ours): another run owns this page
        self._finished_now += 1
        c = self._counts
        self._counts = JobCounts(c.total, c.done + 1, c.failed, c.pending - 1, c.documents_failed)
        self._emit("page_done", path=page.path, page=page.page_index + 1)

    def _record_failed(self, page: PendingPage, reason: str, engine: str, duration: float) -> None:
        if not self.store.mark_failed(page, reason, engine, duration, self.run_id):
            return
        self._finished_now += 1
        c = self._counts
        self._counts = JobCounts(c.total, c.done, c.failed + 1, c.pending - 1, c.documents_failed)
        self._emit("page_failed", reason, path=page.path, page=page.page_index + 1)

    def _record_crash(self, page: PendingPage, reason: str) -> None:
        """The worker reading `page` died: retry the page alone, or quarantine it the second time."""
        status = self.store.release(page, self.run_id, crashed=True)
        self._counts = self.store.counts(self.job_id)
        if status == "pending":
            self._suspects.append(PendingPage(page.document_id, page.path, page.page_index, page.crashes + 1))
        elif status == "quarantined":
            self._finished_now += 1
            self._emit(
                "page_quarantined",
                f"{page.path} page {page.page_index + 1}: the process reading it died twice ({reason}); skipped",
                path=page.path,
                page=page.page_index + 1,
            )

    @staticmethod
    def _ref(page: PendingPage) -> PageRef:
        return PageRef(page.path, document_kind(Path(page.path)) or "image", page.page_index)

    def _pool(self) -> WorkerPool:
        if self.workers is None:
            self.workers = WorkerPool(self.options.workers or os.cpu_count() or 1)
        return self.workers

    async def _decode_budgeted(self, page: PendingPage, fn: Callable[..., Any], *args: Any) -> Any:
        """Run `fn` on the page in a worker once its decoded pixels fit in the memory budget."""
        pool = self._pool()
        nbytes = await pool.run(page_worker.page_bytes, self._ref(page), self.load)
        async with self.budget.hold(nbytes):
            return await pool.run(fn, self._ref(page), self.load, *args)

    # ------------------------------------------------------------ driving pages

    async def _drive(self, work: PageWork, limit: int, stop: Callable[[], bool] = lambda: False) -> None:
        """Every pending page through `work`: crash suspects alone, then the rest `limit` at a
        time, then the pages that were in flight when a worker died, alone again."""
        pending = list(self.store.pending_pages(self.job_id))
        suspects = [p for p in pending if p.crashes > 0]
        for page in suspects:
            if stop():
                return
            await work(page)
        await self._concurrently([p for p in pending if p.crashes == 0], work, limit, stop)
        while self._suspects and not stop():
            page = self._suspects.pop(0)
            await work(page)

    @staticmethod
    async def _concurrently(
        pages: Sequence[PendingPage], work: PageWork, limit: int, stop: Callable[[], bool]
    ) -> None:
        slots = asyncio.Semaphore(max(1, limit))
        tasks: set[asyncio.Task[None]] = set()

        def finished(task: asyncio.Task[None]) -> None:
            tasks.discard(task)
            slots.release()

        try:
            for page in pages:
                await slots.acquire()
                if stop():
                    slots.release()
                    break
                task = asyncio.create_task(work(page))
                tasks.add(task)
                task.add_done_callback(finished)
            if tasks:
                await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)

    # ------------------------------------------------------------ Qwen3-VL through the queue

    async def _read_page(
        self, page: PendingPage, engine: str, read: Callable[[], Awaitable[OcrPage | None]]
    ) -> None:
        """Read one claimed page with `read` and record what came of it: done, failed with its
        reason, or a crash (its worker process died: retried alone, then quarantined). `read`
        returns None where it has already put the page back itself."""
        start = time.monotonic()
        try:
            result = await read()
        except WorkerCrashedError as exc:
            self._record_crash(page, str(exc))
            return
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._record_failed(page, _reason(exc), engine, time.monotonic() - start)
            return
        if result is not None:
            self._record_done(page, result, time.monotonic() - start)

    async def _qwen_page(self, engine: QwenOcrEngine, page: PendingPage) -> None:
        if self._fallen_back or not self.store.claim(page, self.run_id):
            return  # left pending for the CPU pass, or another run has it
        opts = engine.options

        async def read() -> OcrPage | None:
            try:
                prepared = await self._decode_budgeted(
                    page, page_worker.prepare_for_qwen, opts.budget_tokens, opts.encoding
                )
                # transient engine faults (HTTP 5xx, 429, a broken answer) are retried by the
                # engine client under the one retry policy (engine/retry_policy.py); what still
                # fails here fails the page with its reason
                return await engine.recognise_prepared(prepared)
            except EngineUnavailableError as exc:
                self.store.release(page, self.run_id)  # for the CPU pass
                self._fall_back(str(exc))
                return None

        await self._read_page(page, engine.name, read)

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
        await self._drive(functools.partial(self._qwen_page, engine), limit, lambda: self._fallen_back)

    # ------------------------------------------------------------ CPU engine in worker processes

    async def _cpu_page(self, mode: CpuMode, page: PendingPage) -> None:
        if not self.store.claim(page, self.run_id):
            return

        async def read() -> OcrPage:
            await mode.ready()
            data = await self._decode_budgeted(page, self.cpu_page, mode.options())
            if data.get("hand_off") == "paddle":  # Tesseract was unsure: PaddleOCR, in one process
                await mode.enter_cjk(self._pool())
                data = await self._decode_budgeted(
                    page, cpu_engine.run_page_with_probe, mode.options(), data["probe"]
                )
            return OcrPage.from_dict(data)

        await self._read_page(page, "cpu", read)

    async def _run_cpu(self) -> None:
        if self.options.mode == "json":
            for page in list(self.store.pending_pages(self.job_id)):
                if self.store.claim(page, self.run_id):
                    self._record_failed(
                        page, "json extraction needs the Qwen3-VL engine, which is unavailable", "cpu", 0
                    )
            return
        options = cpu_engine.CpuOptions(languages=self.options.languages, lang=self.options.lang)
        pool = self._pool()
        mode = self.cpu_mode = CpuMode(options, pool.workers)
        if pool.workers != mode.workers:  # --lang chi_sim, jpn: one process holds PaddleOCR
            await asyncio.to_thread(pool.resize, mode.workers)
        # a small backlog keeps every worker busy
        await self._drive(functools.partial(self._cpu_page, mode), mode.cores + 1)

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
            if status != "ok" or exported_at is not None or not self.store.claim_export(doc_id, self.run_id):
                continue  # unreadable, exported, unfinished, or being exported by another run
            doc = self.store.load_document(doc_id, self.options.mode)
            try:
                # in this process (exports keep the user's umask, file_modes.py)
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

    def _recover(self) -> None:
        """Pages claimed by runs of this job that died: back to pending as crash suspects, or
        quarantined when they were in flight in a run that died before."""
        folder = self.store.leases_dir
        for rec in self.store.recover_abandoned(self.job_id, functools.partial(lease_alive, folder)):
            if rec.status == "quarantined":
                self._emit(
                    "page_quarantined",
                    f"{rec.page.path} page {rec.page.page_index + 1}: it was being read each time the"
                    f" app died ({rec.page.crashes} times); skipped",
                    path=rec.page.path,
                    page=rec.page.page_index + 1,
                )
        self._counts = self.store.counts(self.job_id)

    async def run(self) -> JobSummary:
        """Work through the pending pages, export, and return the summary (never raises for a page)."""
        lease = RunLease(self.store.leases_dir)
        self.run_id = lease.run_id
        try:
            return await self._run()
        finally:
            self.store.release_run(self.job_id, self.run_id)
            lease.close()
            if self.workers is not None:
                self.workers.close()
            close_cached_pdfs()

    async def _run(self) -> JobSummary:
        self._recover()
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
        self._counts = self.store.counts(self.job_id)
        failures = self.store.failures(self.job_id)
        c = self._counts
        message = f"{c.done} pages done, {c.failed} failed, {c.documents_failed} documents unreadable"
        if c.quarantined:
            message += f", {c.quarantined} quarantined (they crashed the reader)"
        if c.running:
            status = "running_elsewhere"
            message += f"; {c.running} pages are being read by another run of this job, which finishes it"
            self.store.set_status(self.job_id, "running", message, self.engine_used)
        else:
            ok = c.failed == 0 and c.pending == 0 and c.quarantined == 0 and not failures
            status = "done" if ok else "done_with_errors"
            self.store.set_status(self.job_id, status, message, self.engine_used)
        self._emit("finished", message)
        return JobSummary(self.job_id, status, c, self.engine_used, failures, exported)
