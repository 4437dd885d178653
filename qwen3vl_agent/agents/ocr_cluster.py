"""Corpus-scale OCR on an existing Ray cluster, with Ray Data.

The job machinery stays the local one (`ocr_job.OcrJob`): the same SQLite job store, the same
resume rule (only pending pages are sent), the same exports. What moves to the cluster is the
page work: each worker reads and renders its page from the path (so the documents must sit on
storage every node sees: a shared or network file system) and recognises it with the CPU engine
(Tesseract on the worker) or through the configured OpenAI-compatible endpoints (Qwen3-VL).
Results stream back to the driver as they finish and are recorded one by one, so a killed run
resumes where it stopped.

Anyone who can reach a Ray cluster (its GCS port, Ray Client, the dashboard, job submission)
can run any code on it and read what its workers hold, endpoint keys included: run Ray on a
private network only. Within that boundary the keys still stay out of the pickled actor
arguments (task specs, the object store, spilled objects): they travel in the actors'
`runtime_env` as environment variables (`split_endpoint_keys` / `join_endpoint_keys`).

Ray is an optional dependency (`pip install 'qwen3vl-agent[cluster]'`).
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from qwen3vl_agent.agents.ocr_job import OcrJob, ProgressCallback
from qwen3vl_agent.agents.ocr_job_store import OcrJobStore
from qwen3vl_agent.errors import UserFacingError
from qwen3vl_agent.ocr.cpu_engine import CpuOptions
from qwen3vl_agent.ocr.model import OcrPage
from qwen3vl_agent.ocr.qwen_engine import Mode, QwenOptions

PAGES_PER_TASK = 4
KEY_ENV_PREFIX = "QWEN3VL_AGENT_ENDPOINT_KEY_"  # + the endpoint's index: its API key on the workers


class ClusterError(UserFacingError):
    """The Ray cluster cannot be reached or failed the run."""


@dataclass(frozen=True)
class ClusterOptions:
    """Where and how wide: `address` as Ray takes it (`ray://HOST:10001`, `HOST:6379`, `auto`)."""

    address: str
    workers: int | None = None  # pages in parallel; None = the cluster's CPUs
    # for the Qwen engine on the workers; their keys travel apart (see `split_endpoint_keys`)
    endpoints: list[dict[str, Any]] = field(default_factory=list, repr=False)


@dataclass(frozen=True)
class ClusterPage:
    """One page to do: what the worker needs to find it, and the driver's handle to record it."""

    key: int
    path: str
    kind: str
    index: int


@dataclass(frozen=True)
class ClusterResult:
    key: int
    page: dict[str, Any] | None
    error: str | None
    seconds: float


def _ray() -> Any:
    try:
        import ray
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise ClusterError(
            "Ray is not installed", "pip install 'qwen3vl-agent[cluster]' to use --cluster"
        ) from exc
    return ray


def _probe(address: str, timeout_s: float = 5.0) -> None:
    """Fail fast when nothing listens at HOST:PORT (Ray itself retries for minutes)."""
    hostport = address.split("://", 1)[-1]
    if hostport in ("auto", "local") or ":" not in hostport:
        return
    host, _, port = hostport.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s):
            pass
    except (OSError, ValueError) as exc:
        raise ClusterError(
            f"Cannot connect to the Ray cluster at {address}: {exc}",
            "check the address (ray://HOST:10001 for Ray Client, HOST:6379 for the head's GCS)",
        ) from exc


def connect(address: str) -> Any:
    """Connect to the cluster once per process (a clear error when it is not there)."""
    ray = _ray()
    if ray.is_initialized():
        return ray
    _probe(address)
    try:
        ray.init(address=address, logging_level="WARNING", log_to_driver=False, ignore_reinit_error=True)
    except Exception as exc:
        raise ClusterError(f"Cannot connect to the Ray cluster at {address}: {exc}") from exc
    return ray


def _cpu_page(row: dict[str, Any], load: Any, options: Any) -> dict[str, Any]:
    """Worker side, CPU engine: load, render and read one page; never raises.

    The page travels back as JSON text: its nested, ragged structure does not fit Arrow's columns.
    """
    from qwen3vl_agent.ocr import cpu_engine
    from qwen3vl_agent.ocr.inputs import PageRef

    start = time.monotonic()
    try:
        page = cpu_engine.run_page(PageRef(row["path"], row["kind"], row["index"]), load, options)
        return {
            "key": row["key"],
            "page": json.dumps(page),
            "error": None,
            "seconds": time.monotonic() - start,
        }
    except Exception as exc:
        reason = str(exc) if isinstance(exc, UserFacingError) else f"{type(exc).__name__}: {exc}"
        return {"key": row["key"], "page": None, "error": reason, "seconds": time.monotonic() - start}


