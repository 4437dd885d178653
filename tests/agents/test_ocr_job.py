"""OCR jobs: persisted pages, resume without redoing pages, failures recorded, CPU fallback,
the Qwen3-VL modes against the real tiny vLLM engine, and a CLI batch killed with SIGKILL."""

from __future__ import annotations

import asyncio
import functools
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from qwen3vl_agent.agents.ocr_job import JobProgress, OcrJob, OcrJobOptions, create_job
from qwen3vl_agent.agents.ocr_job_store import OcrJobStore
from qwen3vl_agent.config import CacheSettings, EngineSettings, QueueSettings, Settings
from qwen3vl_agent.errors import EngineUnavailableError, UserFacingError
from qwen3vl_agent.inference.request import DeltaCallback, InferenceRequest, InferenceResult
from qwen3vl_agent.paths import app_paths
from qwen3vl_agent.runtime import Runtime, build_runtime
from tests.support.ocr_documents import (
    cer,
    paragraphs_page,
    small_print_page,
    table_page,
    write_scanned_pdf,
)

REPO_ROOT = Path(__file__).resolve().parents[2]

INVOICE_SCHEMA = {
    "type": "object",
    "properties": {
        "invoice_number": {"type": "string", "maxLength": 12},
        "paid": {"type": "boolean"},
        "currency": {"enum": ["EUR", "USD", "GBP"]},
    },
    "required": ["invoice_number", "paid", "currency"],
    "additionalProperties": False,
}


