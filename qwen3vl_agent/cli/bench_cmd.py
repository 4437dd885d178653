"""`qwen3vl-agent bench`: load-test the app's own inference path (or a plain sync client)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from qwen3vl_agent.errors import UserFacingError


def _fmt(x: Any) -> str:
    if x is None:
        return "-"
    return f"{x:,.0f}" if isinstance(x, float) and x >= 100 else f"{x}"


def print_report(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    s = report["summary"]
    t = Table(
        title=f"bench {report['label'] or report['workload']} ({report['path']}, {report.get('model', '?')})"
    )
    t.add_column("metric")
    t.add_column("value", justify="right")
    t.add_row(
        "requests ok / sent",
        f"{s['ok']} / {s['sent']}" + (f"  ({s['errors']} failed: {s['error_kinds']})" if s["errors"] else ""),
    )
    t.add_row("QPS", f"{s['qps']:.2f}")
    for name in ("ttft_ms", "e2e_ms", "queue_wait_ms", "prep_ms"):
        d = s[name]
        t.add_row(f"{name[:-3]} ms p50 / p90 / p99", " / ".join(_fmt(d[k]) for k in ("p50", "p90", "p99")))
    t.add_row(
        "cache hit rate (planned)",
        f"{s['hit_rate']:.1%} ({s['planned_repeat_share']:.1%}) {s['hits_by_tier']}",
    )
    t.add_row("prompt tokens mean", _fmt(s["prompt_tokens_mean"]))
    t.add_row(
        "image", f"{s['image_size']} {s['visual_tokens']} visual tokens, {_fmt(s['image_bytes_p50'])} B p50"
    )
    server = report.get("server") or {}
    if "ttft_ms" in server:
        d = server["ttft_ms"]
        t.add_row(
            "server ttft ms mean / p50 / p99",
            " / ".join(_fmt(d[k]) for k in ("mean", "p50", "p99")),
        )
    if "agent_overhead" in report:
        o = report["agent_overhead"]
        t.add_row(
            "agent step overhead ms p50 (before / after model)",
            f"{_fmt(o['before_model_ms']['p50'])} / {_fmt(o['after_model_ms']['p50'])}",
        )
    Console(stderr=True).print(t)


@click.command()
@click.option("--workload", type=click.Choice(["chat", "agent", "ocr"]), default="chat", show_default=True)
@click.option(
    "--users", type=int, default=8, show_default=True, help="Closed loop: concurrent simulated users."
)
@click.option(
    "--rate", type=float, default=None, help="Open loop: Poisson arrivals per second (instead of --users)."
)
@click.option("--count", type=int, default=None, help="Requests to measure [default: 100 unless --duration].")
@click.option("--duration", type=float, default=None, help="Seconds to keep sending.")
@click.option(
    "--think-time",
    type=float,
    default=0.0,
    show_default=True,
    help="Closed loop: seconds between answer and next question.",
)
@click.option("--warmup", type=int, default=0, show_default=True, help="Unmeasured requests first.")
@click.option(
    "--repeat-mix",
    default=None,
    metavar="SESSION,PRIOR",
    help="Shares of repeated requests: SESSION repeats one made earlier in this run (memory cache), "
    "PRIOR repeats one answered in an earlier session (persistent cache). Seed-like: 0.68,0.22.",
)
@click.option("--images", type=click.Choice(["realistic", "noise"]), default="realistic", show_default=True)
@click.option(
    "--image-dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Use these screenshots/pages instead of generated ones.",
)
@click.option(
    "--n-images",
    type=int,
    default=12,
    show_default=True,
    help="Generated base images (each request stamps its own nonce).",
)
@click.option(
    "--budget",
    "budget_tokens",
    type=int,
    default=None,
    help="Visual-token budget [default: the task's from settings].",
)
@click.option("--full-res", is_flag=True, help="Send the images unresized (the server resizes).")
@click.option("--no-cache", is_flag=True, help="Bypass the result cache (and in-flight coalescing).")
@click.option("--max-tokens", type=int, default=64, show_default=True)
@click.option(
    "--no-ignore-eos", is_flag=True, help="Let the model stop early (default: always generate --max-tokens)."
)
@click.option(
    "--prompt-words", type=int, default=180, show_default=True, help="Chat: filler words before the question."
)
@click.option(
    "--baseline",
    type=click.Choice(["app", "sync"]),
    default="app",
    show_default=True,
    help="sync: the same requests one at a time through a plain blocking httpx client.",
)
@click.option(
    "--endpoint",
    default=None,
    help="OpenAI-compatible base URL, e.g. http://host:8000/v1, or several comma-separated "
    "(replicas: the app's pool routes least-outstanding) [default: the app's engine].",
)
@click.option("--api-key", default=None)
@click.option("--model", default=None, help="Served model name [default: asked from the server].")
@click.option(
    "--max-in-flight", type=int, default=None, help="The app queue's engine slots [default: one per user]."
)
@click.option(
    "--prior-pool", type=int, default=None, help="Distinct earlier-session requests for the PRIOR share."
)
@click.option(
    "--agent-overhead",
    type=int,
    default=0,
    help="Also time N agent steps outside the model (capture, prep, parse, map).",
)
@click.option(
    "--no-stream",
    is_flag=True,
    help="Ask for whole answers instead of streamed tokens (as OCR pages do); no client-side TTFT.",
)
@click.option(
    "--server-metrics/--no-server-metrics",
    default=True,
    show_default=True,
    help="With --endpoint: also report the server's own TTFT/queue/prefill histograms (vLLM /metrics).",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--label", default="", help="Name of this run in the report.")
@click.option("--samples", "keep_samples", is_flag=True, help="Keep every request's timings in the JSON.")
@click.option(
    "--out", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Write the JSON report here."
)
def bench(**kw: Any) -> None:
    """Load-test the app's inference path (queue -> cache -> engine client) and report
    QPS, TTFT / end-to-end p50/p90/p99, cache hit rate, queue wait and prompt tokens."""
    from qwen3vl_agent.bench.plan import RepeatMix
    from qwen3vl_agent.bench.runner import LoadConfig
    from qwen3vl_agent.bench.session import BenchOptions, run_bench
    from qwen3vl_agent.bench.workloads import Workload
    from qwen3vl_agent.config import load_settings

    if kw["full_res"] and kw["budget_tokens"]:
        raise click.UsageError("--full-res and --budget exclude each other")
    if kw["repeat_mix"] and kw["no_cache"]:
        raise click.UsageError("--repeat-mix measures the cache: drop --no-cache")
    count = kw["count"] if kw["count"] is not None else (None if kw["duration"] else 100)
    try:
        load = LoadConfig(
            users=kw["users"],
            rate=kw["rate"],
            count=count,
            duration_s=kw["duration"],
            think_time_s=kw["think_time"],
            warmup=kw["warmup"],
            seed=kw["seed"],
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    opts = BenchOptions(
        workload=Workload(kw["workload"]),
        load=load,
        mix=RepeatMix.parse(kw["repeat_mix"]),
        images=kw["images"],
        image_dir=kw["image_dir"],
        n_images=kw["n_images"],
        budget_tokens=kw["budget_tokens"],
        full_res=kw["full_res"],
        use_cache=not kw["no_cache"],
        max_tokens=kw["max_tokens"],
        ignore_eos=not kw["no_ignore_eos"],
        prompt_words=kw["prompt_words"],
        baseline=kw["baseline"],
        endpoint=kw["endpoint"],
        api_key=kw["api_key"],
        model=kw["model"],
        max_in_flight=kw["max_in_flight"],
        prior_pool=kw["prior_pool"],
        label=kw["label"],
        keep_samples=kw["keep_samples"],
        agent_overhead=kw["agent_overhead"],
        server_metrics=kw["server_metrics"],
        stream=not kw["no_stream"],
    )
    report = run_bench(load_settings(), opts)
    print_report(report)
    text = json.dumps(report, indent=2)
    if kw["out"]:
        try:
            kw["out"].parent.mkdir(parents=True, exist_ok=True)
            kw["out"].write_text(text + "\n", encoding="utf-8")
        except OSError as exc:
            raise UserFacingError(f"Cannot write the report to {kw['out']}: {exc}") from exc
        click.echo(str(kw["out"]))
    else:
        click.echo(text)
