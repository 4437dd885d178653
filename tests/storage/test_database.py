"""The app database: versioned migrations per component, one migrator at a time, clear errors."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlite_utils

from qwen3vl_agent.errors import StorageError
from qwen3vl_agent.storage.database import Database, Migration, open_database, register_migrations


def _slow_create(db: sqlite_utils.Database) -> None:
    db.execute("CREATE TABLE widgets (id INTEGER PRIMARY KEY, name TEXT)")
    time.sleep(0.3)  # widen the window in which a second migrator could run the same step
    db.execute("CREATE INDEX widgets_name ON widgets(name)")


register_migrations(
    "test_widgets",
    [
        Migration(1, "widgets table", _slow_create),
        Migration(2, "widget colour", lambda db: db.execute("ALTER TABLE widgets ADD COLUMN colour TEXT")),
    ],
)


def test_migrations_run_once_and_in_order(tmp_path: Path) -> None:
    path = tmp_path / "app.sqlite3"
    db = Database(path, components=["test_widgets"]).connection()
    assert [c.name for c in db["widgets"].columns] == ["id", "name", "colour"]
    again = Database(path, components=["test_widgets"]).connection()
    rows = again.execute("SELECT component, version FROM schema_migrations ORDER BY version").fetchall()
    assert rows == [("test_widgets", 1), ("test_widgets", 2)]
    assert again.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def _at_once(n: int, body: Callable[[], object]) -> list[BaseException]:
    """Run `body` in `n` threads released together by a barrier; what they raised."""
    errors: list[BaseException] = []
    start = threading.Barrier(n)

    def run() -> None:
        start.wait()
        try:
            body()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def test_connections_opening_fresh_files_at_once_all_get_wal(tmp_path: Path) -> None:
    """Switching a fresh file to WAL is answered SQLITE_BUSY at once (no busy handler) when two
    connections race for it: it failed a thread now and then (CI: "locked by another program")."""
    errors: list[BaseException] = []
    modes: list[str] = []
    for i in range(60):
        path = tmp_path / f"fresh-{i}.sqlite3"

        def open_it(path: Path = path) -> None:
            db = open_database(path)
            modes.append(db.execute("PRAGMA journal_mode").fetchone()[0])
            db.conn.close()

        errors += _at_once(4, open_it)
    assert errors == []
    assert modes == ["wal"] * 240


def test_two_threads_opening_a_fresh_database_migrate_it_once(tmp_path: Path) -> None:
    path = tmp_path / "fresh.sqlite3"
    errors = _at_once(3, lambda: Database(path, components=["test_widgets"]).connection())
    assert errors == []
    check = sqlite3.connect(path)
    assert check.execute("SELECT count(*) FROM schema_migrations").fetchone()[0] == 2


def test_a_locked_database_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "locked.sqlite3"
    Database(path, components=["test_widgets"]).connection()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sqlite3, sys, time\n"
            f"c = sqlite3.connect({str(path)!r}, isolation_level=None)\n"
            "c.execute('BEGIN EXCLUSIVE'); print('locked', flush=True); time.sleep(30)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        db = open_database(path, busy_timeout_ms=200)
        with pytest.raises(sqlite3.OperationalError) as raw:
            db.execute("INSERT INTO widgets (name) VALUES ('x')")
        from qwen3vl_agent.storage.database import storage_error

        err = storage_error(raw.value, path)
        assert isinstance(err, StorageError) and "locked by another program" in str(err)
    finally:
        holder.kill()
        holder.wait()


def test_a_corrupt_database_is_a_clear_error_and_is_left_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "corrupt.sqlite3"
    garbage = b"this is not a database at all" * 200
    path.write_bytes(garbage)
    with pytest.raises(StorageError, match="corrupt"):
        Database(path, components=["test_widgets"]).connection()
    assert path.read_bytes() == garbage  # nothing of the user's was touched
