"""The OCR job's worker processes and memory budget: a page that kills its worker is retried
alone and quarantined the second time, the other pages finish, and no process pool is leaked."""

from __future__ import annotations

import asyncio
import os
import time
from multiprocessing import forkserver
from pathlib import Path

from PIL import Image, ImageDraw

from qwen3vl_agent.agents.ocr_job import JobProgress, OcrJob, OcrJobOptions, create_job
from qwen3vl_agent.agents.ocr_job_store import OcrJobStore
from qwen3vl_agent.agents.ocr_workers import MemoryBudget
from tests.support.crashing_worker import run_page_or_die


def _small_pages(folder: Path, names: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names):
        image = Image.new("RGB", (360, 90), "white")
        ImageDraw.Draw(image).text((12, 30), f"Page number {i}", fill="black")
        image.save(folder / name)


def _children_of(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            out.append(int(entry))
    return out


async def test_a_page_that_kills_its_worker_is_quarantined_and_no_pool_is_leaked(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    _small_pages(folder, ["a.png", "b.png", "crash.png", "d.png", "e.png"])
    store = OcrJobStore()
    job_id = create_job(
        store, [folder], OcrJobOptions(engine="cpu", workers=2, out_dir=str(tmp_path / "out"))
    )
    events: list[JobProgress] = []
    job = OcrJob(store, job_id, on_progress=events.append)
    job.cpu_page = run_page_or_die
    summary = await job.run()

    c = summary.counts
    assert (c.done, c.failed, c.quarantined, c.pending, c.running) == (4, 0, 1, 0, 0)
    assert summary.status == "done_with_errors"
    ((path, page, reason),) = summary.failures
    assert Path(path).name == "crash.png" and page == 1 and "quarantined" in reason
    assert [Path(e.path or "").name for e in events if e.kind == "page_quarantined"] == ["crash.png"]
    stats = {Path(p).name: (s, n) for p, s, n in store.db.execute(
        "SELECT d.path, p.status, p.completions FROM ocr_pages p JOIN ocr_documents d ON d.id = p.document_id"
    )}  # fmt: skip
    assert stats["crash.png"] == ("quarantined", 0)
    assert all(v == ("done", 1) for k, v in stats.items() if k != "crash.png")  # innocent pages once each
    # the export lists the quarantined page as a failure
    assert (tmp_path / "out" / "crash.txt").exists()

    # one pool per crash at most (never one per page in flight), every one shut down; one more
    # if the job switched to its one PaddleOCR process (PIL's bitmap font leaves Tesseract unsure)
    assert job.workers is not None and job.cpu_mode is not None
    switches = 1 if job.cpu_mode.switched else 0
    assert job.workers.pools_started == job.workers.pools_shut_down <= 3 + switches
    server = forkserver._forkserver._forkserver_pid  # type: ignore[attr-defined]
    deadline = time.monotonic() + 20
    while _children_of(server) and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    assert _children_of(server) == []  # no worker process outlives the job
    store.close()


async def test_the_memory_budget_never_lets_pages_exceed_it_and_runs_a_giant_alone() -> None:
    budget = MemoryBudget(100)
    inside: list[int] = []
    peak_pages = 0

    async def page(nbytes: int) -> None:
        nonlocal peak_pages
        async with budget.hold(nbytes):
            inside.append(nbytes)
            peak_pages = max(peak_pages, len(inside))
            assert sum(min(n, 100) for n in inside) <= 100
            if nbytes > 100:
                assert inside == [nbytes]  # larger than the whole budget: alone
            await asyncio.sleep(0.01)
            inside.remove(nbytes)

    await asyncio.gather(*(page(n) for n in [30, 30, 30, 500, 60, 10, 10, 90, 30]))
    assert budget.in_use == 0 and budget.peak <= 100 and peak_pages >= 3

    # a holder cancelled while waiting or holding gives everything back
    async with budget.hold(100):
        waiting = asyncio.create_task(page(50))
        await asyncio.sleep(0.01)
        waiting.cancel()
    await asyncio.gather(waiting, return_exceptions=True)
    assert budget.in_use == 0


_KILLED_APP = """
import os, signal
from qwen3vl_agent.agents.ocr_workers import WorkerPool
pool = WorkerPool(2)
assert pool.call(os.getpid) > 0
print(" ".join(str(pid) for pid in pool._current()._processes), flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_workers_end_when_the_app_is_killed() -> None:
    """A SIGKILLed app cannot shut its pool down; its workers must not wait on their queue forever."""
    import subprocess
    import sys

    # not capture_output: the fork server keeps the pipe open until its last worker is gone
    app = subprocess.Popen(
        [sys.executable, "-c", _KILLED_APP],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    line = app.stdout.readline()  # type: ignore[union-attr]
    assert app.wait(120) == -9
    app.stdout.close()  # type: ignore[union-attr]
    workers = [int(p) for p in line.split()]
    assert workers  # the pool starts its workers as work arrives

    def alive(pid: int) -> bool:
        try:
            return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
        except OSError:
            return False

    deadline = time.monotonic() + 30
    while any(alive(p) for p in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(alive(p) for p in workers)