def _folder(root: Path, with_bad: bool = True) -> Path:
    """Two images, a two-page scanned PDF, and (optionally) a file that is not an image."""
    folder = root / "docs"
    (folder / "sub").mkdir(parents=True)
    paragraphs_page(seed=11).image.save(folder / "a.png")
    table_page(seed=12).image.save(folder / "sub" / "b.png")
    write_scanned_pdf(folder / "c.pdf", [small_print_page(seed=13).image, paragraphs_page(seed=14).image])
    if with_bad:
        (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not an image")
    return folder


def _stats(store: OcrJobStore, job_id: str) -> list[tuple[int, int, str, int, int]]:
    return store.page_stats(job_id)


# ------------------------------------------------------------------ CPU engine


async def test_cpu_job_over_a_folder_records_the_unreadable_file_and_does_the_rest(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    store = OcrJobStore()
    options = OcrJobOptions(engine="cpu", formats=["txt", "json"], out_dir=str(tmp_path / "out"), workers=2)
    job_id = create_job(store, [folder], options)
    events: list[JobProgress] = []
    summary = await OcrJob(store, job_id, on_progress=events.append).run()

    assert summary.status == "done_with_errors" and summary.engine_used == "cpu"
    assert (summary.counts.total, summary.counts.done, summary.counts.failed) == (4, 4, 0)
    assert summary.counts.documents_failed == 1
    assert [Path(p).name for p, page, _ in summary.failures] == ["broken.png"]
    assert "not a readable image" in summary.failures[0][2]
    assert all(completions == 1 for *_, completions in _stats(store, job_id))
    # exports keep the folder layout
    out = tmp_path / "out"
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.txt")) == [
        "a.txt",
        "c.txt",
        "sub/b.txt",
    ]
    assert cer(table_page(seed=12).text, (out / "sub" / "b.txt").read_text()) < 0.02
    pages = json.loads((out / "c.json").read_text())["pages"]
    assert [p["index"] for p in pages] == [0, 1]
    # progress events: one per page, counts never go backwards, a rate once pages are done
    page_events = [e for e in events if e.kind in ("page_done", "page_failed")]
    assert len(page_events) == 4 and [e.done for e in page_events] == [1, 2, 3, 4]
    assert page_events[-1].rate > 0 and page_events[-1].eta_s == 0
    store.close()


def _rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


async def test_a_2000_page_pdf_job_streams_its_pages(tmp_path: Path) -> None:
    """Every page row exists up front, pages go through the workers one by one, memory stays flat."""
    from tests.support.ocr_documents import write_many_page_pdf

    pdf = write_many_page_pdf(tmp_path / "long.pdf", 2000)
    store = OcrJobStore()
    options = OcrJobOptions(engine="cpu", workers=2, formats=["txt"], out_dir=str(tmp_path / "out"))
    job_id = create_job(store, [pdf], options)
    samples: dict[int, float] = {}

    def on_progress(event: JobProgress) -> None:
        if event.kind == "page_done" and event.done in (100, 2000):
            samples[event.done] = _rss_mb()

    summary = await OcrJob(store, job_id, on_progress=on_progress).run()
    assert summary.counts.done == 2000 and summary.status == "done"
    assert samples[2000] - samples[100] < 64  # results go to SQLite, not into memory
    text = (tmp_path / "out" / "long.txt").read_text()
    assert text.count("\f") == 1999 and "Page 2000 of a long report" in text
    store.close()


async def test_a_failing_page_is_recorded_and_the_job_goes_on(tmp_path: Path) -> None:
    from reportlab.pdfgen import canvas

    pdf = tmp_path / "mixed.pdf"
    c = canvas.Canvas(str(pdf))
    c.setPageSize((595, 842))
    c.drawString(72, 700, "A normal page of text")
    c.showPage()
    c.setPageSize((14400, 14400))  # 200 inches square: 40000x40000 px at 200 dpi
    c.showPage()
    c.save()
    store = OcrJobStore()
    job_id = create_job(store, [pdf], OcrJobOptions(engine="cpu", use_text_layer=False, workers=1))
    summary = await OcrJob(store, job_id).run()
    assert (summary.counts.done, summary.counts.failed) == (1, 1)
    (failure,) = summary.failures
    assert failure[1] == 2 and "lower --dpi" in failure[2]
    store.close()


async def test_an_interrupted_job_resumes_without_redoing_finished_pages(tmp_path: Path) -> None:
    folder = _folder(tmp_path, with_bad=False)
    store = OcrJobStore()
    job_id = create_job(store, [folder], OcrJobOptions(engine="cpu", workers=1))
    stop_after = 2
    running: dict[str, asyncio.Task[Any]] = {}

    def on_progress(event: JobProgress) -> None:
        if event.kind == "page_done" and event.done >= stop_after:
            running["job"].cancel()

    run = running["job"] = asyncio.create_task(OcrJob(store, job_id, on_progress=on_progress).run())
    with pytest.raises(asyncio.CancelledError):
        await run
    assert store.job(job_id).status == "interrupted"
    first = store.counts(job_id)
    assert first.done >= stop_after and first.pending >= 1

    done_before = {(d, i) for d, i, status, *_ in _stats(store, job_id) if status == "done"}
    summary = await OcrJob(store, job_id).run()
    assert summary.status == "done" and summary.counts.done == 4
    for doc_id, index, status, attempts, completions in _stats(store, job_id):
        assert status == "done" and completions == 1
        if (doc_id, index) in done_before:
            assert attempts == 1  # finished pages never ran again
    store.close()


async def test_qwen_unavailable_falls_back_to_cpu_and_says_so(tmp_path: Path) -> None:
    png = tmp_path / "page.png"
    paragraphs_page().image.save(png)
    store = OcrJobStore()
    job_id = create_job(store, [png], OcrJobOptions(engine="qwen", mode="markdown", workers=1))
    events: list[JobProgress] = []
    summary = await OcrJob(
        store, job_id, None, on_progress=events.append, unavailable_reason="no engine configured"
    ).run()
    assert summary.engine_used == "cpu" and summary.counts.done == 1
    fallback = [e for e in events if e.kind == "fallback"]
    assert len(fallback) == 1 and "no engine configured" in fallback[0].message
    assert any(kind == "fallback" for _, kind, _ in store.events(job_id))
    assert store.job(job_id).engine_used == "cpu"
    store.close()


class _DiesAfter:
    """Stands in for a service whose engine goes away mid-job (a real engine death is tested in
    tests/engine; here only the job's reaction matters): answers `n` requests, then raises."""

    def __init__(self, n: int) -> None:
        self.n = n

    async def submit(
        self, request: InferenceRequest, on_delta: DeltaCallback | None = None
    ) -> InferenceResult:
        if self.n <= 0:
            raise EngineUnavailableError("all endpoints are down")
        self.n -= 1
        return InferenceResult(text="model text")


async def test_engine_dying_mid_job_moves_the_remaining_pages_to_cpu(tmp_path: Path) -> None:
    folder = _folder(tmp_path, with_bad=False)
    store = OcrJobStore()
    job_id = create_job(store, [folder], OcrJobOptions(engine="qwen", concurrency=1, workers=1))
    summary = await OcrJob(store, job_id, _DiesAfter(1), max_in_flight=1).run()
    assert summary.counts.done == 4 and summary.engine_used == "cpu"
    engines = [json.loads(r)["engine"] for (r,) in store.db.execute("SELECT result FROM ocr_pages")]
    assert sorted(e.split(":")[0] for e in engines) == ["qwen3-vl", "tesseract", "tesseract", "tesseract"]
    store.close()


def test_json_mode_needs_a_valid_schema_and_the_qwen_engine(tmp_path: Path) -> None:
    store = OcrJobStore()
    png = tmp_path / "p.png"
    paragraphs_page().image.save(png)
    with pytest.raises(UserFacingError, match="needs a JSON schema"):
        create_job(store, [png], OcrJobOptions(mode="json"))
    with pytest.raises(UserFacingError, match="not valid"):
        create_job(store, [png], OcrJobOptions(mode="json", schema={"type": "no-such-type"}))
    with pytest.raises(UserFacingError, match="needs the Qwen3-VL engine"):
        create_job(store, [png], OcrJobOptions(mode="json", engine="cpu", schema=INVOICE_SCHEMA))
    store.close()


# ------------------------------------------------------------------ Qwen3-VL on the tiny engine


async def _runtime(tiny_engine: Any, tmp_path: Path, max_in_flight: int = 4) -> Runtime:
    settings = Settings(
        engine=EngineSettings(mode="endpoints", endpoints=[tiny_engine.endpoint_settings()]),
        queue=QueueSettings(max_in_flight=max_in_flight),
        cache=CacheSettings(enabled=False),
    )
    return await build_runtime(settings, cache_path=tmp_path / "cache.sqlite3")


class _Counting:
    """Wraps the real service to record how many pages are in flight at once."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.now = 0
        self.peak = 0
        self.requests: list[InferenceRequest] = []

    async def submit(
        self, request: InferenceRequest, on_delta: DeltaCallback | None = None
    ) -> InferenceResult:
        self.requests.append(request)
        self.now += 1
        self.peak = max(self.peak, self.now)
        try:
            return await self.inner.submit(request, on_delta)
        finally:
            self.now -= 1


@pytest.mark.engine
@pytest.mark.slow
@pytest.mark.parametrize("mode", ["text", "markdown", "html", "lines", "json"])
async def test_each_qwen_mode_through_the_job_machinery(tiny_engine: Any, tmp_path: Path, mode: str) -> None:
    folder = _folder(tmp_path, with_bad=False)
    runtime = await _runtime(tiny_engine, tmp_path, max_in_flight=2)
    store = OcrJobStore()
    try:
        options = OcrJobOptions(
            engine="qwen",
            mode=mode,
            schema=INVOICE_SCHEMA if mode == "json" else None,
            budget_tokens=256,
            max_tokens=96,
            concurrency=8,  # more than the queue allows: the job must stay at 2
            formats=["txt", "md", "json", "html"],
            out_dir=str(tmp_path / "out"),
        )
        job_id = create_job(store, [folder], options)
        service = _Counting(runtime.service)
        summary = await OcrJob(store, job_id, service, max_in_flight=2).run()
    finally:
        await runtime.close()
    assert summary.engine_used == "qwen"
    assert 1 <= service.peak <= 2
    assert len(service.requests) == 4
    from qwen3vl_agent.inference.request import Priority, TaskKind

    assert all(r.kind == TaskKind.OCR and r.effective_priority == Priority.BATCH for r in service.requests)
    rows = store.db.execute(
        "SELECT status, result, error FROM ocr_pages WHERE job_id = ?", [job_id]
    ).fetchall()
    assert len(rows) == 4
    if mode == "json":
        # structured output forces JSON of the schema's shape; what is stored is valid against it
        assert all(r.json_schema == INVOICE_SCHEMA for r in service.requests)
        done = [json.loads(r[1]) for r in rows if r[0] == "done"]
        assert done, [r[2] for r in rows]
        for page in done:
            jsonschema.validate(page["data"], INVOICE_SCHEMA)
        assert all(
            "does not match the schema" in r[2] or "not JSON" in r[2] for r in rows if r[0] == "failed"
        )
    else:
        assert all(status == "done" for status, _, _ in rows), [r[2] for r in rows]
        for _, result, _ in rows:
            page = json.loads(result)
            assert page["engine"] == f"qwen3-vl:{mode}"
            for line in page["lines"]:
                if line["box"]:
                    x1, y1, x2, y2 = line["box"]
                    assert 0 <= x1 <= x2 <= page["width"] and 0 <= y1 <= y2 <= page["height"]
        if mode == "lines":
            assert all(r.json_schema is not None for r in service.requests)
    assert (tmp_path / "out" / "c.md").exists() and (tmp_path / "out" / "sub" / "b.html").exists()
    store.close()


def _cli_env(tiny_engine: Any) -> dict[str, str]:
    env = dict(os.environ)
    env["QWEN3VL_AGENT_ENGINE__MODE"] = "endpoints"
    env["QWEN3VL_AGENT_ENGINE__ENDPOINTS"] = json.dumps([tiny_engine.endpoint_settings().model_dump()])
    env["QWEN3VL_AGENT_QUEUE__MAX_IN_FLIGHT"] = "1"
    env["QWEN3VL_AGENT_CACHE__ENABLED"] = "false"
    return env


def _db_rows(sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(app_paths().database_file, timeout=10)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


@pytest.mark.engine
@pytest.mark.slow
def test_cli_batch_killed_with_sigkill_resumes_with_no_page_lost_or_done_twice(
    tiny_engine: Any, tmp_path: Path
) -> None:
    from PIL import Image, ImageDraw

    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(10):
        image = Image.new("RGB", (640, 480), "white")
        ImageDraw.Draw(image).text((40, 40 + 30 * (i % 10)), f"Page number {i}", fill="black")
        image.save(folder / f"p{i:02d}.png")
    env = _cli_env(tiny_engine)
    cmd = [sys.executable, "-m", "qwen3vl_agent", "ocr", str(folder), "--engine", "qwen", "--mode", "text"]
    cmd += ["--budget-tokens", "256", "--max-tokens", "200", "--out", str(tmp_path / "out"), "--no-progress"]
    proc = subprocess.Popen(cmd, env=env, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 300
        done = 0
        while time.monotonic() < deadline and proc.poll() is None:
            if app_paths().database_file.exists():
                try:
                    done = _db_rows("SELECT count(*) FROM ocr_pages WHERE status = 'done'")[0][0]
                except sqlite3.OperationalError:
                    done = 0  # tables not created yet
            if done >= 3:
                break
            time.sleep(0.05)
        assert proc.poll() is None, (
            "the batch finished before it could be killed: " + proc.stderr.read().decode()
        )  # type: ignore[union-attr]
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(30)
    ((job_id, status),) = _db_rows("SELECT id, status FROM ocr_jobs")
    assert status == "running"  # killed: nothing had a chance to clean up
    before = _db_rows("SELECT document_id, page_index FROM ocr_pages WHERE status = 'done'")
    assert 3 <= len(before) < 10

    listing = subprocess.run(
        [sys.executable, "-m", "qwen3vl_agent", "ocr", "jobs", "--json"],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert listing.returncode == 0 and json.loads(listing.stdout)[0]["id"] == job_id

    resumed = subprocess.run(
        [sys.executable, "-m", "qwen3vl_agent", "ocr", "resume", job_id, "--no-progress"],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert resumed.returncode == 0, resumed.stderr
    rows = _db_rows("SELECT document_id, page_index, status, attempts, completions FROM ocr_pages")
    assert len(rows) == 10
    assert all(status == "done" and completions == 1 for _, _, status, _, completions in rows)
    finished_first = set(before)
    assert all(attempts == 1 for d, i, _, attempts, _ in rows if (d, i) in finished_first)
    assert _db_rows("SELECT status FROM ocr_jobs")[0][0] == "done"
    assert len(list((tmp_path / "out").glob("*.txt"))) == 10


# ------------------------------------------------------------------ claims: two runs, dead runs


def _small_pages(folder: Path, count: int) -> Path:
    from PIL import Image, ImageDraw

    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        image = Image.new("RGB", (360, 90), "white")
        ImageDraw.Draw(image).text((12, 30), f"Page number {i}", fill="black")
        image.save(folder / f"p{i:02d}.png")
    return folder


def test_two_resumes_of_one_job_at_once_do_each_page_once(tmp_path: Path) -> None:
    folder = _small_pages(tmp_path / "in", 8)
    store = OcrJobStore()
    job_id = create_job(
        store, [folder], OcrJobOptions(engine="cpu", workers=1, out_dir=str(tmp_path / "out"))
    )
    store.close()
    cmd = [sys.executable, "-m", "qwen3vl_agent", "ocr", "resume", job_id, "--no-progress"]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    runs = [
        subprocess.Popen(cmd, env=env, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    results = [(p.wait(300), p.stderr.read().decode()) for p in runs]  # type: ignore[union-attr]
    assert [rc for rc, _ in results] == [0, 0], results
    rows = _db_rows("SELECT status, attempts, completions, claim FROM ocr_pages")
    assert len(rows) == 8
    assert all(r == ("done", 1, 1, None) for r in rows), rows  # each page claimed and done once
    assert _db_rows("SELECT status FROM ocr_jobs")[0][0] == "done"
    assert sorted(p.name for p in (tmp_path / "out").glob("*.txt")) == [f"p{i:02d}.txt" for i in range(8)]
    assert _db_rows("SELECT count(*) FROM ocr_documents WHERE exported_at IS NULL")[0][0] == 0


def _dead_run(store: OcrJobStore) -> str:
    """The id of a run whose process held its lease and was killed (SIGKILL)."""
    code = (
        "import os, sys; from pathlib import Path; from qwen3vl_agent.storage.run_lease import RunLease;"
        "lease = RunLease(Path(sys.argv[1])); print(lease.run_id, flush=True); os.kill(os.getpid(), 9)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(store.leases_dir)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        timeout=60,
    )
    assert done.returncode == -signal.SIGKILL
    return done.stdout.strip()


def test_claims_are_guarded_and_pages_of_dead_runs_are_retried_then_quarantined(tmp_path: Path) -> None:
    from qwen3vl_agent.ocr.model import OcrPage
    from qwen3vl_agent.storage.run_lease import RunLease, lease_alive

    folder = _small_pages(tmp_path / "in", 3)
    store = OcrJobStore()
    job_id = create_job(store, [folder], OcrJobOptions(engine="cpu", workers=1))
    first, second, third = store.pending_pages(job_id)
    result = OcrPage(index=0, width=1, height=1, text="x", engine="test")
    with RunLease(store.leases_dir) as mine:
        assert store.claim(first, mine.run_id) and not store.claim(first, "another-run")
        assert not store.mark_done(first, result, 0.1, "another-run")  # not its claim: nothing stored
        assert store.mark_done(first, result, 0.1, mine.run_id)
        assert not store.mark_done(first, result, 0.1, mine.run_id)  # finished once only
        assert store.claim(third, mine.run_id)  # a living run's claim survives recovery

        dead = _dead_run(store)
        assert not lease_alive(store.leases_dir, dead)
        assert store.claim(second, dead)
        alive = functools.partial(lease_alive, store.leases_dir)
        (back,) = store.recover_abandoned(job_id, alive)
        assert back.status == "pending" and back.page.crashes == 1
        assert store.claim(second, (dead2 := _dead_run(store)))
        (gone,) = store.recover_abandoned(job_id, alive)
        assert gone.status == "quarantined" and dead2 != dead
        assert store.counts(job_id).running == 1  # the living run still holds `third`
        store.release_run(job_id, mine.run_id)

    summary = asyncio.run(OcrJob(store, job_id).run())
    assert (summary.counts.done, summary.counts.quarantined) == (2, 1)
    assert any("quarantined" in reason for _, _, reason in summary.failures)
    assert store.page_stats(job_id)[1][2] == "quarantined"
    store.close()


# ------------------------------------------------------------------ transient server errors


class _FlakyServer:
    """A real OpenAI-compatible HTTP server that answers HTTP 500 ("retryable response", as vLLM
    does for an engine-side hiccup) `failures` times, then a normal whole answer."""

    def __init__(self, failures: int) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.failures = failures
        self.posts = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _send(self, code: int, payload: dict[str, Any]) -> None:
                body = json.dumps(payload).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                if self.path.endswith("/models"):
                    self._send(200, {"object": "list", "data": [{"id": "flaky", "object": "model"}]})
                else:
                    self._send(200, {})

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                server.posts += 1
                if server.posts <= server.failures:
                    self._send(500, {"error": {"message": "retryable response", "code": 500}})
                    return
                choice = {"index": 0, "message": {"role": "assistant", "content": "Recognised text"}}
                choice["finish_reason"] = "stop"
                usage = {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12}
                self._send(
                    200,
                    {
                        "id": "x",
                        "object": "chat.completion",
                        "model": "flaky",
                        "choices": [choice],
                        "usage": usage,
                    },
                )

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.mark.parametrize(("failures", "outcome"), [(2, "done"), (9, "failed")])
async def test_an_http_500_from_the_engine_is_retried_before_the_page_fails(
    tmp_path: Path, failures: int, outcome: str
) -> None:
    from qwen3vl_agent.config import EndpointSettings

    server = _FlakyServer(failures)
    png = tmp_path / "page.png"
    paragraphs_page().image.save(png)
    settings = Settings(
        engine=EngineSettings(
            mode="endpoints",
            endpoints=[EndpointSettings(url=server.url, model="flaky")],
            max_retries=2,
            retry_backoff_s=0.01,
        ),
        cache=CacheSettings(enabled=False),
    )
    runtime = await build_runtime(settings, cache_path=tmp_path / "cache.sqlite3")
    store = OcrJobStore()
    try:
        job_id = create_job(store, [png], OcrJobOptions(engine="qwen", budget_tokens=256, workers=1))
        summary = await OcrJob(store, job_id, runtime.service).run()
    finally:
        await runtime.close()
        server.close()
    ((status, result, error),) = store.db.execute("SELECT status, result, error FROM ocr_pages").fetchall()
    assert status == outcome and summary.engine_used == "qwen"  # a 500 is no reason to fall back
    assert server.posts == 3  # the engine client's retry policy: the first try and two more
    if outcome == "done":
        assert json.loads(result)["text"] == "Recognised text"
    else:
        assert "HTTP 500" in error and "retryable response" in error
    store.close()
