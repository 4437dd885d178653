"""One benchmark run, end to end: settings -> runtime -> (prior session) -> load -> report.

The app path is the real one: `runtime.build_runtime(settings)` gives the `InferenceService`
(queue -> cache -> `OpenAIEngineClient`) every part of the app uses. The result cache lives in a
private folder per run, so one run never answers another's requests; for the PRIOR share of a
repeat mix the runtime is built twice on the same cache file (answer, close, reopen), so those
answers can only come from the persistent L2.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import platform
import tempfile
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from qwen3vl_agent.bench.baseline import resolve_model, run_sync_baseline
from qwen3vl_agent.bench.images import ImageKind, ImagePool, generate_pool, load_pool
from qwen3vl_agent.bench.plan import RepeatMix, RequestPlan
from qwen3vl_agent.bench.runner import LoadConfig, run_load, run_specs
from qwen3vl_agent.bench.server_metrics import Snapshot, difference, scrape_all
from qwen3vl_agent.bench.stats import Sample, summarise
from qwen3vl_agent.bench.workloads import RequestFactory, Workload, WorkloadConfig, image_kinds
from qwen3vl_agent.config import EndpointSettings, Settings

REPORT_VERSION = 1


@dataclass
class BenchOptions:
    workload: Workload = Workload.CHAT
    load: LoadConfig = field(default_factory=LoadConfig)
    mix: RepeatMix = field(default_factory=RepeatMix)
    images: Literal["realistic", "noise"] = "realistic"
    image_dir: Path | None = None
    n_images: int = 12
    budget_tokens: int | None = None
    full_res: bool = False
    use_cache: bool = True
    max_tokens: int = 64
    ignore_eos: bool = True
    prompt_words: int = 180
    baseline: Literal["app", "sync"] = "app"
    endpoint: str | None = None
    api_key: str | None = None
    model: str | None = None
    max_in_flight: int | None = None  # None: one slot per simulated user (as `vllm bench serve`)
    prior_pool: int | None = None  # None: one distinct prior request per planned PRIOR repeat
    label: str = ""
    keep_samples: bool = False
    agent_overhead: int = 0  # also time this many agent steps outside the model, one at a time
    stream: bool = True  # False: the engine answers in one JSON body (what OCR pages use)
    server_metrics: bool = True  # with --endpoint: the server's own histograms over the measured part


def build_pool(opts: BenchOptions) -> ImagePool:
    if opts.image_dir is not None:
        return load_pool(opts.image_dir)
    kinds = (ImageKind.NOISE,) if opts.images == "noise" else image_kinds(opts.workload)
    return generate_pool(kinds, opts.n_images, seed=opts.load.seed)


def build_factory(opts: BenchOptions, settings: Settings, pool: ImagePool) -> RequestFactory:
    cfg = WorkloadConfig(
        workload=opts.workload,
        budget_tokens=opts.budget_tokens,
        full_res=opts.full_res,
        max_tokens=opts.max_tokens,
        ignore_eos=opts.ignore_eos,
        use_cache=opts.use_cache,
        prompt_words=opts.prompt_words,
        stream=opts.stream,
        images=settings.images,
        remember_prepared=opts.mix.hit_share > 0,
    )
    return RequestFactory(cfg, pool)


def build_plan(opts: BenchOptions, pool: ImagePool, factory: RequestFactory) -> RequestPlan:
    prior_pool = opts.prior_pool
    if prior_pool is None:
        expected = (opts.load.count or 200) * opts.mix.prior
        prior_pool = max(1, round(expected * 1.25) + 2)
    return RequestPlan(
        opts.mix, len(pool), len(factory.questions), seed=opts.load.seed, prior_pool=prior_pool
    )


def endpoint_urls(opts: BenchOptions) -> list[str]:
    """`--endpoint` may name several servers (replicas), comma-separated."""
    return [u.strip() for u in (opts.endpoint or "").split(",") if u.strip()]


def _scrape(opts: BenchOptions) -> Snapshot | None:
    if not (opts.server_metrics and opts.endpoint):
        return None
    return scrape_all(endpoint_urls(opts), opts.api_key)


def _server_view(opts: BenchOptions, before: Snapshot | None) -> dict[str, Any]:
    """The server's histograms between `before` and now, or why there are none."""
    if not (opts.server_metrics and opts.endpoint):
        return {}
    after = _scrape(opts) if before is not None else None
    if before is None or after is None:
        return {"server": {"note": "the endpoint has no vLLM /metrics"}}
    return {"server": difference(before, after)}


def bench_settings(settings: Settings, opts: BenchOptions) -> Settings:
    """The app's settings with the bench's endpoint and in-flight cap applied."""
    s = settings.model_copy(deep=True)
    if opts.endpoint:
        # name the model explicitly: the engine client would otherwise send `engine.model`
        urls = endpoint_urls(opts)
        model = opts.model or resolve_model(urls[0], opts.api_key)
        s.engine.mode = "endpoints"
        s.engine.endpoints = [EndpointSettings(url=u, api_key=opts.api_key, model=model) for u in urls]
    users = opts.load.users if opts.load.rate is None else 1024
    s.queue.max_in_flight = opts.max_in_flight or max(users, 1)
    s.queue.max_queued = max(s.queue.max_queued, 100_000)
    if not opts.use_cache:
        s.cache.enabled = False
    return s


