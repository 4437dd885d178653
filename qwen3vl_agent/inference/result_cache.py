"""The result cache: L1 in-memory LRU (bounded in entries and bytes) in front of L2 SQLite.

L1 is a `cachetools.TLRUCache` (least recently used, a per-entry expiry, a byte budget through
`getsizeof`) with an entry cap on top. An L1 miss asks L2's primary-key index directly (one
round trip to the SQLite thread), so keys another process writes are seen at once.

Keys come from `cache_key` (exact pixel hashes, never perceptual ones). The near-duplicate
lookup (`get_near`) compares perceptual hashes within requests of the same shape; the service
calls it only when a request opts in with a Hamming threshold. L2 writes are queued on the
store's thread at once (so they run before any later lookup) and not awaited by the caller, so a hit-miss-store cycle costs the request
almost nothing; `flush()` waits for them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cachetools import Cache, TLRUCache

from qwen3vl_agent.config import CacheSettings
from qwen3vl_agent.inference.cache_key import phash_distance
from qwen3vl_agent.inference.request import InferenceResult, Usage
from qwen3vl_agent.inference.result_store import ResultStore, StoredResult
from qwen3vl_agent.paths import app_paths


def default_cache_path() -> Path:
    return app_paths().cache_dir / "results.sqlite3"


@dataclass(frozen=True)
class CacheHit:
    key: str
    level: str  # "l1" | "l2" | "near-l1" | "near-l2"
    result: StoredResult
    distance: int = 0

    def to_result(self) -> InferenceResult:
        r = self.result
        return InferenceResult(
            text=r.text,
            finish_reason=r.finish_reason,
            usage=Usage(r.prompt_tokens, r.completion_tokens),
            cached=self.level,
            model=r.model,
        )


@dataclass
class CacheStats:
    l1_hits: int = 0
    l2_hits: int = 0
    near_hits: int = 0
    misses: int = 0
    stores: int = 0
    l2_write_failures: int = 0
    l1_entries: int = 0
    l1_bytes: int = 0
    l2_failures: dict[str, int] = field(default_factory=dict)
    l2_rebuilds: int = 0

    @property
    def hits(self) -> int:
        return self.l1_hits + self.l2_hits + self.near_hits

    @property
    def hit_rate(self) -> float:
        total = self.hits + self.misses
        return self.hits / total if total else 0.0


@dataclass
class _L1Entry:
    result: StoredResult
    expires: float  # wall clock
    shape: str | None
    phashes: list[str] | None


class _L1Cache(TLRUCache[str, _L1Entry]):
    """TLRU bounded in bytes (by `getsizeof`) and in entries; tells the owner what it drops."""

    def __init__(self, max_entries: int, max_bytes: int, on_drop: Callable[[str, _L1Entry], None]) -> None:
        super().__init__(
            maxsize=max_bytes,
            ttu=lambda _key, entry, _now: entry.expires,
            timer=time.time,
            getsizeof=lambda entry: entry.result.size,
        )
        self.max_entries = max_entries
        self._on_drop = on_drop

    def __setitem__(self, key: str, value: _L1Entry) -> None:
        super().__setitem__(key, value)
        while len(self) > self.max_entries:
            self.popitem()

    def popitem(self) -> tuple[str, _L1Entry]:
        key, entry = super().popitem()
        self._on_drop(key, entry)
        return key, entry

    def expire(self, time: float | None = None) -> list[tuple[str, _L1Entry]]:
        expired = list(super().expire(time))
        for key, entry in expired:
            self._on_drop(key, entry)
        return expired

    def peek(self, key: str) -> _L1Entry | None:
        """The live entry without touching its recency (the near-duplicate scan reads many)."""
        return Cache.__getitem__(self, key) if key in self else None


class ResultCache:
    """Two-level result cache; all methods are called from the event loop."""

    def __init__(self, settings: CacheSettings, path: Path | None = None) -> None:
        self.settings = settings
        self.path = path or default_cache_path()
        self.store = ResultStore(self.path)
        self._l1 = _L1Cache(settings.l1_max_entries, settings.l1_max_bytes, self._unindex)
        self._shapes: dict[str, set[str]] = {}
        self._stats = CacheStats()
        self._pending: set[asyncio.Future[bool]] = set()
        self._flushed_counters: dict[str, int] = {}

    # -- L1 ---------------------------------------------------------------------------------
    def _l1_get(self, key: str, now: float) -> StoredResult | None:
        entry = self._l1.get(key)
        if entry is None:
            self._l1.expire(now)
            return None
        return entry.result

    def _unindex(self, key: str, entry: _L1Entry) -> None:
        if entry.shape is not None:
            keys = self._shapes.get(entry.shape)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._shapes[entry.shape]

    def _l1_put(
        self, key: str, result: StoredResult, expires: float, shape: str | None, phashes: list[str] | None
    ) -> None:
        if result.size > self.settings.l1_max_bytes:
            return
        old = self._l1.pop(key, None)
        if old is not None:
            self._unindex(key, old)
        entry = _L1Entry(result, expires, shape if phashes else None, phashes)
        self._l1[key] = entry
        if key in self._l1 and phashes and shape is not None:
            self._shapes.setdefault(shape, set()).add(key)

    # -- lookups ------------------------------------------------------------------------------
    async def get(self, key: str) -> CacheHit | None:
        """Exact lookup: L1, then L2 (promoted to L1 on a hit). Counts a miss when both miss."""
        now = time.time()
        found = self._l1_get(key, now)
        if found is not None:
            self._stats.l1_hits += 1
            return CacheHit(key, "l1", found)
        found = await self.store.get(key, now)
        if found is not None:
            self._stats.l2_hits += 1
            self._l1_put(key, found, min(found.expires_at, now + self.settings.l1_ttl_s), None, None)
            return CacheHit(key, "l2", found)
        self._stats.misses += 1
        return None

    async def get_near(self, shape: str, phashes: list[str], max_distance: int) -> CacheHit | None:
        """Opt-in near-duplicate lookup by perceptual hash within requests of the same shape."""
        now = time.time()
        best: CacheHit | None = None
        for key in list(self._shapes.get(shape, ())):
            entry = self._l1.peek(key)
            if entry is None or entry.phashes is None or entry.expires <= now:
                continue
            distance = phash_distance(phashes, entry.phashes)
            if (
                distance is not None
                and distance <= max_distance
                and (best is None or distance < best.distance)
            ):
                best = CacheHit(key, "near-l1", entry.result, distance)
        if best is None:
            found = await self.store.get_near(shape, phashes, max_distance, now)
            if found is not None:
                best = CacheHit(found[0], "near-l2", found[1], found[2])
        if best is not None:
            self._stats.near_hits += 1
        return best

    # -- stores -------------------------------------------------------------------------------
    def put(
        self,
        key: str,
        result: InferenceResult,
        *,
        shape: str | None = None,
        phashes: list[str] | None = None,
    ) -> None:
        """Store in L1 now and queue the L2 write (see `flush`)."""
        now = time.time()
        stored = StoredResult(
            text=result.text,
            finish_reason=result.finish_reason,
            prompt_tokens=result.usage.prompt_tokens,
            completion_tokens=result.usage.completion_tokens,
            model=result.model,
            created_at=now,
            expires_at=now + self.settings.l2_ttl_s,
        )
        self._stats.stores += 1
        self._l1_put(key, stored, now + self.settings.l1_ttl_s, shape, phashes)
        future = self.store.put(key, shape or "", phashes, stored)
        self._pending.add(future)
        future.add_done_callback(self._written)

    def _written(self, future: asyncio.Future[bool]) -> None:
        self._pending.discard(future)
        if future.cancelled() or future.exception() is not None or not future.result():
            self._stats.l2_write_failures += 1

    async def flush(self) -> None:
        """Wait until queued L2 writes are done (or skipped)."""
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)

    # -- maintenance --------------------------------------------------------------------------
    def stats(self) -> CacheStats:
        s = self._stats
        return CacheStats(
            l1_hits=s.l1_hits,
            l2_hits=s.l2_hits,
            near_hits=s.near_hits,
            misses=s.misses,
            stores=s.stores,
            l2_write_failures=s.l2_write_failures,
            l1_entries=len(self._l1),
            l1_bytes=int(self._l1.currsize),
            l2_failures={k: v for k, v in self.store.failures.items() if v},
            l2_rebuilds=self.store.rebuilds,
        )

    async def clear(self) -> int:
        """Empty both levels; returns the number of L2 entries removed."""
        await self.flush()
        self._l1.clear()
        self._shapes.clear()
        return await self.store.clear()

    async def _save_counters(self) -> None:
        current = {
            "l1_hits": self._stats.l1_hits,
            "l2_hits": self._stats.l2_hits,
            "near_hits": self._stats.near_hits,
            "misses": self._stats.misses,
            "stores": self._stats.stores,
        }
        delta = {k: v - self._flushed_counters.get(k, 0) for k, v in current.items()}
        await self.store.add_counters(delta)
        self._flushed_counters = current

    async def close(self) -> None:
        """Finish queued writes, record hit/miss counters for `cache stats`, purge expired rows."""
        await self.flush()
        s = self._stats
        if s.l1_hits or s.l2_hits or s.near_hits or s.misses or s.stores:  # never used: leave the file alone
            await self._save_counters()
            await self.store.purge_expired(time.time())
        await asyncio.get_running_loop().run_in_executor(None, self.store.close)
