"""The bench's pure parts: repeat-mix parsing, the request plan, images, percentiles."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from qwen3vl_agent.bench.images import ImageKind, generate_pool, render, stamp_nonce
from qwen3vl_agent.bench.plan import RepeatMix, RequestPlan, SpecClass
from qwen3vl_agent.bench.stats import percentile
from qwen3vl_agent.bench.workloads import RequestFactory, Workload, WorkloadConfig
from qwen3vl_agent.errors import UserFacingError


def test_repeat_mix_parses_shares_and_percentages() -> None:
    assert RepeatMix.parse("0.68,0.22") == RepeatMix(0.68, 0.22)
    assert RepeatMix.parse("68%,22%") == RepeatMix(0.68, 0.22)
    assert RepeatMix.parse("0.5") == RepeatMix(0.5, 0.0)
    assert RepeatMix.parse(None).hit_share == 0
    for bad in ("0.8,0.3", "a,b", "0.1,0.1,0.1", "-0.1"):
        with pytest.raises(UserFacingError):
            RepeatMix.parse(bad)


def test_plan_is_deterministic_and_follows_the_mix() -> None:
    a = RequestPlan(RepeatMix(0.68, 0.22), n_images=12, n_questions=8, seed=5, prior_pool=400)
    b = RequestPlan(RepeatMix(0.68, 0.22), n_images=12, n_questions=8, seed=5, prior_pool=400)
    specs = a.take(4000)
    assert specs == b.take(4000)
    share = {c: sum(s.spec_class is c for s in specs) / len(specs) for c in SpecClass}
    assert share[SpecClass.SESSION_REPEAT] == pytest.approx(0.68, abs=0.03)
    assert share[SpecClass.PRIOR_REPEAT] == pytest.approx(0.22, abs=0.03)
    fresh_keys = [s.key for s in specs if s.spec_class is SpecClass.FRESH]
    assert len(fresh_keys) == len(set(fresh_keys))  # every fresh request is unique
    seen: set[str] = set()
    for s in specs:  # a session repeat always repeats a request made earlier in the run
        if s.spec_class is SpecClass.SESSION_REPEAT:
            assert s.key in seen
        seen.add(s.key)
    prior_keys = {p.key for p in a.prior_specs()}
    assert {s.key for s in specs if s.spec_class is SpecClass.PRIOR_REPEAT} <= prior_keys


def test_runs_with_other_seeds_share_no_request() -> None:
    one = {s.nonce for s in RequestPlan(RepeatMix(), 12, 8, seed=1).take(50)}
    two = {s.nonce for s in RequestPlan(RepeatMix(), 12, 8, seed=2).take(50)}
    assert not one & two


def test_realistic_images_compress_and_nonces_change_pixels() -> None:
    for kind in (ImageKind.FORM, ImageKind.DOCUMENT, ImageKind.DESKTOP):
        img = render(kind, 1)
        assert img.size == (1920, 1080)
        buf = io.BytesIO()
        img.save(buf, "PNG", compress_level=1)
        assert len(buf.getvalue()) < 1_000_000  # real screens compress; noise is ~6 MB
        a, b = stamp_nonce(img, "s0-f1"), stamp_nonce(img, "s0-f2")
        assert a.tobytes() != b.tobytes()
        assert stamp_nonce(img, "s0-f1").tobytes() == a.tobytes()
    assert render(ImageKind.PAGE, 1).size == (1240, 1754)
    noise = io.BytesIO()
    render(ImageKind.NOISE, 1).save(noise, "PNG", compress_level=1)
    assert len(noise.getvalue()) > 5_000_000


def test_factory_resizes_to_budget_or_sends_full_resolution() -> None:
    pool = generate_pool([ImageKind.FORM], 2, seed=0)
    spec = RequestPlan(RepeatMix(), len(pool), 8, seed=0).next()
    budget = RequestFactory(WorkloadConfig(budget_tokens=1024), pool).build(spec)
    assert budget.image.visual_tokens <= 1024
    assert (budget.image.width, budget.image.height) == (1344, 768)
    full = RequestFactory(WorkloadConfig(full_res=True), pool).build(spec)
    assert (full.image.width, full.image.height) == (1920, 1080)
    assert Image.open(io.BytesIO(full.image.data)).size == (1920, 1080)
    agent = RequestFactory(WorkloadConfig(workload=Workload.AGENT), pool).build(spec)
    assert agent.request.messages[0].role == "system"
    assert "computer_use" in str(agent.request.messages[0].content) or agent.request.tools


def test_a_repeat_mix_prepares_a_repeated_screenshot_once() -> None:
    from qwen3vl_agent.bench.session import BenchOptions, build_factory
    from qwen3vl_agent.config import Settings

    pool = generate_pool([ImageKind.FORM], 2, seed=0)
    plain = build_factory(BenchOptions(), Settings(), pool)
    assert plain.memo is None  # fresh screenshots only: hashing them would be pure cost
    repeats = build_factory(BenchOptions(mix=RepeatMix(0.68, 0.22)), Settings(), pool)
    assert repeats.memo is not None
    spec = RequestPlan(RepeatMix(), len(pool), 8, seed=0).next()
    first, again = repeats.build(spec), repeats.build(spec)  # a session repeat: the same spec
    assert again.image is first.image  # the same object: not prepared again
    other = repeats.build(RequestPlan(RepeatMix(), len(pool), 8, seed=1).next())
    assert other.image.pixel_hash != first.image.pixel_hash  # its own nonce: its own pixels
    assert (repeats.memo.stats().hits, repeats.memo.stats().misses) == (1, 2)


def test_the_agent_workload_sends_the_apps_own_prompt_and_tool() -> None:
    from qwen3vl_agent.resources_loader import computer_use_system_prompt, computer_use_tool

    factory = RequestFactory(
        WorkloadConfig(workload=Workload.AGENT), generate_pool([ImageKind.FORM], 1, seed=0)
    )
    assert factory.tool_source == "resources/computer_use"
    assert factory.system == computer_use_system_prompt() and factory.tools == [computer_use_tool()]


def test_percentile_interpolates() -> None:
    assert percentile([], 50) is None
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile(list(map(float, range(101))), 99) == 99.0


def test_report_tables_use_the_same_percentile_and_print_nan_for_no_samples() -> None:
    import math

    from qwen3vl_agent.percentile import percentile_or_nan

    assert percentile_or_nan([1.0, 2.0, 3.0, 4.0], 90) == pytest.approx(3.7)  # interpolated, not rank
    assert math.isnan(percentile_or_nan([], 99))


METRICS_BEFORE = """# HELP vllm:time_to_first_token_seconds Histogram of time to first token in seconds.
# TYPE vllm:time_to_first_token_seconds histogram
vllm:time_to_first_token_seconds_bucket{engine="0",le="0.1",model_name="m"} 1.0
vllm:time_to_first_token_seconds_bucket{engine="0",le="0.5",model_name="m"} 2.0
vllm:time_to_first_token_seconds_bucket{engine="0",le="+Inf",model_name="m"} 2.0
vllm:time_to_first_token_seconds_count{engine="0",model_name="m"} 2.0
vllm:time_to_first_token_seconds_sum{engine="0",model_name="m"} 0.35
vllm:prompt_tokens_total{engine="0",model_name="m"} 100.0
"""
METRICS_AFTER = """vllm:time_to_first_token_seconds_bucket{engine="0",le="0.1",model_name="m"} 1.0
vllm:time_to_first_token_seconds_bucket{engine="0",le="0.5",model_name="m"} 6.0
vllm:time_to_first_token_seconds_bucket{engine="0",le="+Inf",model_name="m"} 12.0
vllm:time_to_first_token_seconds_count{engine="0",model_name="m"} 12.0
vllm:time_to_first_token_seconds_sum{engine="0",model_name="m"} 8.35
vllm:prompt_tokens_total{engine="0",model_name="m"} 1300.0
"""


def test_server_metrics_difference_counts_only_the_measured_requests() -> None:
    from qwen3vl_agent.bench.server_metrics import difference, metrics_url, parse_metrics

    d = difference(parse_metrics(METRICS_BEFORE), parse_metrics(METRICS_AFTER))
    ttft = d["ttft_ms"]
    assert ttft["n"] == 10 and ttft["mean"] == 800.0  # (8.35 - 0.35) s over 10 requests
    # 4 of the 10 fell in (0.1, 0.5], 6 above 0.5: the median lies past the 0.5 s bucket
    assert ttft["p50"] == 500.0
    assert d["prompt_tokens"] == 1200
    assert "e2e_ms" not in d  # absent histograms are left out, not reported as zero
    assert metrics_url("http://h:8000/v1") == "http://h:8000/metrics"
    assert metrics_url("http://h:8000/v1/") == "http://h:8000/metrics"


def test_sync_baseline_sends_the_apps_own_body_whole() -> None:
    import dataclasses

    from qwen3vl_agent.bench.baseline import chat_payload
    from qwen3vl_agent.engine.client import build_payload

    pool = generate_pool([ImageKind.FORM], 1, seed=0)
    spec = RequestPlan(RepeatMix(), len(pool), 4, seed=0).next()
    built = RequestFactory(WorkloadConfig(workload=Workload.AGENT), pool).build(spec)
    sampling = dataclasses.replace(built.request.sampling, seed=7, stop=("</s>",))
    built = dataclasses.replace(built, request=dataclasses.replace(built.request, sampling=sampling))
    body = chat_payload(built, "served-name")
    assert body["stream"] is False and "stream_options" not in body
    assert body["seed"] == 7 and body["stop"] == ["</s>"]  # fields the old hand-built body dropped
    streamed = build_payload(built.request, "served-name")
    assert {k: v for k, v in streamed.items() if k not in ("stream", "stream_options")} == {
        k: v for k, v in body.items() if k != "stream"
    }
