"""One SQLite database (sqlite-utils, WAL) with versioned migrations per component.

Each component (chat, OCR jobs, trajectories, ...) owns a list of migrations; the table
`schema_migrations` records which (component, version) pairs ran, so components evolve
independently. Connections belong to one thread: open one per thread (`Database.open`).
Corrupt or locked files raise `StorageError` with a message that says what to do.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import sqlite_utils

from qwen3vl_agent.errors import StorageError
from qwen3vl_agent.file_modes import open_private, private_mkdir


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    apply: Callable[[sqlite_utils.Database], None]


_REGISTRY: dict[str, Sequence[Migration]] = {}
_REGISTRY_LOCK = threading.Lock()


_OWN_FILE: set[str] = set()  # components of their own database file: migrated only when named


def register_migrations(component: str, migrations: Sequence[Migration], *, own_file: bool = False) -> None:
    """Declare a component's migrations (called at import time of the component's store).

    `own_file`: the component lives in a file of its own (the result cache), so migrating the
    app's database ("all components") must not create its tables there."""
    versions = [m.version for m in migrations]
    if versions != sorted(set(versions)):
        raise ValueError(f"migrations of {component} must have increasing unique versions: {versions}")
    with _REGISTRY_LOCK:
        _REGISTRY[component] = tuple(migrations)
        if own_file:
            _OWN_FILE.add(component)


# SQLite's primary result codes (https://sqlite.org/rescode.html); extended codes carry them
# in the low byte, e.g. SQLITE_BUSY_SNAPSHOT = 517 = 5 | (2 << 8).
_LOCKED_CODES = {5, 6}  # SQLITE_BUSY, SQLITE_LOCKED
_CORRUPT_CODES = {11, 26}  # SQLITE_CORRUPT, SQLITE_NOTADB
_FULL_CODES = {13}  # SQLITE_FULL (also max_page_count reached)
_IOERR_CODES = {10}  # SQLITE_IOERR: the disk failed a read or write


SqliteFailure = Literal["locked", "corrupt", "full", "error"]


