"""OCR jobs in the app database (component "ocr_jobs"): jobs, documents, pages, events.

Every page's result is written the moment it exists, so a killed batch resumes with exactly
the pages that are still pending. `completions` counts how often a page was finished: a page
is never finished twice (the tests check it from here).

Pages are claimed one by one (`pending` -> `running`, with the claiming run's id) in one guarded
UPDATE, and only the run holding the claim can finish the page: two resumes of one job share
its pages instead of both doing them. A run proves it is alive with a `RunLease`; claims of a run
that died (killed, or crashed by a page) go back to pending with the page's `crashes` count
raised, and a page that was in a crashed run twice is `quarantined`: skipped and reported.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import sqlite_utils

from qwen3vl_agent.errors import UserFacingError
from qwen3vl_agent.ocr.model import OcrDocument, OcrPage, PageFailure
from qwen3vl_agent.paths import app_paths
from qwen3vl_agent.storage.database import Database, Migration, register_migrations

COMPONENT = "ocr_jobs"


def _v1(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        CREATE TABLE ocr_jobs (
            id TEXT PRIMARY KEY,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            status TEXT NOT NULL,
            engine TEXT NOT NULL,
            engine_used TEXT,
            mode TEXT NOT NULL,
            options TEXT NOT NULL,
            pages_total INTEGER NOT NULL DEFAULT 0,
            message TEXT
        );
        CREATE TABLE ocr_documents (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            job_id TEXT NOT NULL REFERENCES ocr_jobs(id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            path TEXT NOT NULL,
            page_count INTEGER NOT NULL DEFAULT 0,
            status TEXT NOT NULL,
            error TEXT,
            exported_at REAL,
            exports TEXT
        );
        CREATE INDEX ocr_documents_job ON ocr_documents(job_id, position);
        CREATE TABLE ocr_pages (
            document_id INTEGER NOT NULL REFERENCES ocr_documents(id) ON DELETE CASCADE,
            job_id TEXT NOT NULL,
            page_index INTEGER NOT NULL,
            status TEXT NOT NULL DEFAULT 'pending',
            result TEXT,
            error TEXT,
            engine TEXT,
            attempts INTEGER NOT NULL DEFAULT 0,
            completions INTEGER NOT NULL DEFAULT 0,
            duration_s REAL,
            finished_at REAL,
            PRIMARY KEY (document_id, page_index)
        );
        CREATE INDEX ocr_pages_job_status ON ocr_pages(job_id, status);
        CREATE TABLE ocr_events (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            job_id TEXT NOT NULL,
            at REAL NOT NULL,
            kind TEXT NOT NULL,
            message TEXT
        );
        CREATE INDEX ocr_events_job ON ocr_events(job_id);
        """
    )


