"""`qwen3vl-agent bench` against the real tiny CPU vLLM engine: report, sync baseline, repeat mix."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from qwen3vl_agent.bench.plan import RepeatMix
from qwen3vl_agent.bench.runner import LoadConfig
from qwen3vl_agent.bench.session import BenchOptions, run_bench
from qwen3vl_agent.bench.workloads import Workload
from qwen3vl_agent.cli.bench_cmd import bench
from qwen3vl_agent.config import Settings

pytestmark = [pytest.mark.engine, pytest.mark.slow]

# small images and prompts: the CPU engine on two cores needs seconds per request
SMALL = {"budget_tokens": 128, "prompt_words": 8, "max_tokens": 4}


def _opts(engine: Any, **kw: Any) -> BenchOptions:
    base: dict[str, Any] = {
        "endpoint": engine.base_url,
        "api_key": engine.api_key,
        "model": engine.served_model_name,
        "n_images": 3,
        **SMALL,
    }
    base.update(kw)
    return BenchOptions(**base)


def test_short_run_writes_a_complete_report(tiny_engine: Any, tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    before = tiny_engine.metric("vllm:request_success_total")
    result = CliRunner().invoke(
        bench,
        [
            "--endpoint",
            tiny_engine.base_url,
            "--api-key",
            tiny_engine.api_key,
            "--users",
            "2",
            "--count",
            "4",
            "--no-cache",
            "--budget",
            "128",
            "--prompt-words",
            "8",
            "--max-tokens",
            "4",
            "--n-images",
            "3",
            "--label",
            "short",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    s = report["summary"]
    assert (s["sent"], s["ok"], s["errors"]) == (4, 4, 0), s["first_error"]
    assert s["qps"] > 0 and s["wall_s"] > 0
    for dist in ("ttft_ms", "e2e_ms", "queue_wait_ms"):
        assert s[dist]["n"] == 4 and all(s[dist][k] is not None for k in ("p50", "p90", "p99"))
    assert s["ttft_ms"]["p50"] <= s["e2e_ms"]["p50"]
    assert s["prompt_tokens_mean"] > 128  # the image's tokens reached the engine
    assert s["completion_tokens_mean"] == 4  # ignore_eos: always max_tokens
    assert s["visual_tokens"] <= 128 and s["hit_rate"] == 0
    assert report["model"] == tiny_engine.served_model_name and report["label"] == "short"
    assert tiny_engine.metric("vllm:request_success_total") - before == 4  # all went to the engine
    server = report["server"]  # the engine's own histograms over exactly the measured requests
    assert server["ttft_ms"]["n"] == 4 and server["e2e_ms"]["n"] == 4
    assert 0 < server["ttft_ms"]["mean"] <= server["e2e_ms"]["mean"]
    assert server["generation_tokens"] == 16
    assert server["prompt_tokens"] == round(s["prompt_tokens_mean"] * 4)


def test_sync_baseline_runs_the_same_requests_one_at_a_time(tiny_engine: Any) -> None:
    before = tiny_engine.metric("vllm:request_success_total")
    report = run_bench(Settings(), _opts(tiny_engine, baseline="sync", load=LoadConfig(count=3)))
    s = report["summary"]
    assert report["path"] == "sync-baseline"
    assert (s["ok"], s["errors"]) == (3, 0), s["first_error"]
    assert s["ttft_ms"]["n"] == 0  # a blocking client sees no first token
    assert s["e2e_ms"]["p50"] > 0 and s["prompt_tokens_mean"] > 128
    assert tiny_engine.metric("vllm:request_success_total") - before == 3
    assert report["server"]["ttft_ms"]["n"] == 3  # the server still sees its first tokens


def test_repeat_mix_gives_the_planned_hit_rate(tiny_engine: Any) -> None:
    before = tiny_engine.metric("vllm:request_success_total")
    opts = _opts(tiny_engine, mix=RepeatMix(0.4, 0.3), load=LoadConfig(users=1, count=16, seed=3))
    report = run_bench(Settings(), opts)
    s = report["summary"]
    assert s["errors"] == 0, s["first_error"]
    assert s["planned_repeats"] >= 6  # the seed gives a mix with both kinds of repeats
    assert s["hits"] == s["planned_repeats"]
    assert s["hit_rate"] == s["planned_repeat_share"]
    assert s["hits_by_tier"].get("l2", 0) >= 1  # earlier-session answers came from SQLite
    assert s["hits_by_tier"].get("l1", 0) >= 1
    engine_calls = tiny_engine.metric("vllm:request_success_total") - before
    fresh = s["sent"] - s["hits"]
    assert engine_calls == fresh + report["prior_session"]["answered"]


def test_agent_workload_and_step_overhead(tiny_engine: Any, xvfb: Any) -> None:
    """With a display, the step's capture is the app's real mss grab, not a rendered stand-in."""
    opts = _opts(
        tiny_engine,
        workload=Workload.AGENT,
        use_cache=False,
        load=LoadConfig(users=2, count=2),
        agent_overhead=2,
    )
    report = run_bench(Settings(), opts)
    s = report["summary"]
    assert (s["ok"], s["errors"]) == (2, 0), s["first_error"]
    assert report["agent_prompt_source"] == "resources/computer_use"
    o = report["agent_overhead"]
    assert o["steps"] == 2
    assert o["capture_source"] == "mss screen capture (monitor 1)"
    for stage in (
        "before_model_ms",
        "capture_ms",
        "after_model_ms",
        "prep_ms",
        "parse_ms",
        "map_ms",
        "model_ms",
    ):
        assert o[stage]["n"] == 2 and o[stage]["p50"] is not None
    assert o["model_ms"]["p50"] > o["after_model_ms"]["p50"]


def test_open_loop_for_a_duration(tiny_engine: Any) -> None:
    opts = _opts(tiny_engine, use_cache=False, load=LoadConfig(rate=2.0, count=None, duration_s=2.0, seed=4))
    report = run_bench(Settings(), opts)
    s = report["summary"]
    assert s["errors"] == 0, s["first_error"]
    # Poisson arrivals at 2/s for 2 s: a handful, all answered (the last ones after the 2 s)
    assert 1 <= s["sent"] <= 12 and s["ok"] == s["sent"]
    assert report["options"]["load"]["rate"] == 2.0


def test_whole_answers_leave_ttft_to_the_server(tiny_engine: Any) -> None:
    report = run_bench(
        Settings(), _opts(tiny_engine, use_cache=False, stream=False, load=LoadConfig(count=2))
    )
    s = report["summary"]
    assert (s["ok"], s["errors"]) == (2, 0), s["first_error"]
    assert s["ttft_ms"]["n"] == 0  # nothing streams, so the client sees no first token
    assert s["completion_tokens_mean"] == 4
    assert report["server"]["ttft_ms"]["n"] == 2  # the server still timed its first tokens
