"""The request plan of a benchmark run: which image, which nonce, which question, which repeat.

Repeat mix semantics (`--repeat-mix SESSION,PRIOR`, e.g. the seed-like `0.68,0.22`):

* SESSION: the share of requests that exactly repeat a request made EARLIER IN THIS RUN (same
  screenshot pixels, same question): the user asks again, an agent re-reads an unchanged screen.
  The cache answers them from memory (L1), or the queue coalesces them while the first copy is
  still in flight.
* PRIOR: the share that repeat a request answered IN AN EARLIER SESSION (yesterday's pages and
  screens). The bench answers those in an unmeasured warm-up, then restarts the app's runtime,
  so only the persistent cache (L2, SQLite) still knows them.
* The rest are fresh: a nonce stamped into the image and written into the text makes every
  fresh request unique, so neither our cache nor vLLM's prefix / multimodal caches can serve it.

The planned hit rate is SESSION + PRIOR; the report gives what the cache really served.
The plan is deterministic for a seed, so `--baseline sync`, the app path and the JSONL export
for `vllm bench serve` send the very same requests.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from enum import StrEnum

from qwen3vl_agent.errors import UserFacingError


class SpecClass(StrEnum):
    FRESH = "fresh"
    SESSION_REPEAT = "session_repeat"
    PRIOR_REPEAT = "prior_repeat"
    WARMUP = "warmup"


@dataclass(frozen=True)
class RequestSpec:
    """One planned request; `key` is the identity: equal keys mean byte-identical requests."""

    index: int
    spec_class: SpecClass
    key: str  # "f<n>" fresh / "p<n>" prior / "w<n>" warm-up
    image_index: int
    question_index: int
    tag: str = ""  # the run's tag: two runs with different seeds never share a request

    @property
    def nonce(self) -> str:
        return f"{self.tag}-{self.key}" if self.tag else self.key


@dataclass(frozen=True)
class RepeatMix:
    session: float = 0.0
    prior: float = 0.0

    def __post_init__(self) -> None:
        if self.session < 0 or self.prior < 0 or self.session + self.prior > 1:
            raise UserFacingError(
                f"Bad repeat mix {self.session},{self.prior}",
                "give two shares between 0 and 1 whose sum is at most 1, e.g. 0.68,0.22",
            )

    @property
    def hit_share(self) -> float:
        return self.session + self.prior

    @staticmethod
    def parse(text: str | None) -> RepeatMix:
        """`"0.68,0.22"` -> RepeatMix(0.68, 0.22); `"0.5"` -> session repeats only; percent allowed."""
        if not text:
            return RepeatMix()
        parts = [p.strip().rstrip("%") for p in text.split(",") if p.strip()]
        try:
            values = [float(p) for p in parts]
        except ValueError:
            raise UserFacingError(
                f"Bad repeat mix {text!r}", "write it as SESSION,PRIOR, e.g. 0.68,0.22"
            ) from None
        if len(values) > 2 or not values:
            raise UserFacingError(f"Bad repeat mix {text!r}", "write it as SESSION,PRIOR, e.g. 0.68,0.22")
        if any(v > 1 for v in values):
            values = [v / 100 for v in values]
        return RepeatMix(values[0], values[1] if len(values) > 1 else 0.0)


class RequestPlan:
    """Hands out `RequestSpec`s in order; endless, so it serves count- and duration-bound runs."""

    def __init__(
        self,
        mix: RepeatMix,
        n_images: int,
        n_questions: int,
        seed: int = 0,
        prior_pool: int = 64,
    ) -> None:
        if n_images < 1 or n_questions < 1:
            raise ValueError("a plan needs at least one image and one question")
        self.mix = mix
        self.n_images = n_images
        self.n_questions = n_questions
        self._rng = random.Random(seed)
        self._seed = seed
        self._issued: list[RequestSpec] = []
        self._fresh: list[RequestSpec] = []
        self._fresh_count = 0
        self._prior_used = 0
        self.prior_pool = max(1, prior_pool) if mix.prior > 0 else 0
        self._prior = [self._make(-1, SpecClass.PRIOR_REPEAT, f"p{i}") for i in range(self.prior_pool)]

    def _make(self, index: int, spec_class: SpecClass, key: str) -> RequestSpec:
        # image and question come from the key, so a repeat has the same ones as its original
        r = random.Random(f"{self._seed}:{key}")
        return RequestSpec(
            index,
            spec_class,
            key,
            r.randrange(self.n_images),
            r.randrange(self.n_questions),
            f"s{self._seed}",
        )

    def prior_specs(self) -> list[RequestSpec]:
        """The requests of the 'earlier session' to answer in the warm-up (empty without PRIOR)."""
        return list(self._prior)

    def warmup(self, n: int) -> list[RequestSpec]:
        """Distinct requests that share nothing with the measured ones."""
        return [self._make(-1, SpecClass.WARMUP, f"w{i}") for i in range(n)]

    def next(self) -> RequestSpec:
        index = len(self._issued)
        u = self._rng.random()
        if u < self.mix.session and self._fresh:
            orig = self._fresh[self._rng.randrange(len(self._fresh))]
            spec = replace(orig, index=index, spec_class=SpecClass.SESSION_REPEAT)
        elif self.mix.session <= u < self.mix.hit_share and self._prior:
            orig = self._prior[self._prior_used % len(self._prior)]
            self._prior_used += 1
            spec = replace(orig, index=index)
        else:
            spec = self._make(index, SpecClass.FRESH, f"f{self._fresh_count}")
            self._fresh_count += 1
            self._fresh.append(spec)
        self._issued.append(spec)
        return spec

    def take(self, n: int) -> list[RequestSpec]:
        return [self.next() for _ in range(n)]

    @property
    def issued(self) -> list[RequestSpec]:
        return list(self._issued)

    def planned_repeats(self) -> int:
        return sum(1 for s in self._issued if s.spec_class is not SpecClass.FRESH)