def sqlite_failure(exc: BaseException) -> SqliteFailure:
    """What kind of failure a sqlite3 error is, by its result code (`sqlite_errorcode`, Python
    3.11) or an OSError's errno, never by message text. A disk I/O error counts as "full" (the disk is the
    problem, and the user's remedy is the same)."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return "full"
    code = getattr(exc, "sqlite_errorcode", None)
    if not isinstance(code, int):
        return "error"
    primary = code & 0xFF
    if primary in _LOCKED_CODES:
        return "locked"
    if primary in _CORRUPT_CODES:
        return "corrupt"
    if primary in _FULL_CODES or primary in _IOERR_CODES:
        return "full"
    return "error"


def enable_wal(conn: sqlite3.Connection, busy_timeout_ms: int) -> None:
    """Switch `conn`'s database to WAL (persistent: a no-op once a file is WAL), retrying BUSY.

    The switch needs an exclusive lock, and when two connections that both read the header want it
    (two threads or processes opening a fresh file), SQLite answers SQLITE_BUSY at once to avoid a
    deadlock, without calling the busy handler (https://sqlite.org/c3ref/busy_handler.html:
    "the presence of a busy handler does not guarantee that it will be invoked"). Measured here:
    9 of 300 fresh files opened by 3 threads at once got BUSY. So: retry with backoff until the
    busy timeout, then raise as SQLite would.
    """
    deadline = time.monotonic() + busy_timeout_ms / 1000
    delay = 0.002
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL").fetchall()
            return
        except sqlite3.OperationalError as exc:
            if sqlite_failure(exc) != "locked" or time.monotonic() >= deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


def open_database(
    path: Path, *, busy_timeout_ms: int = 5000, what: str = "database"
) -> sqlite_utils.Database:
    """Open (creating) a WAL database, or raise a clear `StorageError`."""
    try:
        private_mkdir(path.parent)
        if not path.exists():  # owner-only from the start; SQLite gives -wal/-shm the same mode
            os.close(open_private(path, os.O_WRONLY | os.O_CREAT))
        conn = sqlite3.connect(str(path), timeout=busy_timeout_ms / 1000, check_same_thread=True)
        conn.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        enable_wal(conn, busy_timeout_ms)
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.Error as exc:
        raise storage_error(exc, path, what) from exc
    except OSError as exc:
        raise StorageError(f"Cannot open the {what} at {path}: {exc.strerror or exc}") from exc
    return sqlite_utils.Database(conn)


def storage_error(exc: BaseException, path: Path, what: str = "database") -> StorageError:
    """Translate a sqlite3 error into a message a user can act on."""
    kind = sqlite_failure(exc)
    if kind == "locked":
        return StorageError(
            f"The {what} at {path} is locked by another program",
            "close other copies of qwen3vl-agent and try again",
        )
    if kind == "corrupt":
        return StorageError(
            f"The {what} at {path} is corrupt ({exc})",
            "move the file aside to start fresh; nothing else was changed",
        )
    if kind == "full":
        return StorageError(f"The disk holding the {what} at {path} is full ({exc})", "free some space")
    return StorageError(f"The {what} at {path} failed: {exc}")


def migrate(db: sqlite_utils.Database, components: Sequence[str] | None = None) -> list[tuple[str, int]]:
    """Run pending migrations of the given (default: all registered) components; return what ran."""
    ran: list[tuple[str, int]] = []
    db.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " component TEXT NOT NULL, version INTEGER NOT NULL, description TEXT, applied_at REAL,"
        " PRIMARY KEY (component, version))"
    )
    with _REGISTRY_LOCK:
        names = components or sorted(set(_REGISTRY) - _OWN_FILE)
        todo = {name: _REGISTRY[name] for name in names if name in _REGISTRY}
    for component, migrations in todo.items():
        done = {
            row[0]
            for row in db.execute(
                "SELECT version FROM schema_migrations WHERE component = ?", [component]
            ).fetchall()
        }
        for m in migrations:
            if m.version in done:
                continue
            with db.conn:
                m.apply(db)
                db.execute(
                    "INSERT OR IGNORE INTO schema_migrations (component, version, description, applied_at)"
                    " VALUES (?, ?, ?, ?)",
                    [component, m.version, m.description, time.time()],
                )
            ran.append((component, m.version))
    return ran


@contextlib.contextmanager
def _migration_lock(path: Path) -> Iterator[None]:
    """One migrator at a time per database file, across threads AND processes.

    Two stores opening a fresh database at once (two threads, or the app and a CLI command)
    would otherwise both create the same tables. An exclusive `flock` on a side file serialises
    them; `migrate` re-reads what ran once it holds the lock.
    """
    lock_path = path.with_name(path.name + ".migrate-lock")
    with os.fdopen(open_private(lock_path, os.O_RDWR | os.O_CREAT), "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


class Database:
    """Per-thread connections to the app's database, migrated on first open."""

    def __init__(self, path: Path, components: Sequence[str] | None = None, what: str = "database") -> None:
        self.path = path
        self.what = what
        self._components = components
        self._local = threading.local()
        self._migrated = False
        self._migrate_lock = threading.Lock()

    def connection(self) -> sqlite_utils.Database:
        """This thread's connection (opened and migrated on first use)."""
        db: sqlite_utils.Database | None = getattr(self._local, "db", None)
        if db is None:
            db = open_database(self.path, what=self.what)
            with self._migrate_lock:
                if not self._migrated:
                    try:
                        with _migration_lock(self.path):
                            migrate(db, self._components)
                    except sqlite3.Error as exc:
                        raise storage_error(exc, self.path, self.what) from exc
                    self._migrated = True
            self._local.db = db
        return db

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.conn.close()
            self._local.db = None
