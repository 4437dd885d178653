"""The two-level result cache on a real SQLite file: hits, TTLs, bounds, and its failures."""

from __future__ import annotations

import logging
import sqlite3
import time
from pathlib import Path

import pytest

from qwen3vl_agent.config import CacheSettings
from qwen3vl_agent.inference.request import InferenceResult, Usage
from qwen3vl_agent.inference.result_cache import ResultCache, default_cache_path


def result(text: str = "the answer") -> InferenceResult:
    return InferenceResult(text=text, finish_reason="stop", usage=Usage(100, 3), model="m")


@pytest.fixture
async def cache(tmp_path: Path):  # type: ignore[no-untyped-def]
    c = ResultCache(CacheSettings(), tmp_path / "results.sqlite3")
    yield c
    await c.close()


async def test_default_location_is_the_cache_dir(app_home: Path) -> None:
    assert default_cache_path() == app_home / "cache" / "results.sqlite3"


async def test_l1_then_l2_hits_and_stats(tmp_path: Path) -> None:
    path = tmp_path / "results.sqlite3"
    first = ResultCache(CacheSettings(), path)
    assert await first.get("k") is None
    first.put("k", result())
    hit = await first.get("k")
    assert hit is not None and hit.level == "l1" and hit.result.text == "the answer"
    await first.close()

    second = ResultCache(CacheSettings(), path)  # a new process: empty L1, same file
    hit = await second.get("k")
    assert hit is not None and hit.level == "l2"
    assert hit.to_result().usage == Usage(100, 3) and hit.to_result().cached == "l2"
    hit = await second.get("k")
    assert hit is not None and hit.level == "l1"  # promoted
    stats = second.stats()
    assert (stats.l1_hits, stats.l2_hits, stats.misses, stats.hit_rate) == (1, 1, 0, 1.0)
    await second.close()

    info = ResultCache(CacheSettings(), path).store.info_sync()
    assert info is not None and info.entries == 1
    assert info.counters == {"misses": 1, "stores": 1, "l1_hits": 2, "l2_hits": 1}


async def test_ttls(tmp_path: Path) -> None:
    c = ResultCache(CacheSettings(l1_ttl_s=0.0, l2_ttl_s=3600), tmp_path / "a.sqlite3")
    c.put("k", result())
    await c.flush()
    hit = await c.get("k")
    assert hit is not None and hit.level == "l2"  # expired in L1 at once, alive in L2
    await c.close()
    c = ResultCache(CacheSettings(l1_ttl_s=0.0, l2_ttl_s=0.0), tmp_path / "b.sqlite3")
    c.put("k", result())
    await c.flush()
    assert await c.get("k") is None
    await c.close()


async def test_l1_bounded_by_entries_and_bytes(tmp_path: Path) -> None:
    c = ResultCache(CacheSettings(l1_max_entries=3, l1_max_bytes=10_000), tmp_path / "r.sqlite3")
    for i in range(5):
        c.put(f"k{i}", result(f"answer {i}"))
    assert c.stats().l1_entries == 3
    evicted = await c.get("k0")  # the oldest left L1 but not L2
    assert evicted is not None and evicted.level == "l2"
    c.put("big1", result("x" * 4000))
    c.put("big2", result("y" * 4000))
    c.put("big3", result("z" * 4000))
    stats = c.stats()
    assert stats.l1_bytes <= 10_000
    assert (await c.get("big3")).level == "l1"  # type: ignore[union-attr]
    await c.close()


async def test_near_duplicates_only_through_get_near(cache: ResultCache) -> None:
    cache.put("exact-a", result("A"), shape="s", phashes=["ffff000000000000"])
    assert await cache.get("exact-b") is None
    near = await cache.get_near("s", ["ffff000000000001"], max_distance=2)
    assert near is not None and near.result.text == "A" and near.distance == 1
    assert await cache.get_near("s", ["0000ffffffffffff"], max_distance=2) is None
    assert await cache.get_near("other-shape", ["ffff000000000000"], max_distance=2) is None
    await cache.flush()
    fresh = ResultCache(CacheSettings(), cache.path)  # L2 near lookup
    near = await fresh.get_near("s", ["ffff000000000003"], max_distance=2)
    assert near is not None and near.level == "near-l2" and near.distance == 2
    await fresh.close()


async def test_clear(cache: ResultCache) -> None:
    cache.put("k", result())
    await cache.flush()
    assert await cache.clear() == 1
    assert await cache.get("k") is None