async def _app_run(
    settings: Settings, opts: BenchOptions, factory: RequestFactory, plan: RequestPlan, cache_path: Path
) -> tuple[list[Sample], dict[str, Any]]:
    from qwen3vl_agent.runtime import build_runtime

    extra: dict[str, Any] = {}
    prior = plan.prior_specs()
    if prior:
        runtime = await build_runtime(settings, cache_path=cache_path)
        try:
            warm = await run_specs(runtime.service, factory, prior, min(len(prior), opts.load.users, 32))
            await runtime.service.cache.flush()
        finally:
            await runtime.close()
        extra["prior_session"] = {
            "answered": sum(1 for s in warm if s.ok),
            "failed": sum(1 for s in warm if not s.ok),
        }
        if factory.memo is not None:
            factory.memo.clear()  # the earlier session was another process: its memo is gone
    runtime = await build_runtime(settings, cache_path=cache_path)
    try:
        extra["model"] = runtime.model_name
        extra["endpoint"] = opts.endpoint or "managed"
        before = await asyncio.to_thread(_scrape, opts)
        samples = await run_load(runtime.service, factory, plan, opts.load)
        extra.update(await asyncio.to_thread(_server_view, opts, before))
        stats = runtime.service.stats()
        if opts.agent_overhead:
            from qwen3vl_agent.bench.overhead import measure_agent_overhead

            agent_opts = replace(
                opts, workload=Workload.AGENT, budget_tokens=None, full_res=False, use_cache=False
            )
            agent_factory = build_factory(agent_opts, settings, factory.pool)
            agent_plan = RequestPlan(
                RepeatMix(), len(factory.pool), len(agent_factory.questions), seed=opts.load.seed + 7919
            )
            extra["agent_overhead"] = await measure_agent_overhead(
                runtime.service, agent_factory, agent_plan, opts.agent_overhead
            )
        extra["service_stats"] = {"queue": asdict(stats.queue), "cache": asdict(stats.cache)}
    finally:
        await runtime.close()
    return samples, extra


def _sync_run(
    settings: Settings, opts: BenchOptions, factory: RequestFactory, plan: RequestPlan
) -> tuple[list[Sample], dict[str, Any]]:
    endpoint = endpoint_urls(opts)[0] if opts.endpoint else None
    endpoint = endpoint or (settings.engine.endpoints[0].url if settings.engine.endpoints else None)
    if not endpoint:
        from qwen3vl_agent.errors import ConfigError

        raise ConfigError("--baseline sync needs a running server", "pass --endpoint URL (and --api-key)")
    api_key = opts.api_key if opts.endpoint else settings.engine.endpoints[0].api_key
    model = opts.model or resolve_model(endpoint, api_key)
    count = opts.load.count or 50
    if opts.load.warmup:
        run_sync_baseline(endpoint, api_key, model, factory, plan.warmup(opts.load.warmup))
    before = _scrape(opts)
    samples = run_sync_baseline(endpoint, api_key, model, factory, plan.take(count))
    return samples, {"model": model, "endpoint": endpoint, **_server_view(opts, before)}


def machine_info() -> dict[str, Any]:
    info: dict[str, Any] = {
        "host": platform.node(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
    }
    try:
        import pynvml

        pynvml.nvmlInit()
        info["gpus"] = [
            pynvml.nvmlDeviceGetName(pynvml.nvmlDeviceGetHandleByIndex(i))
            for i in range(pynvml.nvmlDeviceGetCount())
        ]
    except Exception:
        info["gpus"] = []
    return info


def run_bench(settings: Settings, opts: BenchOptions) -> dict[str, Any]:
    """Run one benchmark and return its JSON-able report."""
    pool = build_pool(opts)
    factory = build_factory(opts, settings, pool)
    plan = build_plan(opts, pool, factory)
    started = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    s = bench_settings(settings, opts)
    if opts.baseline == "sync":
        samples, extra = _sync_run(s, opts, factory, plan)
    else:
        with tempfile.TemporaryDirectory(prefix="qwen3vl-bench-") as tmp:
            samples, extra = asyncio.run(_app_run(s, opts, factory, plan, Path(tmp) / "cache.sqlite3"))
    summary = summarise(samples)
    options = asdict(opts)
    options["mix"] = {"session": opts.mix.session, "prior": opts.mix.prior}
    report: dict[str, Any] = {
        "version": REPORT_VERSION,
        "label": opts.label,
        "started_at": started,
        "path": "sync-baseline" if opts.baseline == "sync" else "app",
        "workload": opts.workload.value,
        "options": _jsonable(options),
        "budget_tokens": None if opts.full_res else factory.config.effective_budget(),
        "agent_prompt_source": factory.tool_source if opts.workload is Workload.AGENT else None,
        "queue_max_in_flight": s.queue.max_in_flight,
        "machine": machine_info(),
        **extra,
        "summary": summary.to_dict(),
    }
    if opts.keep_samples:
        report["samples"] = [_jsonable(asdict(x)) for x in samples]
    return report


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items() if k != "api_key"}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "value") and not isinstance(value, int | float | str):
        return value.value
    return value
