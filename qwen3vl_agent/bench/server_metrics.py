"""The engine's own view of a benchmark run, from vLLM's Prometheus `/metrics`.

The client measures what a user waits for; the server's histograms say where that time went
(queue, prefill, decode) and give time-to-first-token even when the client cannot see the first
token (a random-weight model whose tokens decode to empty text). We scrape before and after the
measured part and report the difference, so earlier traffic on the same server does not count.
Percentiles come from the histogram buckets (linear inside a bucket), so they are estimates.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

HISTOGRAMS = {
    "ttft_ms": "vllm:time_to_first_token_seconds",
    "e2e_ms": "vllm:e2e_request_latency_seconds",
    "queue_ms": "vllm:request_queue_time_seconds",
    "prefill_ms": "vllm:request_prefill_time_seconds",
    "decode_ms": "vllm:request_decode_time_seconds",
}
COUNTERS = {
    "prompt_tokens": "vllm:prompt_tokens_total",
    "generation_tokens": "vllm:generation_tokens_total",
    # prefix-cache reuse (tokens) and the multimodal processor cache (items), where vLLM has them
    "prefix_cache_queries": "vllm:prefix_cache_queries_total",
    "prefix_cache_hits": "vllm:prefix_cache_hits_total",
    "mm_cache_queries": "vllm:mm_cache_queries_total",
    "mm_cache_hits": "vllm:mm_cache_hits_total",
}


@dataclass
class Snapshot:
    """Series summed over every label set except `le` (one engine may report per model/engine)."""

    values: dict[str, float] = field(default_factory=dict)
    buckets: dict[str, dict[float, float]] = field(default_factory=lambda: defaultdict(dict))


def parse_samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    """Samples of a Prometheus text exposition: (name, labels, value).

    Parsed by `prometheus_client`; a malformed line ends the parse (the metric families completed
    before it are kept): a server that garbles its metrics loses that breakdown, not the benchmark.
    """
    samples: list[tuple[str, dict[str, str], float]] = []
    try:
        for family in text_string_to_metric_families(text):
            samples.extend((s.name, dict(s.labels), float(s.value)) for s in family.samples)
    except ValueError:
        pass
    return samples


def parse_metrics(text: str) -> Snapshot:
    snap = Snapshot()
    for name, labels, value in parse_samples(text):
        if name.endswith("_bucket"):
            if "le" not in labels:
                continue
            bound = math.inf if labels["le"] == "+Inf" else float(labels["le"])
            series = snap.buckets[name.removesuffix("_bucket")]
            series[bound] = series.get(bound, 0.0) + value
        else:
            snap.values[name] = snap.values.get(name, 0.0) + value
    return snap


def metrics_url(endpoint: str) -> str:
    base = endpoint.rstrip("/")
    return (base.removesuffix("/v1") or base) + "/metrics"


def scrape(endpoint: str, api_key: str | None = None, timeout_s: float = 10.0) -> Snapshot | None:
    """The server's metrics now, or None when it has no (vLLM) metrics endpoint."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        resp = httpx.get(metrics_url(endpoint), headers=headers, timeout=timeout_s)
    except httpx.HTTPError:
        return None
    if resp.status_code != 200 or "vllm:" not in resp.text:
        return None
    return parse_metrics(resp.text)


def scrape_all(endpoints: list[str], api_key: str | None = None) -> Snapshot | None:
    """The sum of several servers' metrics (replicas of one engine), or None if one has none."""
    merged = Snapshot()
    for endpoint in endpoints:
        snap = scrape(endpoint, api_key)
        if snap is None:
            return None
        for name, value in snap.values.items():
            merged.values[name] = merged.values.get(name, 0.0) + value
        for name, series in snap.buckets.items():
            for bound, count in series.items():
                merged.buckets[name][bound] = merged.buckets[name].get(bound, 0.0) + count
    return merged


def _quantile(buckets: list[tuple[float, float]], q: float) -> float | None:
    """Estimate a quantile from cumulative (bound, count) pairs, linear inside the bucket."""
    total = buckets[-1][1] if buckets else 0.0
    if total <= 0:
        return None
    target = q * total
    prev_bound, prev_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= target:
            if math.isinf(bound):
                return prev_bound
            share = (target - prev_count) / (count - prev_count) if count > prev_count else 1.0
            return prev_bound + (bound - prev_bound) * share
        prev_bound, prev_count = bound, count
    return prev_bound


def difference(before: Snapshot, after: Snapshot) -> dict[str, Any]:
    """What the server recorded between the two scrapes: means and bucket-estimated percentiles."""
    out: dict[str, Any] = {}
    for key, name in HISTOGRAMS.items():
        count = after.values.get(f"{name}_count", 0.0) - before.values.get(f"{name}_count", 0.0)
        total = after.values.get(f"{name}_sum", 0.0) - before.values.get(f"{name}_sum", 0.0)
        if count <= 0:
            continue
        a, b = after.buckets.get(name, {}), before.buckets.get(name, {})
        cumulative = sorted((bound, a[bound] - b.get(bound, 0.0)) for bound in a)
        entry: dict[str, Any] = {"n": int(count), "mean": round(total / count * 1000, 1)}
        for label, q in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99)):
            value = _quantile(cumulative, q)
            entry[label] = None if value is None else round(value * 1000, 1)
        out[key] = entry
    for key, name in COUNTERS.items():
        if name in after.values:
            out[key] = int(after.values[name] - before.values.get(name, 0.0))
    out["note"] = "vLLM's own histograms over the measured requests; percentiles estimated from buckets"
    return out