async def test_corrupt_file_is_deleted_and_rebuilt(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "results.sqlite3"
    path.write_bytes(b"this is not a database, just garbage " * 200)
    c = ResultCache(CacheSettings(), path)
    with caplog.at_level(logging.WARNING):
        assert await c.get("k") is None  # a miss, not a crash
    assert "corrupt" in caplog.text and "rebuilding" in caplog.text
    assert c.stats().l2_rebuilds == 1
    c.put("k", result())
    await c.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM results").fetchone() == (1,)


async def test_locked_database_skips_the_write_and_requests_go_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "results.sqlite3"
    c = ResultCache(CacheSettings(), path)
    c.put("before", result())
    await c.flush()
    other = sqlite3.connect(path, isolation_level=None)  # another program holds the write lock
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO counters (name, value) VALUES ('other', 1)")
    try:
        with caplog.at_level(logging.WARNING):
            c.put("during", result("fresh"))
            await c.flush()
        assert "locked" in caplog.text and "skipped" in caplog.text
        stats = c.stats()
        assert stats.l2_write_failures == 1 and stats.l2_failures == {"locked": 1}
        assert (await c.get("during")).level == "l1"  # type: ignore[union-attr]  # still served from L1
        reader = ResultCache(CacheSettings(), path)  # WAL: readers are not blocked by the writer
        assert (await reader.get("before")).level == "l2"  # type: ignore[union-attr]
        assert await reader.get("during") is None
        await reader.close()
    finally:
        other.execute("ROLLBACK")
        other.close()
    await c.close()


async def test_exclusively_locked_database_reads_as_a_miss(tmp_path: Path) -> None:
    path = tmp_path / "results.sqlite3"
    c = ResultCache(CacheSettings(), path)
    c.put("k", result())
    await c.close()
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("PRAGMA locking_mode=EXCLUSIVE")
    other.execute("BEGIN EXCLUSIVE")
    other.execute("INSERT INTO counters (name, value) VALUES ('other', 1)")
    other.execute("COMMIT")  # exclusive mode keeps the lock after the commit
    try:
        reader = ResultCache(CacheSettings(), path)
        assert await reader.get("k") is None
        assert set(reader.stats().l2_failures) == {"locked"}
        await reader.close()
    finally:
        other.close()


async def test_disk_full_skips_the_write(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A real SQLITE_FULL: SQLite's max_page_count caps the file, so no real disk is filled."""
    c = ResultCache(CacheSettings(), tmp_path / "results.sqlite3")
    c.put("small", result())
    await c.flush()

    def cap(db):  # type: ignore[no-untyped-def]
        pages = db.execute("PRAGMA page_count").fetchone()[0]
        db.execute(f"PRAGMA max_page_count={pages}")

    await c.store.run(cap, None, "test setup")
    with caplog.at_level(logging.WARNING):
        c.put("huge", result("x" * 200_000))
        await c.flush()
    assert "disk full" in caplog.text
    assert c.stats().l2_failures == {"full": 1}
    assert (await c.get("huge")).level == "l1"  # type: ignore[union-attr]
    assert (await c.get("small")) is not None
    await c.close()


async def test_l2_runs_on_its_own_thread(cache: ResultCache) -> None:
    import threading

    ident = await cache.store.run(lambda db: threading.get_ident(), 0, "probe")
    assert ident != threading.get_ident()
    assert time.time() > 0


async def test_a_miss_asks_the_l2_index_so_keys_written_by_another_process_are_seen(tmp_path: Path) -> None:
    path = tmp_path / "results.sqlite3"
    reader = ResultCache(CacheSettings(l1_max_entries=0), path)
    assert await reader.get("later") is None  # unknown: a miss
    writer = ResultCache(CacheSettings(), path)  # another process writing the same file
    writer.put("later", result())
    await writer.close()
    hit = await reader.get("later")
    assert hit is not None and hit.level == "l2" and hit.result.text == result().text
    assert reader.stats().misses == 1 and reader.stats().l2_hits == 1
    await reader.close()


async def test_a_cache_file_from_before_the_migrations_registry_keeps_its_entries(tmp_path: Path) -> None:
    import sqlite3

    from qwen3vl_agent.storage.database import migrate, open_database

    path = tmp_path / "results.sqlite3"
    old = sqlite3.connect(path)  # the layout the PRAGMA user_version scheme made
    old.execute(
        "CREATE TABLE results (key TEXT PRIMARY KEY, shape TEXT, phashes TEXT, text TEXT, finish_reason TEXT,"
        " prompt_tokens INTEGER, completion_tokens INTEGER, model TEXT, created_at FLOAT, expires_at FLOAT,"
        " size INTEGER)"
    )
    old.execute("CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER)")
    old.execute(
        "INSERT INTO results VALUES ('k', '', NULL, 'kept', 'stop', 1, 2, 'm', ?, ?, 4)",
        [time.time(), time.time() + 3600],
    )
    old.execute("PRAGMA user_version=1")
    old.commit()
    old.close()
    c = ResultCache(CacheSettings(), path)
    hit = await c.get("k")
    assert hit is not None and hit.result.text == "kept"
    await c.close()
    app_db = open_database(tmp_path / "app.sqlite3")
    migrate(app_db)  # every component of the app's database: not the cache's own tables
    assert not app_db["results"].exists()
