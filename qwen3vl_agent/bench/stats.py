"""Per-request samples of a benchmark run and their summary (percentiles, QPS, hit rate)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from qwen3vl_agent.percentile import percentile


@dataclass
class Sample:
    """One finished (or failed) request; times are seconds on the run's monotonic clock."""

    index: int
    spec_class: str
    key: str
    sent_at: float  # handed to the service (after image preparation)
    done_at: float
    ttft_s: float | None  # submit -> first text delta (or the result, when nothing streamed)
    prep_s: float = 0.0
    queue_wait_s: float | None = None
    service_s: float | None = None
    cached: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    image_bytes: int = 0
    image_size: tuple[int, int] = (0, 0)
    visual_tokens: int = 0
    error: str | None = None

    @property
    def e2e_s(self) -> float:
        return self.done_at - self.sent_at

    @property
    def ok(self) -> bool:
        return self.error is None


def distribution_ms(values: Sequence[float | None]) -> dict[str, float | None]:
    xs = [v * 1000.0 for v in values if v is not None]
    if not xs:
        return {"n": 0, "mean": None, "p50": None, "p90": None, "p99": None, "max": None}
    return {
        "n": len(xs),
        "mean": round(sum(xs) / len(xs), 2),
        "p50": _r(percentile(xs, 50)),
        "p90": _r(percentile(xs, 90)),
        "p99": _r(percentile(xs, 99)),
        "max": round(max(xs), 2),
    }


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 2)


def _mean(xs: Sequence[float]) -> float | None:
    return round(sum(xs) / len(xs), 1) if xs else None


@dataclass
class Summary:
    sent: int
    ok: int
    errors: int
    error_kinds: dict[str, int]
    wall_s: float
    qps: float
    ttft_ms: dict[str, float | None]
    e2e_ms: dict[str, float | None]
    queue_wait_ms: dict[str, float | None]
    service_ms: dict[str, float | None]
    prep_ms: dict[str, float | None]
    prompt_tokens_mean: float | None
    prompt_tokens_p50: float | None
    completion_tokens_mean: float | None
    image_bytes_p50: float | None
    image_size: list[int] | None
    visual_tokens: int | None
    hits: int
    hit_rate: float
    hits_by_tier: dict[str, int]
    planned_repeats: int
    planned_repeat_share: float
    fresh: dict[str, dict[str, float | None]] = field(default_factory=dict)
    first_error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def summarise(samples: Sequence[Sample]) -> Summary:
    ok = [s for s in samples if s.ok]
    bad = [s for s in samples if not s.ok]
    if ok:
        start = min(s.sent_at for s in samples)
        end = max(s.done_at for s in ok)
        wall = max(end - start, 1e-9)
    else:
        wall = 0.0
    hits = [s for s in ok if s.cached]
    planned = sum(1 for s in samples if s.spec_class != "fresh")
    fresh_ok = [s for s in ok if not s.cached]
    sizes = Counter(s.image_size for s in ok)
    size = list(sizes.most_common(1)[0][0]) if sizes else None
    ptoks = [float(s.prompt_tokens) for s in ok if s.prompt_tokens]
    return Summary(
        sent=len(samples),
        ok=len(ok),
        errors=len(bad),
        error_kinds=dict(Counter((s.error or "").split(":")[0] for s in bad)),
        wall_s=round(wall, 3),
        qps=round(len(ok) / wall, 3) if wall else 0.0,
        ttft_ms=distribution_ms([s.ttft_s for s in ok]),
        e2e_ms=distribution_ms([s.e2e_s for s in ok]),
        queue_wait_ms=distribution_ms([s.queue_wait_s for s in ok]),
        service_ms=distribution_ms([s.service_s for s in ok if not s.cached]),
        prep_ms=distribution_ms([s.prep_s for s in ok]),
        prompt_tokens_mean=_mean(ptoks),
        prompt_tokens_p50=percentile(ptoks, 50),
        completion_tokens_mean=_mean([float(s.completion_tokens) for s in ok if s.completion_tokens]),
        image_bytes_p50=percentile([float(s.image_bytes) for s in ok], 50),
        image_size=size,
        visual_tokens=Counter(s.visual_tokens for s in ok).most_common(1)[0][0] if ok else None,
        hits=len(hits),
        hit_rate=round(len(hits) / len(ok), 4) if ok else 0.0,
        hits_by_tier=dict(Counter(s.cached or "" for s in hits)),
        planned_repeats=planned,
        planned_repeat_share=round(planned / len(samples), 4) if samples else 0.0,
        first_error=bad[0].error[:500] if bad and bad[0].error else None,
        fresh={
            "ttft_ms": distribution_ms([s.ttft_s for s in fresh_ok]),
            "e2e_ms": distribution_ms([s.e2e_s for s in fresh_ok]),
        },
    )
