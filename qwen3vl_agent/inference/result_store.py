"""L2 of the result cache: a SQLite file (sqlite-utils, WAL) owned by one dedicated thread.

It is a cache, so it never makes a request fail: a corrupt file is deleted and rebuilt with a
warning; a locked database or a full disk skips the write (or misses the read) with a logged
warning. sqlite3 connections belong to one thread, so every call runs on the store's own
single worker thread and the event loop only awaits a future.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import sqlite_utils

from qwen3vl_agent.storage.database import (
    Migration,
    enable_wal,
    migrate,
    register_migrations,
    sqlite_failure,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

MIGRATIONS_COMPONENT = "result_cache"


def _v1(db: sqlite_utils.Database) -> None:
    """Results by cache key, and the hit/miss counters. Idempotent: a cache file made before
    the migrations registry (PRAGMA user_version 1) already has these tables."""
    db.table("results").create(
        {
            "key": str,
            "shape": str,
            "phashes": str,
            "text": str,
            "finish_reason": str,
            "prompt_tokens": int,
            "completion_tokens": int,
            "model": str,
            "created_at": float,
            "expires_at": float,
            "size": int,
        },
        pk="key",
        if_not_exists=True,
    )
    db.table("results").create_index(["shape"], if_not_exists=True)
    db.table("results").create_index(["expires_at"], if_not_exists=True)
    db.table("counters").create({"name": str, "value": int}, pk="name", if_not_exists=True)


register_migrations(
    MIGRATIONS_COMPONENT, [Migration(1, "cached results and hit/miss counters", _v1)], own_file=True
)
BUSY_TIMEOUT_MS = 100  # a cache waits briefly, then gives up: the request must not stall


@dataclass(frozen=True)
class StoredResult:
    """What the cache keeps of an `InferenceResult`."""

    text: str
    finish_reason: str | None
    prompt_tokens: int
    completion_tokens: int
    model: str | None
    created_at: float
    expires_at: float

    @property
    def size(self) -> int:
        return len(self.text.encode("utf-8", "surrogatepass")) + 200


@dataclass(frozen=True)
class StoreInfo:
    path: Path
    entries: int
    expired: int
    text_bytes: int
    file_bytes: int
    counters: dict[str, int]


class ResultStore:
    """A SQLite table of results keyed by cache key, with expiry, on its own thread."""

    def __init__(self, path: Path, *, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> None:
        self.path = path
        self.busy_timeout_ms = busy_timeout_ms
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="result-cache-l2")
        self._db: sqlite_utils.Database | None = None
        self._last_warning: dict[str, float] = {}
        self._closed = False
        self.failures: dict[str, int] = {"locked": 0, "corrupt": 0, "full": 0, "error": 0}
        self.rebuilds = 0

    # -- threading -------------------------------------------------------------------------
    async def run(self, fn: Callable[[sqlite_utils.Database], T], default: T, what: str) -> T:
        """Run `fn(db)` on the store's thread; on a database failure log it and return `default`."""
        return await self.submit(fn, default, what)

    def submit(self, fn: Callable[[sqlite_utils.Database], T], default: T, what: str) -> asyncio.Future[T]:
        """Queue `fn(db)` on the store's thread now (calls run in submission order)."""
        loop = asyncio.get_running_loop()
        return loop.run_in_executor(self._executor, self._guarded, fn, default, what)

    def run_sync(self, fn: Callable[[sqlite_utils.Database], T], default: T, what: str) -> T:
        """The blocking form of `run`, for command-line tools."""
        return self._executor.submit(self._guarded, fn, default, what).result()

    def _guarded(self, fn: Callable[[sqlite_utils.Database], T], default: T, what: str) -> T:
        if self._closed:
            return default
        for attempt in (1, 2):
            try:
                return fn(self._connection())
            except (sqlite3.Error, OSError) as exc:
                kind = sqlite_failure(exc)
                self.failures[kind] += 1
                if kind == "corrupt" and attempt == 1:
                    self._warn(
                        "corrupt", f"result cache {self.path} is corrupt ({exc}); deleting and rebuilding it"
                    )
                    self._rebuild()
                    continue
                if kind == "locked":
                    self._warn(kind, f"result cache {self.path} is locked by another program; {what} skipped")
                elif kind == "full":
                    self._warn(
                        kind, f"disk full writing the result cache {self.path}; {what} skipped ({exc})"
                    )
                else:
                    self._warn(kind, f"result cache {self.path}: {what} failed ({exc}); skipped")
                    self._drop_connection()
                return default
        return default

    def _warn(self, kind: str, message: str) -> None:
        now = time.monotonic()
        if now - self._last_warning.get(kind, -1e9) >= 60.0:
            self._last_warning[kind] = now
            log.warning(message)
        else:
            log.debug(message)

    # -- connection (store thread only) --------------------------------------------------------
    def _connection(self) -> sqlite_utils.Database:
        if self._db is not None:
            return self._db
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(self.path), timeout=self.busy_timeout_ms / 1000, isolation_level=None)
        try:
            conn.execute(f"PRAGMA busy_timeout={int(self.busy_timeout_ms)}")
            enable_wal(conn, self.busy_timeout_ms)
            conn.execute("PRAGMA synchronous=NORMAL")
            db = sqlite_utils.Database(conn)
            self._create(db)
        except BaseException:
            conn.close()
            raise
        self._db = db
        return db

    @staticmethod
    def _create(db: sqlite_utils.Database) -> None:
        migrate(db, [MIGRATIONS_COMPONENT])

    def _drop_connection(self) -> None:
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                self._db.conn.close()
            self._db = None

    def _rebuild(self) -> None:
        self._drop_connection()
        self.rebuilds += 1
        for suffix in ("", "-wal", "-shm", "-journal"):
            try:
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)
            except OSError as exc:
                log.warning("cannot delete %s%s: %s", self.path, suffix, exc)

    # -- operations -----------------------------------------------------------------------
    @staticmethod
    def _row_to_result(row: dict[str, Any]) -> StoredResult:
        """A result from its row, by column name."""
        return StoredResult(
            text=row["text"],
            finish_reason=row["finish_reason"],
            prompt_tokens=row["prompt_tokens"] or 0,
            completion_tokens=row["completion_tokens"] or 0,
            model=row["model"],
            created_at=row["created_at"],
            expires_at=row["expires_at"],
        )

    _COLUMNS = "text, finish_reason, prompt_tokens, completion_tokens, model, created_at, expires_at"

    async def get(self, key: str, now: float) -> StoredResult | None:
        def fn(db: sqlite_utils.Database) -> StoredResult | None:
            rows = db.query(
                f"SELECT {self._COLUMNS} FROM results WHERE key = ? AND expires_at > ?", [key, now]
            )
            row = next(iter(rows), None)
            return self._row_to_result(row) if row else None

        return await self.run(fn, None, "lookup")

    async def get_near(
        self, shape: str, phashes: list[str], max_distance: int, now: float
    ) -> tuple[str, StoredResult, int] | None:
        from qwen3vl_agent.inference.cache_key import phash_distance

        def fn(db: sqlite_utils.Database) -> tuple[str, StoredResult, int] | None:
            best: tuple[str, StoredResult, int] | None = None
            rows = db.query(
                f"SELECT key, phashes, {self._COLUMNS} FROM results"
                " WHERE shape = ? AND expires_at > ? AND phashes IS NOT NULL ORDER BY created_at DESC LIMIT 256",
                [shape, now],
            )
            for row in rows:
                distance = phash_distance(phashes, json.loads(row["phashes"]))
                if distance is not None and distance <= max_distance and (best is None or distance < best[2]):
                    best = (row["key"], self._row_to_result(row), distance)
            return best

        return await self.run(fn, None, "near-duplicate lookup")

    def put(
        self, key: str, shape: str, phashes: list[str] | None, result: StoredResult
    ) -> asyncio.Future[bool]:
        """Queue the write now; the future says whether it was written (False: skipped)."""

        def fn(db: sqlite_utils.Database) -> bool:
            db.execute(
                "INSERT OR REPLACE INTO results (key, shape, phashes, text, finish_reason, prompt_tokens,"
                " completion_tokens, model, created_at, expires_at, size) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                [
                    key,
                    shape,
                    json.dumps(phashes) if phashes else None,
                    result.text,
                    result.finish_reason,
                    result.prompt_tokens,
                    result.completion_tokens,
                    result.model,
                    result.created_at,
                    result.expires_at,
                    result.size,
                ],
            )
            return True

        return self.submit(fn, False, "write")

    def _purge(self, db: sqlite_utils.Database, now: float) -> int:
        return db.execute("DELETE FROM results WHERE expires_at <= ?", [now]).rowcount

    async def purge_expired(self, now: float) -> int:
        return await self.run(lambda db: self._purge(db, now), 0, "purge")

    def _add_counters(self, db: sqlite_utils.Database, counters: dict[str, int]) -> None:
        for name, value in counters.items():
            if value:
                db.execute(
                    "INSERT INTO counters (name, value) VALUES (?, ?)"
                    " ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
                    [name, value],
                )

    async def add_counters(self, counters: dict[str, int]) -> None:
        await self.run(lambda db: self._add_counters(db, counters), None, "statistics update")

    def _info(self, db: sqlite_utils.Database, now: float) -> StoreInfo:
        entries, text_bytes = db.execute("SELECT count(*), coalesce(sum(size), 0) FROM results").fetchone()
        expired = db.execute("SELECT count(*) FROM results WHERE expires_at <= ?", [now]).fetchone()[0]
        counters = {name: value for name, value in db.execute("SELECT name, value FROM counters")}
        file_bytes = sum(
            Path(f"{self.path}{s}").stat().st_size for s in ("", "-wal") if Path(f"{self.path}{s}").exists()
        )
        return StoreInfo(self.path, entries, expired, text_bytes, file_bytes, counters)

    def info_sync(self, now: float | None = None) -> StoreInfo | None:
        return self.run_sync(lambda db: self._info(db, now or time.time()), None, "statistics")

    def _clear(self, db: sqlite_utils.Database) -> int:
        count: int = db.execute("DELETE FROM results").rowcount
        db.execute("DELETE FROM counters")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db.execute("VACUUM")
        return count

    async def clear(self) -> int:
        return await self.run(self._clear, 0, "clear")

    def clear_sync(self) -> int:
        return self.run_sync(self._clear, 0, "clear")

    def close(self) -> None:
        """Close the connection on its own thread and stop the thread."""
        if self._closed:
            return
        self._executor.submit(self._drop_connection).result()
        self._closed = True
        self._executor.shutdown(wait=True)