@dataclass(frozen=True)
class WorkerEndpoints:
    """The endpoints as they travel to the workers: the keys apart from everything else.

    `endpoints` (no `api_key`, an `api_key_env` name instead) become the actors' constructor
    arguments, which Ray pickles into the task spec and the object store; `env` (name -> key) goes
    into the actors' `runtime_env` and reaches the worker only as environment variables."""

    endpoints: list[dict[str, Any]]
    env: dict[str, str]


def split_endpoint_keys(endpoints: Sequence[dict[str, Any]]) -> WorkerEndpoints:
    """Take each endpoint's API key out of its settings and name the variable that carries it."""
    public: list[dict[str, Any]] = []
    env: dict[str, str] = {}
    for index, endpoint in enumerate(endpoints):
        entry = {k: v for k, v in endpoint.items() if k != "api_key"}
        key = endpoint.get("api_key")
        if key:
            name = f"{KEY_ENV_PREFIX}{index}"
            env[name] = str(key)
            entry["api_key_env"] = name
        public.append(entry)
    return WorkerEndpoints(public, env)


def join_endpoint_keys(endpoints: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Worker side: the endpoint settings again, each key read from the variable it names."""
    joined: list[dict[str, Any]] = []
    for endpoint in endpoints:
        entry = {k: v for k, v in endpoint.items() if k != "api_key_env"}
        name = endpoint.get("api_key_env")
        if name:
            key = os.environ.get(name)
            if not key:
                raise ClusterError(
                    f"The endpoint key did not reach this Ray worker ({name} is not set)",
                    "the key travels in the job's runtime_env: check that the cluster accepts runtime_env env_vars",
                )
            entry["api_key"] = key
        joined.append(entry)
    return joined


class _QwenPages:
    """Worker side, Qwen3-VL: one client per worker actor, talking to the configured endpoints."""

    def __init__(self, endpoints: list[dict[str, Any]], qwen_options: Any, load: Any) -> None:
        from qwen3vl_agent.config import EndpointSettings, EngineSettings, Settings
        from qwen3vl_agent.ocr.qwen_engine import QwenOcrEngine

        settings = Settings(
            engine=EngineSettings(
                mode="endpoints",
                endpoints=[EndpointSettings(**e) for e in join_endpoint_keys(endpoints)],
            )
        )
        settings.cache.enabled = False
        self._loop = asyncio.new_event_loop()
        self._runtime = self._loop.run_until_complete(self._build(settings))
        self._engine = QwenOcrEngine(self._runtime.service, qwen_options)
        self._load = load

    @staticmethod
    async def _build(settings: Any) -> Any:
        from qwen3vl_agent.runtime import build_runtime

        return await build_runtime(settings, start_engine=False)

    async def _one(self, row: dict[str, Any]) -> dict[str, Any]:
        from qwen3vl_agent.ocr.inputs import PageRef, load_page

        start = time.monotonic()
        try:
            page = await asyncio.to_thread(
                load_page, PageRef(row["path"], row["kind"], row["index"]), self._load
            )
            result = await self._engine.recognise(page)
            return {
                "key": row["key"],
                "page": json.dumps(result.to_dict()),
                "error": None,
                "seconds": time.monotonic() - start,
            }
        except Exception as exc:
            reason = str(exc) if isinstance(exc, UserFacingError) else f"{type(exc).__name__}: {exc}"
            return {"key": row["key"], "page": None, "error": reason, "seconds": time.monotonic() - start}

    async def _all(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return list(await asyncio.gather(*(self._one(r) for r in rows)))

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[Any]]:
        # batches arrive as numpy columns: back to plain Python values (JSON and PageRef want them)
        rows = [
            {"key": int(k), "path": str(p), "kind": str(kd), "index": int(i)}
            for k, p, kd, i in zip(batch["key"], batch["path"], batch["kind"], batch["index"], strict=True)
        ]
        # Ray calls this from its own threads: the coroutine is built and run on the actor's loop
        done = self._loop.run_until_complete(self._all(rows))
        return {name: [d[name] for d in done] for name in ("key", "page", "error", "seconds")}


def run_pages(
    cluster: ClusterOptions,
    pages: Sequence[ClusterPage],
    *,
    engine: str,
    load: Any,
    cpu_options: Any = None,
    qwen_options: Any = None,
    stop: threading.Event | None = None,
) -> Iterator[ClusterResult]:
    """Run the pages on the cluster; yield each result as soon as it is back (blocking iterator)."""
    if not pages:
        return
    connect(cluster.address)
    import ray
    import ray.data

    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.verbose_stats_logs = False
    width = cluster.workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
    rows = [{"key": p.key, "path": p.path, "kind": p.kind, "index": p.index} for p in pages]
    # a few pages per task: one page per task spends a good part of a small page's time in Ray's
    # scheduling; a few still spread over the workers and stream back steadily
    ds: Any = ray.data.from_items(rows, override_num_blocks=max(width, -(-len(rows) // PAGES_PER_TASK)))
    if engine == "cpu":
        ds = ds.map(
            _cpu_page, fn_kwargs={"load": load, "options": cpu_options}, num_cpus=1, concurrency=width
        )
    elif engine == "qwen":
        if not cluster.endpoints:
            raise ClusterError(
                "The Qwen3-VL engine on a cluster needs endpoints", "set engine.endpoints in the settings"
            )
        # keys never ride in the pickled constructor arguments: they reach the workers as
        # environment variables of the actors (runtime_env), the rest of the settings as arguments
        worker = split_endpoint_keys(cluster.endpoints)
        ds = ds.map_batches(
            cast(Callable[..., Any], _QwenPages),
            fn_constructor_kwargs={
                "endpoints": worker.endpoints,
                "qwen_options": qwen_options,
                "load": load,
            },
            runtime_env={"env_vars": worker.env} if worker.env else None,
            batch_size=4,
            num_cpus=1,
            concurrency=width,
        )
    else:
        raise ClusterError(f"Unknown engine {engine!r} for a cluster run")
    try:
        for row in ds.iter_rows():
            page = json.loads(row["page"]) if row["page"] is not None else None
            yield ClusterResult(int(row["key"]), page, row["error"], float(row["seconds"]))
            if stop is not None and stop.is_set():
                return
    except Exception as exc:
        if isinstance(exc, UserFacingError):
            raise
        raise ClusterError(f"The Ray run failed: {type(exc).__name__}: {exc}") from exc


async def stream_results(
    cluster: ClusterOptions, pages: Sequence[ClusterPage], **kwargs: Any
) -> AsyncIterator[ClusterResult]:
    """Async view of `run_pages`: the blocking Ray iteration runs in a thread, results come through a queue."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[ClusterResult | BaseException | None] = asyncio.Queue()
    stop = threading.Event()

    def pump() -> None:
        try:
            for result in run_pages(cluster, pages, stop=stop, **kwargs):
                loop.call_soon_threadsafe(queue.put_nowait, result)
        except BaseException as exc:
            loop.call_soon_threadsafe(queue.put_nowait, exc)
        finally:
            loop.call_soon_threadsafe(queue.put_nowait, None)

    thread = threading.Thread(target=pump, name="ray-ocr", daemon=True)
    thread.start()
    try:
        while True:
            item = await queue.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()


class ClusterOcrJob(OcrJob):
    """An `OcrJob` whose pages run on a Ray cluster; store, resume, progress and exports stay local."""

    def __init__(
        self,
        store: OcrJobStore,
        job_id: str,
        cluster: ClusterOptions,
        *,
        on_progress: ProgressCallback | None = None,
    ) -> None:
        super().__init__(store, job_id, service=_REMOTE, on_progress=on_progress)
        self.cluster = cluster

    async def _run_cluster(self, engine: str) -> None:
        # only the pages this run could claim: another run of the job may hold the others
        pending = [p for p in self.store.pending_pages(self.job_id) if self.store.claim(p, self.run_id)]
        by_key = dict(enumerate(pending))
        pages = [ClusterPage(key, p.path, self._ref(p).kind, p.page_index) for key, p in by_key.items()]
        qwen_options = None
        if engine == "qwen":
            qwen_options = QwenOptions(
                mode=cast(Mode, self.options.mode),
                schema=self.options.schema,
                budget_tokens=self.options.budget_tokens,
                max_tokens=self.options.max_tokens,
            )
        cpu_options = CpuOptions(languages=self.options.languages, lang=self.options.lang)
        engine_name = "tesseract" if engine == "cpu" else f"qwen3-vl:{self.options.mode}"
        async for result in stream_results(
            self.cluster,
            pages,
            engine=engine,
            load=self.load,
            cpu_options=cpu_options,
            qwen_options=qwen_options,
        ):
            page = by_key[result.key]
            if result.page is not None:
                self._record_done(page, OcrPage.from_dict(result.page), result.seconds)
            else:
                self._record_failed(page, result.error or "unknown failure", engine_name, result.seconds)

    async def _run_qwen(self) -> None:
        await self._run_cluster("qwen")

    async def _run_cpu(self) -> None:
        await self._run_cluster("cpu")


class _RemoteService:
    """Marks that Qwen3-VL pages are served by the cluster's workers, not a local service."""

    async def submit(self, request: Any, on_delta: Any = None) -> Any:  # pragma: no cover - never called
        raise ClusterError("pages of a cluster job are recognised on the workers")


_REMOTE = _RemoteService()