def _v2(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        ALTER TABLE ocr_pages ADD COLUMN claim TEXT;
        ALTER TABLE ocr_pages ADD COLUMN crashes INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE ocr_documents ADD COLUMN export_claim TEXT;
        """
    )


register_migrations(
    COMPONENT,
    [
        Migration(1, "OCR jobs, documents, pages, events", _v1),
        Migration(2, "page claims by run, crash counts, export claims", _v2),
    ],
)

QUARANTINE_AFTER_CRASHES = 2
FINISHED_PAGE_STATES = ("done", "failed", "quarantined")


class JobNotFoundError(UserFacingError):
    """No OCR job with that id."""


@dataclass(frozen=True)
class JobRow:
    id: str
    created_at: float
    updated_at: float
    status: str
    engine: str
    engine_used: str | None
    mode: str
    options: dict[str, Any]
    pages_total: int
    message: str | None


@dataclass(frozen=True)
class PendingPage:
    document_id: int
    path: str
    page_index: int
    crashes: int = 0  # runs that died while this page was in flight (a suspect when > 0)


@dataclass(frozen=True)
class JobCounts:
    total: int
    done: int
    failed: int
    pending: int
    documents_failed: int
    running: int = 0  # claimed by a run that is still working on them
    quarantined: int = 0  # pages that were in flight in two runs that died: skipped


@dataclass(frozen=True)
class RecoveredPage:
    """A claim of a dead run, given back: to pending, or to quarantine after too many crashes."""

    page: PendingPage
    status: str  # "pending" | "quarantined"


class OcrJobStore:
    """All SQL of the OCR jobs; one instance per process (connections are per thread)."""

    def __init__(self, path: Path | None = None) -> None:
        self.database = Database(path or app_paths().database_file)

    @property
    def leases_dir(self) -> Path:
        """Where runs of OCR jobs keep their `RunLease` files (next to the database)."""
        return self.database.path.parent / "ocr-runs"

    @property
    def db(self) -> sqlite_utils.Database:
        return self.database.connection()

    def close(self) -> None:
        self.database.close()

    # ------------------------------------------------------------ jobs

    def create_job(self, engine: str, mode: str, options: dict[str, Any]) -> str:
        job_id = uuid.uuid4().hex[:12]
        now = time.time()
        with self.db.conn:
            self.db.execute(
                "INSERT INTO ocr_jobs (id, created_at, updated_at, status, engine, mode, options)"
                " VALUES (?, ?, ?, 'pending', ?, ?, ?)",
                [job_id, now, now, engine, mode, json.dumps(options)],
            )
        return job_id

    def add_document(self, job_id: str, position: int, path: str, page_count: int, error: str | None) -> int:
        with self.db.conn:
            cur = self.db.execute(
                "INSERT INTO ocr_documents (job_id, position, path, page_count, status, error)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                [job_id, position, path, page_count, "failed" if error else "ok", error],
            )
            doc_id = int(cur.lastrowid or 0)
            self.db.conn.executemany(
                "INSERT INTO ocr_pages (document_id, job_id, page_index) VALUES (?, ?, ?)",
                [(doc_id, job_id, i) for i in range(page_count)],
            )
            self.db.execute(
                "UPDATE ocr_jobs SET pages_total = pages_total + ?, updated_at = ? WHERE id = ?",
                [page_count, time.time(), job_id],
            )
        return doc_id

    def job(self, job_id: str) -> JobRow:
        columns = ", ".join(f.name for f in fields(JobRow))
        row = next(iter(self.db.query(f"SELECT {columns} FROM ocr_jobs WHERE id = ?", [job_id])), None)
        if row is None:
            raise JobNotFoundError(f"No OCR job {job_id!r}", "list them with: qwen3vl-agent ocr jobs")
        return JobRow(**{**row, "options": json.loads(row["options"])})

    def jobs(self, limit: int = 50) -> list[JobRow]:
        ids = [
            r[0] for r in self.db.execute("SELECT id FROM ocr_jobs ORDER BY created_at DESC LIMIT ?", [limit])
        ]
        return [self.job(i) for i in ids]

    def set_status(
        self, job_id: str, status: str, message: str | None = None, engine_used: str | None = None
    ) -> None:
        with self.db.conn:
            self.db.execute(
                "UPDATE ocr_jobs SET status = ?, message = COALESCE(?, message),"
                " engine_used = COALESCE(?, engine_used), updated_at = ? WHERE id = ?",
                [status, message, engine_used, time.time(), job_id],
            )

    def add_event(self, job_id: str, kind: str, message: str) -> None:
        with self.db.conn:
            self.db.execute(
                "INSERT INTO ocr_events (job_id, at, kind, message) VALUES (?, ?, ?, ?)",
                [job_id, time.time(), kind, message],
            )

    def events(self, job_id: str) -> list[tuple[float, str, str]]:
        return [
            (r[0], r[1], r[2])
            for r in self.db.execute(
                "SELECT at, kind, message FROM ocr_events WHERE job_id = ? ORDER BY id", [job_id]
            )
        ]

    # ------------------------------------------------------------ pages

    def pending_pages(self, job_id: str) -> Iterator[PendingPage]:
        """Pending pages, suspects of a crash first (the job runs those alone), then in order."""
        rows = self.db.execute(
            "SELECT p.document_id, d.path, p.page_index, p.crashes FROM ocr_pages p"
            " JOIN ocr_documents d ON d.id = p.document_id"
            " WHERE p.job_id = ? AND p.status = 'pending'"
            " ORDER BY p.crashes > 0 DESC, d.position, p.page_index",
            [job_id],
        ).fetchall()
        for r in rows:
            yield PendingPage(r[0], r[1], r[2], r[3])

    def _where(self, page: PendingPage) -> list[Any]:
        return [page.document_id, page.page_index]

    def claim(self, page: PendingPage, run_id: str) -> bool:
        """Take a pending page for `run_id` (atomic): False when another run has it or it is finished."""
        with self.db.conn:
            cur = self.db.execute(
                "UPDATE ocr_pages SET status = 'running', claim = ?, attempts = attempts + 1"
                " WHERE document_id = ? AND page_index = ? AND status = 'pending'",
                [run_id, *self._where(page)],
            )
        return cur.rowcount == 1

    def mark_done(self, page: PendingPage, result: OcrPage, duration_s: float, run_id: str) -> bool:
        """Store the result if `run_id` still holds the page's claim (else nothing, and False)."""
        with self.db.conn:
            cur = self.db.execute(
                "UPDATE ocr_pages SET status = 'done', result = ?, error = NULL, engine = ?, claim = NULL,"
                " completions = completions + 1, duration_s = ?, finished_at = ?"
                " WHERE document_id = ? AND page_index = ? AND status = 'running' AND claim = ?",
                [
                    json.dumps(result.to_dict(), ensure_ascii=False),
                    result.engine,
                    duration_s,
                    time.time(),
                    *self._where(page),
                    run_id,
                ],
            )
        return cur.rowcount == 1

    def mark_failed(
        self, page: PendingPage, reason: str, engine: str, duration_s: float, run_id: str
    ) -> bool:
        """Record the failure if `run_id` still holds the page's claim (else nothing, and False)."""
        with self.db.conn:
            cur = self.db.execute(
                "UPDATE ocr_pages SET status = 'failed', error = ?, engine = ?, duration_s = ?, finished_at = ?,"
                " claim = NULL WHERE document_id = ? AND page_index = ? AND status = 'running' AND claim = ?",
                [reason, engine, duration_s, time.time(), *self._where(page), run_id],
            )
        return cur.rowcount == 1

    def release(self, page: PendingPage, run_id: str, *, crashed: bool = False) -> str | None:
        """Give a claimed page back: to pending, or (`crashed`: the process reading it died) with
        its crash count raised, quarantined at `QUARANTINE_AFTER_CRASHES`. Returns the new status."""
        with self.db.conn:
            cur = self.db.execute(
                "UPDATE ocr_pages SET crashes = crashes + ?,"
                " status = CASE WHEN crashes + ? >= ? THEN 'quarantined' ELSE 'pending' END,"
                " error = CASE WHEN crashes + ? >= ? THEN ? ELSE error END, claim = NULL"
                " WHERE document_id = ? AND page_index = ? AND status = 'running' AND claim = ?",
                [
                    int(crashed),
                    int(crashed),
                    QUARANTINE_AFTER_CRASHES,
                    int(crashed),
                    QUARANTINE_AFTER_CRASHES,
                    _quarantine_reason(QUARANTINE_AFTER_CRASHES),
                    *self._where(page),
                    run_id,
                ],
            )
            if cur.rowcount != 1:
                return None
            row = self.db.execute(
                "SELECT status FROM ocr_pages WHERE document_id = ? AND page_index = ?", self._where(page)
            ).fetchone()
        return str(row[0])

    def release_run(self, job_id: str, run_id: str) -> int:
        """Give back every page `run_id` still holds (a run that stops cleanly: no crash counted)."""
        with self.db.conn:
            cur = self.db.execute(
                "UPDATE ocr_pages SET status = 'pending', claim = NULL"
                " WHERE job_id = ? AND status = 'running' AND claim = ?",
                [job_id, run_id],
            )
            self.db.execute(
                "UPDATE ocr_documents SET export_claim = NULL WHERE job_id = ? AND export_claim = ?",
                [job_id, run_id],
            )
        return cur.rowcount

    def recover_abandoned(self, job_id: str, alive: Callable[[str], bool]) -> list[RecoveredPage]:
        """Claims of runs that are no longer `alive` (killed, crashed): each page goes back to
        pending as a crash suspect, or to quarantine when it was in flight in crashed runs before."""
        rows = self.db.execute(
            "SELECT p.document_id, d.path, p.page_index, p.crashes, p.claim FROM ocr_pages p"
            " JOIN ocr_documents d ON d.id = p.document_id WHERE p.job_id = ? AND p.status = 'running'",
            [job_id],
        ).fetchall()
        recovered: list[RecoveredPage] = []
        verdicts: dict[str, bool] = {}
        for doc_id, path, index, crashes, claim in rows:
            if claim is not None:
                if claim not in verdicts:
                    verdicts[claim] = alive(claim)
                if verdicts[claim]:
                    continue
            page = PendingPage(doc_id, path, index, crashes)
            status = self.release(page, claim, crashed=True) if claim else self._unclaimed_back(page)
            if status is not None:
                recovered.append(RecoveredPage(PendingPage(doc_id, path, index, crashes + 1), status))
        stale = self.db.execute(
            "SELECT DISTINCT export_claim FROM ocr_documents WHERE job_id = ? AND export_claim IS NOT NULL",
            [job_id],
        ).fetchall()
        for (claim,) in stale:
            if not verdicts.get(claim, False) and not alive(claim):
                with self.db.conn:
                    self.db.execute(
                        "UPDATE ocr_documents SET export_claim = NULL WHERE job_id = ? AND export_claim = ?",
                        [job_id, claim],
                    )
        return recovered

    def _unclaimed_back(self, page: PendingPage) -> str | None:
        """A `running` page without a claim (written by a version before claims): back to pending."""
        with self.db.conn:
            cur = self.db.execute(
                "UPDATE ocr_pages SET status = 'pending' WHERE document_id = ? AND page_index = ?"
                " AND status = 'running' AND claim IS NULL",
                self._where(page),
            )
        return "pending" if cur.rowcount == 1 else None

    def reset_failed(self, job_id: str) -> int:
        """Put failed and quarantined pages back to pending (for `resume --retry-failed`); their
        documents lose their export mark, so they are exported again with the new results."""
        with self.db.conn:
            self.db.execute(
                "UPDATE ocr_documents SET exported_at = NULL, exports = NULL, export_claim = NULL"
                " WHERE job_id = ? AND id IN (SELECT document_id FROM ocr_pages"
                " WHERE job_id = ? AND status IN ('failed', 'quarantined'))",
                [job_id, job_id],
            )
            cur = self.db.execute(
                "UPDATE ocr_pages SET status = 'pending', error = NULL, crashes = 0"
                " WHERE job_id = ? AND status IN ('failed', 'quarantined')",
                [job_id],
            )
        return cur.rowcount

    def counts(self, job_id: str) -> JobCounts:
        by = dict(
            self.db.execute(
                "SELECT status, count(*) FROM ocr_pages WHERE job_id = ? GROUP BY status", [job_id]
            ).fetchall()
        )
        docs_failed = self.db.execute(
            "SELECT count(*) FROM ocr_documents WHERE job_id = ? AND status = 'failed'", [job_id]
        ).fetchone()[0]
        total = sum(by.values())
        return JobCounts(
            total,
            by.get("done", 0),
            by.get("failed", 0),
            by.get("pending", 0),
            docs_failed,
            by.get("running", 0),
            by.get("quarantined", 0),
        )

    def page_stats(self, job_id: str) -> list[tuple[int, int, str, int, int]]:
        """(document_id, page_index, status, attempts, completions) for every page."""
        return [
            tuple(r)
            for r in self.db.execute(
                "SELECT document_id, page_index, status, attempts, completions FROM ocr_pages WHERE job_id = ?"
                " ORDER BY document_id, page_index",
                [job_id],
            )
        ]

    # ------------------------------------------------------------ documents

    def documents(self, job_id: str) -> list[tuple[int, str, int, str, str | None, float | None]]:
        """(id, path, page_count, status, error, exported_at) in order."""
        return [
            tuple(r)
            for r in self.db.execute(
                "SELECT id, path, page_count, status, error, exported_at FROM ocr_documents"
                " WHERE job_id = ? ORDER BY position",
                [job_id],
            )
        ]

    def document_finished(self, document_id: int) -> bool:
        row = self.db.execute(
            "SELECT count(*) FROM ocr_pages WHERE document_id = ? AND status IN ('pending', 'running')",
            [document_id],
        ).fetchone()
        return int(row[0]) == 0

    def claim_export(self, document_id: int, run_id: str) -> bool:
        """Take the export of a finished, not yet exported document (atomic, one run only)."""
        with self.db.conn:
            cur = self.db.execute(
                "UPDATE ocr_documents SET export_claim = ? WHERE id = ? AND exported_at IS NULL"
                " AND (export_claim IS NULL OR export_claim = ?) AND NOT EXISTS (SELECT 1 FROM ocr_pages"
                " WHERE document_id = ? AND status IN ('pending', 'running'))",
                [run_id, document_id, run_id, document_id],
            )
        return cur.rowcount == 1

    def load_document(self, document_id: int, mode: str) -> OcrDocument:
        path, count = self.db.execute(
            "SELECT path, page_count FROM ocr_documents WHERE id = ?", [document_id]
        ).fetchone()
        doc = OcrDocument(path=path, page_count=count, mode=mode)
        for idx, status, result, error in self.db.execute(
            "SELECT page_index, status, result, error FROM ocr_pages WHERE document_id = ? ORDER BY page_index",
            [document_id],
        ):
            if status == "done" and result:
                doc.pages.append(OcrPage.from_dict(json.loads(result)))
            elif status in ("failed", "quarantined"):
                doc.failures.append(PageFailure(idx, error or status))
        return doc

    def mark_exported(self, document_id: int, files: list[str], error: str | None = None) -> None:
        with self.db.conn:
            self.db.execute(
                "UPDATE ocr_documents SET exported_at = ?, exports = ?, error = COALESCE(?, error),"
                " export_claim = NULL WHERE id = ?",
                [None if error else time.time(), json.dumps(files), error, document_id],
            )

    def failures(self, job_id: str, limit: int = 50) -> list[tuple[str, int | None, str]]:
        """(path, page number or None for a whole document, reason)."""
        out: list[tuple[str, int | None, str]] = [
            (r[0], None, r[1] or "")
            for r in self.db.execute(
                "SELECT path, error FROM ocr_documents WHERE job_id = ? AND (status = 'failed' OR"
                " (error IS NOT NULL AND exported_at IS NULL)) ORDER BY position LIMIT ?",
                [job_id, limit],
            )
        ]
        out += [
            (r[0], int(r[1]) + 1, r[2] or "")
            for r in self.db.execute(
                "SELECT d.path, p.page_index, p.error FROM ocr_pages p JOIN ocr_documents d ON d.id = p.document_id"
                " WHERE p.job_id = ? AND p.status IN ('failed', 'quarantined')"
                " ORDER BY d.position, p.page_index LIMIT ?",
                [job_id, limit],
            )
        ]
        return out


def _quarantine_reason(crashes: int) -> str:
    return (
        f"quarantined: the process reading this page died {crashes} times"
        " (a page that crashes the reader is skipped; run it again with: ocr resume --retry-failed)"
    )
