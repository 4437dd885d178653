"""What the OCR job machinery costs per page on top of the inference queue, against the tiny engine.

Starts the real tiny vLLM engine (CPU build, random Qwen3-VL) through the app's ManagedEngine,
then runs N distinct one-page images twice, alternating:

* direct: the same kind of requests (prepared beforehand) straight into `InferenceService.submit`
  with the same concurrency (the queue alone);
* job: `create_job` + `OcrJob.run` (load each page from disk, prepare it, submit, parse, write
  the result to SQLite, progress events) at the same concurrency.

Overhead per page = (job - direct) / N, median over the rounds. Answers are short (16 tokens)
so the engine's own time does not hide the overhead. Result cache off (every page reaches the engine).

    .venv/bin/python benchmarks/ocr_job_overhead.py [--pages 40] [--concurrency 4] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from PIL import Image, ImageDraw  # noqa: E402

from qwen3vl_agent.agents.ocr_job import OcrJob, OcrJobOptions, create_job  # noqa: E402
from qwen3vl_agent.agents.ocr_job_store import OcrJobStore  # noqa: E402
from qwen3vl_agent.config import CacheSettings, EngineSettings, QueueSettings, Settings  # noqa: E402
from qwen3vl_agent.engine.managed import ManagedEngine  # noqa: E402
from qwen3vl_agent.inference.request import InferenceRequest  # noqa: E402
from qwen3vl_agent.ocr.inputs import LoadOptions, PageRef, load_page  # noqa: E402
from qwen3vl_agent.ocr.qwen_engine import QwenOcrEngine, QwenOptions  # noqa: E402
from qwen3vl_agent.runtime import build_runtime  # noqa: E402
from tests.support.engine_fixtures import ENGINE_PYTHON, TINY_MODEL_DIR, tiny_engine_settings  # noqa: E402
from tests.support.tiny_checkpoint import ensure_tiny_checkpoint  # noqa: E402

BUDGET = 256
MAX_TOKENS = 16


def make_pages(folder: Path, n: int, tag: str) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        image = Image.new("RGB", (640, 480), "white")
        ImageDraw.Draw(image).text((40, 40 + 7 * (i % 50)), f"{tag} page {i}", fill="black")
        paths.append(folder / f"{tag}-{i:03d}.png")
        image.save(paths[-1])
    return paths


async def direct(service: object, paths: list[Path], concurrency: int) -> tuple[float, float, float]:
    engine = QwenOcrEngine(service, QwenOptions(budget_tokens=BUDGET, max_tokens=MAX_TOKENS))  # type: ignore[arg-type]
    prep = time.process_time()
    requests: list[InferenceRequest] = [
        engine.build_request(load_page(PageRef(str(p), "image", 0), LoadOptions())) for p in paths
    ]
    prep = time.process_time() - prep
    slots = asyncio.Semaphore(concurrency)

    async def one(request: InferenceRequest) -> None:
        async with slots:
            await service.submit(request)  # type: ignore[attr-defined]

    start, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(one(r) for r in requests))
    return time.perf_counter() - start, time.process_time() - cpu, prep


async def job(service: object, folder: Path, concurrency: int, pages: int) -> tuple[float, float, float]:
    store = OcrJobStore()
    start = time.perf_counter()
    options = OcrJobOptions(
        engine="qwen", budget_tokens=BUDGET, max_tokens=MAX_TOKENS, concurrency=concurrency
    )
    job_id = create_job(store, [folder], options)
    created = time.perf_counter() - start
    start, cpu = time.perf_counter(), time.process_time()
    summary = await OcrJob(store, job_id, service, max_in_flight=concurrency).run()  # type: ignore[arg-type]
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    assert summary.counts.done == pages, summary
    store.close()
    return created, elapsed, cpu


async def main_async(args: argparse.Namespace, tmp: Path) -> None:
    model_dir = ensure_tiny_checkpoint(ENGINE_PYTHON, TINY_MODEL_DIR)
    managed = ManagedEngine(tiny_engine_settings(model_dir), tmp / "logs")
    await managed.start()
    try:
        settings = Settings(
            engine=EngineSettings(
                mode="endpoints",
                endpoints=[
                    {"url": managed.base_url, "api_key": managed.api_key, "model": managed.served_model_name}
                ],  # type: ignore[list-item]
            ),
            queue=QueueSettings(max_in_flight=args.concurrency),
            cache=CacheSettings(enabled=False),
        )
        runtime = await build_runtime(settings, cache_path=tmp / "cache.sqlite3")
        try:
            warm = make_pages(tmp / "warm", 4, "warm")
            await direct(runtime.service, warm, args.concurrency)
            directs, jobs, creates, d_cpu, j_cpu, preps = [], [], [], [], [], []
            for r in range(args.rounds):
                d_paths = make_pages(tmp / f"direct{r}", args.pages, f"d{r}")
                d_wall, d_cpu_s, prep_s = await direct(runtime.service, d_paths, args.concurrency)
                directs.append(d_wall)
                d_cpu.append(d_cpu_s)
                preps.append(prep_s)
                make_pages(tmp / f"job{r}", args.pages, f"j{r}")
                created, elapsed, j_cpu_s = await job(
                    runtime.service, tmp / f"job{r}", args.concurrency, args.pages
                )
                creates.append(created)
                jobs.append(elapsed)
                j_cpu.append(j_cpu_s)
                print(
                    f"round {r}: direct {directs[-1]:.2f} s, job {elapsed:.2f} s (+ create_job {created:.3f} s)"
                )
        finally:
            await runtime.close()
    finally:
        await managed.stop()
    n = args.pages
    d, j = statistics.median(directs), statistics.median(jobs)
    print(
        f"pages {n}, concurrency {args.concurrency}, rounds {args.rounds}, load avg {os.getloadavg()[0]:.2f}"
    )
    print(f"direct (queue only): {d / n * 1000:.1f} ms/page ({n / d:.2f} pages/s)")
    print(f"job:                 {j / n * 1000:.1f} ms/page ({n / j:.2f} pages/s)")
    print(f"job overhead:        {(j - d) / n * 1000:.1f} ms/page (median of rounds)")
    dc, jc, pc = statistics.median(d_cpu), statistics.median(j_cpu), statistics.median(preps)
    print(f"client CPU (this process): direct {dc / n * 1000:.1f} ms/page, job {jc / n * 1000:.1f} ms/page")
    print(f"  page load + image prep (direct did it before timing): {pc / n * 1000:.1f} ms/page")
    print(f"  job machinery (SQLite, events, parsing, tasks): {(jc - dc - pc) / n * 1000:.1f} ms/page")
    print(
        f"create_job:          {statistics.median(creates) / n * 1000:.2f} ms/page (discover, count, page rows)"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pages", type=int, default=40)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["QWEN3VL_AGENT_HOME"] = str(Path(tmp) / "home")
        asyncio.run(main_async(args, Path(tmp)))


if __name__ == "__main__":
    main()
