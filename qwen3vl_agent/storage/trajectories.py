"""Agent runs, their steps, and form-fill batches, persisted for audit, reports and replay.

A step keeps what a person needs to understand it afterwards: the screenshot actually sent
(an image file under the data dir, referenced by path), the model's raw text, its thought,
the parsed action (`Action.to_json`), the mapped screen point, timings, tokens and errors.
Form-fill batches keep one status per data row so an interrupted batch resumes at the first
unfinished row and never re-submits a finished one.

Blocking (SQLite + files): callers on an event loop should keep writes small or use an executor.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import shutil
import sqlite3
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlite_utils

from qwen3vl_agent.errors import StorageError
from qwen3vl_agent.file_modes import private_mkdir, write_private_bytes
from qwen3vl_agent.storage.database import (
    Database,
    Migration,
    register_migrations,
    sqlite_failure,
    storage_error,
)

COMPONENT = "trajectories"

RUN_STATUSES = ("running", "paused", "finished", "failed", "stopped", "needs-attention")
ROW_STATUSES = ("pending", "running", "done", "failed", "needs-attention")
FINISHED_ROW_STATUSES = frozenset({"done", "failed", "needs-attention"})
UNFINISHED_ROW_STATUSES = frozenset({"pending", "running"})
# Step outcomes after which the screen may have changed: "executing" is written BEFORE an action
# starts, so a crash between the action and its record still counts; "stopped" may have done part.
ACTED_OUTCOMES = ("executed", "executing", "stopped")
RESERVE_BYTES = 512 * 1024  # freed on the first storage error, so the truthful final states fit


def _v1(db: sqlite_utils.Database) -> None:
    db.execute(
        "CREATE TABLE agent_runs (id INTEGER PRIMARY KEY, task TEXT NOT NULL, mode TEXT NOT NULL,"
        " target TEXT NOT NULL DEFAULT '{}', status TEXT NOT NULL, outcome TEXT, answer TEXT,"
        " message TEXT, data_row TEXT, batch_id INTEGER, row_index INTEGER,"
        " started_at REAL NOT NULL, finished_at REAL, settings TEXT NOT NULL DEFAULT '{}')"
    )
    db.execute(
        "CREATE TABLE agent_steps (id INTEGER PRIMARY KEY,"
        " run_id INTEGER NOT NULL REFERENCES agent_runs(id) ON DELETE CASCADE,"
        " step_index INTEGER NOT NULL, part INTEGER NOT NULL DEFAULT 0,"
        " screenshot_path TEXT, screenshot_hash TEXT, image_width INTEGER, image_height INTEGER,"
        " geometry TEXT, raw_text TEXT, thought TEXT, action TEXT,"
        " point_x INTEGER, point_y INTEGER, start_point_x INTEGER, start_point_y INTEGER,"
        " outcome TEXT, error TEXT,"
        " capture_s REAL, prepare_s REAL, queue_wait_s REAL, inference_s REAL, execution_s REAL,"
        " prompt_tokens INTEGER, completion_tokens INTEGER, created_at REAL NOT NULL)"
    )
    db.execute("CREATE INDEX agent_steps_run ON agent_steps(run_id, step_index, id)")
    db.execute(
        "CREATE TABLE form_batches (id INTEGER PRIMARY KEY, data_path TEXT NOT NULL,"
        " data_hash TEXT NOT NULL, task TEXT NOT NULL, status TEXT NOT NULL,"
        " created_at REAL NOT NULL, updated_at REAL NOT NULL)"
    )
    db.execute("CREATE INDEX form_batches_key ON form_batches(data_path, task)")
    db.execute(
        "CREATE TABLE form_rows (batch_id INTEGER NOT NULL REFERENCES form_batches(id) ON DELETE CASCADE,"
        " row_index INTEGER NOT NULL, status TEXT NOT NULL, run_id INTEGER, row_hash TEXT,"
        " message TEXT, updated_at REAL NOT NULL, PRIMARY KEY (batch_id, row_index))"
    )


def _v2(db: sqlite_utils.Database) -> None:
    db.execute("ALTER TABLE agent_steps ADD COLUMN execution TEXT")


def _v3(db: sqlite_utils.Database) -> None:
    db.execute("ALTER TABLE form_batches ADD COLUMN reset_due TEXT")


register_migrations(
    COMPONENT,
    [
        Migration(1, "agent runs, steps, form-fill batches and rows", _v1),
        Migration(2, "agent_steps.execution: what the executor did (primitives, risk, notes)", _v2),
        Migration(3, "form_batches.reset_due: why the target must be reset before the next row", _v3),
    ],
)


class TrajectoryWriteError(StorageError):
    """A write to the trajectory store failed (disk full, database locked, read-only folder).

    Carries what failed; the agent stops at the first one instead of acting without a record.
    """

    def __init__(self, message: str, hint: str | None = None, *, disk_full: bool = False) -> None:
        super().__init__(message, hint)
        self.disk_full = disk_full


@dataclass(frozen=True)
class RunRecord:
    id: int
    task: str
    mode: str
    target: dict[str, Any]
    status: str
    outcome: str | None
    answer: str | None
    message: str | None
    data_row: dict[str, str] | None
    batch_id: int | None
    row_index: int | None
    started_at: float
    finished_at: float | None
    settings: dict[str, Any]
    step_count: int = 0


@dataclass
class StepRecord:
    """One step of a run (one model call and what came of it). All fields but the first are optional."""

    run_id: int
    step_index: int
    part: int = 0  # several actions from one model answer: 0, 1, ...; ORDER BY id
    screenshot_path: str | None = None
    screenshot_hash: str | None = None
    image_width: int | None = None
    image_height: int | None = None
    geometry: dict[str, Any] | None = None
    raw_text: str | None = None
    thought: str | None = None
    action: dict[str, Any] | None = None
    point: tuple[int, int] | None = None
    start_point: tuple[int, int] | None = None
    # executed | dry-run | declined | rejected | refused | dropped | scope-lost | final | parse-error | ...
    outcome: str | None = None
    error: str | None = None
    capture_s: float | None = None
    prepare_s: float | None = None
    queue_wait_s: float | None = None
    inference_s: float | None = None
    execution_s: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    created_at: float = field(default_factory=time.time)
    id: int | None = None
    execution: dict[str, Any] | None = None  # the executor's report (primitives, risk, notes)


@dataclass(frozen=True)
class BatchRecord:
    id: int
    data_path: str
    data_hash: str
    task: str
    status: str
    created_at: float
    updated_at: float
    reset_due: str | None = None  # why the target must be reset before the next row runs


@dataclass(frozen=True)
class RowState:
    batch_id: int
    row_index: int
    status: str
    run_id: int | None
    row_hash: str | None
    message: str | None


_BATCH_COLUMNS = "id, data_path, data_hash, task, status, created_at, updated_at, reset_due"


def _loads(text: str | None) -> Any:
    return json.loads(text) if text else None


class TrajectoryStore:
    """Runs, steps and batches in the app database; screenshots as files under `image_dir`."""

    def __init__(self, database_file: Path, image_dir: Path) -> None:
        self._db = Database(database_file, components=[COMPONENT], what="trajectory store")
        self.image_dir = image_dir

    @property
    def lock_dir(self) -> Path:
        """Where batch and desktop locks live (next to the database)."""
        return self._db.path.parent / "locks"

    @property
    def db(self) -> sqlite_utils.Database:
        return self._db.connection()

    def close(self) -> None:
        self._db.close()

    @contextlib.contextmanager
    def _writing(self, what: str) -> Iterator[None]:
        """Turn a failed write into one `TrajectoryWriteError` that says what was not recorded."""
        try:
            yield
        except sqlite3.Error as exc:
            err = storage_error(exc, self._db.path, "trajectory store")
            full = sqlite_failure(exc) == "full"
            raise TrajectoryWriteError(
                f"Could not record {what}: {err.message}", err.hint, disk_full=full
            ) from exc
        except OSError as exc:
            full = exc.errno in (errno.ENOSPC, errno.EDQUOT)
            raise TrajectoryWriteError(
                f"Could not record {what}: {exc.strerror or exc} ({exc.filename or self.image_dir})",
                "free some space" if full else "check the data folder",
                disk_full=full,
            ) from exc

    # ---- room for the last words ---------------------------------------------------------
    @property
    def reserve_file(self) -> Path:
        return self.image_dir / ".space-reserve"

    def ensure_reserve(self) -> None:
        """Keep a small file of reserved space next to the data (best effort, quiet on failure)."""
        path = self.reserve_file
        try:
            if path.exists() and path.stat().st_size >= RESERVE_BYTES:
                return
            private_mkdir(path.parent)
            write_private_bytes(path, b"\0" * RESERVE_BYTES)
        except OSError:
            with contextlib.suppress(OSError):
                path.unlink()

    def free_reserve(self) -> bool:
        """Give the reserved space back (after a storage error), so the final states fit."""
        try:
            self.reserve_file.unlink()
        except OSError:
            return False
        return True

    # ---- runs -----------------------------------------------------------------------------
    def create_run(
        self,
        task: str,
        mode: str,
        *,
        target: dict[str, Any] | None = None,
        data_row: dict[str, str] | None = None,
        batch_id: int | None = None,
        row_index: int | None = None,
        settings: dict[str, Any] | None = None,
    ) -> int:
        with self._writing("the start of the run"), self.db.conn:
            cur = self.db.execute(
                "INSERT INTO agent_runs (task, mode, target, status, data_row, batch_id, row_index,"
                " started_at, settings) VALUES (?, ?, ?, 'running', ?, ?, ?, ?, ?)",
                [
                    task,
                    mode,
                    json.dumps(target or {}),
                    json.dumps(data_row, ensure_ascii=False) if data_row is not None else None,
                    batch_id,
                    row_index,
                    time.time(),
                    json.dumps(settings or {}),
                ],
            )
        return int(cur.lastrowid or 0)

    def set_run_status(
        self,
        run_id: int,
        status: str,
        *,
        outcome: str | None = None,
        answer: str | None = None,
        message: str | None = None,
        finished: bool = False,
    ) -> None:
        if status not in RUN_STATUSES:
            raise ValueError(f"unknown run status {status!r}")
        with self._writing(f"the run's status ({status})"), self.db.conn:
            self.db.execute(
                "UPDATE agent_runs SET status = ?, outcome = COALESCE(?, outcome),"
                " answer = COALESCE(?, answer), message = ?, finished_at = ? WHERE id = ?",
                [status, outcome, answer, message, time.time() if finished else None, run_id],
            )

    _RUN_QUERY = (
        "SELECT r.*, (SELECT count(*) FROM agent_steps s WHERE s.run_id = r.id) AS step_count"
        " FROM agent_runs r"
    )

    def get_run(self, run_id: int) -> RunRecord | None:
        rows = self.db.query(f"{self._RUN_QUERY} WHERE r.id = ?", [run_id])
        row = next(iter(rows), None)
        return self._run(row) if row else None

    def list_runs(self, limit: int = 50) -> list[RunRecord]:
        rows = self.db.query(f"{self._RUN_QUERY} ORDER BY r.id DESC LIMIT ?", [limit])
        return [self._run(r) for r in rows]

    @staticmethod
    def _run(row: dict[str, Any]) -> RunRecord:
        """A run from its row, by column name (a later ALTER TABLE cannot shift the fields)."""
        return RunRecord(
            id=row["id"],
            task=row["task"],
            mode=row["mode"],
            target=_loads(row["target"]) or {},
            status=row["status"],
            outcome=row["outcome"],
            answer=row["answer"],
            message=row["message"],
            data_row=_loads(row["data_row"]),
            batch_id=row["batch_id"],
            row_index=row["row_index"],
            started_at=row["started_at"],
            finished_at=row["finished_at"],
            settings=_loads(row["settings"]) or {},
            step_count=row["step_count"],
        )

    def delete_run(self, run_id: int) -> None:
        """Delete a run, its steps and its screenshots; the rows' bytes are zeroed in the file too."""
        self.db.execute("PRAGMA secure_delete = ON")  # deleted data rows/text leave no readable trace
        with self.db.conn:
            self.db.execute("DELETE FROM agent_runs WHERE id = ?", [run_id])
        shutil.rmtree(self.run_dir(run_id), ignore_errors=True)

    def run_ids_started_before(self, cutoff: float) -> list[int]:
        rows = self.db.execute("SELECT id FROM agent_runs WHERE started_at < ? ORDER BY id", [cutoff])
        return [int(r[0]) for r in rows.fetchall()]

    def runs_needed_by_batches(self, run_ids: list[int]) -> dict[int, int]:
        """Of `run_ids`, those a batch still needs (run id -> batch id): the runs of a row
        that is not finished, which a resume asks "did it already act?"."""
        if not run_ids:
            return {}
        marks = ",".join("?" * len(run_ids))
        done = ",".join("?" * len(FINISHED_ROW_STATUSES))
        rows = self.db.execute(
            f"SELECT r.id, r.batch_id FROM agent_runs r JOIN form_rows f"
            f" ON f.batch_id = r.batch_id AND f.row_index = r.row_index"
            f" WHERE r.id IN ({marks}) AND f.status NOT IN ({done})",
            [*run_ids, *sorted(FINISHED_ROW_STATUSES)],
        ).fetchall()
        return {int(r[0]): int(r[1]) for r in rows}

    # ---- steps ----------------------------------------------------------------------------
    def run_dir(self, run_id: int) -> Path:
        return self.image_dir / f"run-{run_id:06d}"

    def save_screenshot(self, run_id: int, step_index: int, data: bytes, mime: str) -> Path:
        """Write the image bytes exactly as sent (one file per step; the step's rows share it)."""
        ext = {"image/png": "png", "image/webp": "webp", "image/jpeg": "jpg"}.get(mime, "bin")
        with self._writing(f"the screenshot of step {step_index}"):
            folder = private_mkdir(self.run_dir(run_id))
        path = folder / f"step-{step_index:04d}.{ext}"
        tmp = path.with_suffix(".tmp")
        with self._writing(f"the screenshot of step {step_index}"):
            try:
                write_private_bytes(tmp, data)  # a screenshot of the user's desktop: owner-only
                tmp.replace(path)
            except OSError:
                with contextlib.suppress(OSError):
                    tmp.unlink()
                raise
        return path

    def add_step(self, step: StepRecord) -> int:
        values = [
            step.run_id,
            step.step_index,
            step.part,
            step.screenshot_path,
            step.screenshot_hash,
            step.image_width,
            step.image_height,
            json.dumps(step.geometry) if step.geometry is not None else None,
            step.raw_text,
            step.thought,
            json.dumps(step.action, ensure_ascii=False) if step.action is not None else None,
            step.point[0] if step.point else None,
            step.point[1] if step.point else None,
            step.start_point[0] if step.start_point else None,
            step.start_point[1] if step.start_point else None,
            step.outcome,
            step.error,
            step.capture_s,
            step.prepare_s,
            step.queue_wait_s,
            step.inference_s,
            step.execution_s,
            step.prompt_tokens,
            step.completion_tokens,
            step.created_at,
        ]
        with self._writing("a step"), self.db.conn:
            cur = self.db.execute(
                "INSERT INTO agent_steps (run_id, step_index, part, screenshot_path, screenshot_hash,"
                " image_width, image_height, geometry, raw_text, thought, action, point_x, point_y,"
                " start_point_x, start_point_y, outcome, error, capture_s, prepare_s, queue_wait_s,"
                " inference_s, execution_s, prompt_tokens, completion_tokens, created_at)"
                f" VALUES ({', '.join('?' * len(values))})",
                values,
            )
        step.id = int(cur.lastrowid or 0)
        return step.id

    def update_step(self, step_id: int, **fields: Any) -> None:
        """Fill in what became known after the step was first written (execution result, timing)."""
        allowed = {"outcome", "error", "execution_s", "point", "start_point", "execution"}
        sets: list[str] = []
        values: list[Any] = []
        for name, value in fields.items():
            if name not in allowed:
                raise ValueError(f"cannot update step field {name!r}")
            if name in ("point", "start_point"):
                prefix = "point" if name == "point" else "start_point"
                sets += [f"{prefix}_x = ?", f"{prefix}_y = ?"]
                values += [value[0] if value else None, value[1] if value else None]
            else:
                sets.append(f"{name} = ?")
                values.append(json.dumps(value, ensure_ascii=False) if name == "execution" else value)
        if not sets:
            return
        with self._writing("a step's outcome"), self.db.conn:
            self.db.execute(f"UPDATE agent_steps SET {', '.join(sets)} WHERE id = ?", [*values, step_id])

    def steps(self, run_id: int) -> list[StepRecord]:
        rows = self.db.execute(
            "SELECT id, run_id, step_index, part, screenshot_path, screenshot_hash, image_width,"
            " image_height, geometry, raw_text, thought, action, point_x, point_y, start_point_x,"
            " start_point_y, outcome, error, capture_s, prepare_s, queue_wait_s, inference_s,"
            " execution_s, prompt_tokens, completion_tokens, created_at, execution"
            " FROM agent_steps WHERE run_id = ? ORDER BY step_index, id",
            [run_id],
        ).fetchall()
        out: list[StepRecord] = []
        for r in rows:
            out.append(
                StepRecord(
                    id=r[0],
                    run_id=r[1],
                    step_index=r[2],
                    part=r[3],
                    screenshot_path=r[4],
                    screenshot_hash=r[5],
                    image_width=r[6],
                    image_height=r[7],
                    geometry=_loads(r[8]),
                    raw_text=r[9],
                    thought=r[10],
                    action=_loads(r[11]),
                    point=(r[12], r[13]) if r[12] is not None else None,
                    start_point=(r[14], r[15]) if r[14] is not None else None,
                    outcome=r[16],
                    error=r[17],
                    capture_s=r[18],
                    prepare_s=r[19],
                    queue_wait_s=r[20],
                    inference_s=r[21],
                    execution_s=r[22],
                    prompt_tokens=r[23],
                    completion_tokens=r[24],
                    created_at=r[25],
                    execution=_loads(r[26]),
                )
            )
        return out

    # ---- form-fill batches ----------------------------------------------------------------
    def find_or_create_batch(
        self, data_path: str, task: str, data_hash: str, *, restart: bool = False
    ) -> tuple[BatchRecord, bool]:
        """The latest batch for this data file and task, or a new one; returns (batch, resumed).

        Found by file path and task (not content): a finished row stays finished when rows are
        appended to the file; each row's own hash tells whether that row changed.
        """
        row = None
        if not restart:
            row = self.db.execute(
                f"SELECT {_BATCH_COLUMNS} FROM form_batches"
                " WHERE data_path = ? AND task = ? ORDER BY id DESC LIMIT 1",
                [data_path, task],
            ).fetchone()
        if row:
            with self._writing("the batch"), self.db.conn:
                self.db.execute(
                    "UPDATE form_batches SET data_hash = ?, updated_at = ? WHERE id = ?",
                    [data_hash, time.time(), row[0]],
                )
            return BatchRecord(*row), True
        now = time.time()
        with self._writing("the new batch"), self.db.conn:
            cur = self.db.execute(
                "INSERT INTO form_batches (data_path, data_hash, task, status, created_at, updated_at)"
                " VALUES (?, ?, ?, 'running', ?, ?)",
                [data_path, data_hash, task, now, now],
            )
        bid = int(cur.lastrowid or 0)
        return BatchRecord(bid, data_path, data_hash, task, "running", now, now), False

    def get_batch(self, batch_id: int) -> BatchRecord | None:
        row = self.db.execute(
            f"SELECT {_BATCH_COLUMNS} FROM form_batches WHERE id = ?",
            [batch_id],
        ).fetchone()
        return BatchRecord(*row) if row else None

    def set_batch_status(self, batch_id: int, status: str) -> None:
        with self._writing(f"the batch's status ({status})"), self.db.conn:
            self.db.execute(
                "UPDATE form_batches SET status = ?, updated_at = ? WHERE id = ?",
                [status, time.time(), batch_id],
            )

    def set_row(
        self,
        batch_id: int,
        row_index: int,
        status: str,
        *,
        run_id: int | None = None,
        row_hash: str | None = None,
        message: str | None = None,
    ) -> None:
        if status not in ROW_STATUSES:
            raise ValueError(f"unknown row status {status!r}")
        with self._writing(f"row {row_index + 1}'s status ({status})"), self.db.conn:
            self.db.execute(
                "INSERT INTO form_rows (batch_id, row_index, status, run_id, row_hash, message, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (batch_id, row_index) DO UPDATE SET"
                " status = excluded.status, run_id = COALESCE(excluded.run_id, run_id),"
                " row_hash = COALESCE(excluded.row_hash, row_hash), message = excluded.message,"
                " updated_at = excluded.updated_at",
                [batch_id, row_index, status, run_id, row_hash, message, time.time()],
            )
            self.db.execute("UPDATE form_batches SET updated_at = ? WHERE id = ?", [time.time(), batch_id])

    def set_reset_due(self, batch_id: int, reason: str | None) -> None:
        """Remember (or clear) that the target was left mid-row and needs a reset first."""
        with self._writing("the batch's reset mark"), self.db.conn:
            self.db.execute(
                "UPDATE form_batches SET reset_due = ?, updated_at = ? WHERE id = ?",
                [reason, time.time(), batch_id],
            )

    def row_state(self, batch_id: int, row_index: int) -> RowState | None:
        """One row's state as stored NOW (another process may have changed it since the start)."""
        r = self.db.execute(
            "SELECT batch_id, row_index, status, run_id, row_hash, message FROM form_rows"
            " WHERE batch_id = ? AND row_index = ?",
            [batch_id, row_index],
        ).fetchone()
        return RowState(*r) if r else None

    def claim_row(
        self, batch_id: int, row_index: int, row_hash: str, takeable: Iterable[str] = ("pending",)
    ) -> bool:
        """Set the row `running` if its status is one of `takeable` (a new row counts as pending).

        One transaction; the UPDATE's `WHERE status IN (...)` is the arbiter: of two workers or
        processes that saw the row takeable, one wins, the other sees it `running` and leaves it.
        """
        allowed = sorted(set(takeable) | {"pending"})
        marks = ", ".join("?" * len(allowed))
        now = time.time()
        with self._writing(f"the claim of row {row_index + 1}"), self.db.conn:
            self.db.execute(
                "INSERT OR IGNORE INTO form_rows (batch_id, row_index, status, row_hash, updated_at)"
                " VALUES (?, ?, 'pending', ?, ?)",
                [batch_id, row_index, row_hash, now],
            )
            cur = self.db.execute(
                "UPDATE form_rows SET status = 'running', row_hash = ?, message = NULL, updated_at = ?"
                f" WHERE batch_id = ? AND row_index = ? AND status IN ({marks})",
                [row_hash, now, batch_id, row_index, *allowed],
            )
            claimed = cur.rowcount == 1
            if claimed:
                self.db.execute("UPDATE form_batches SET updated_at = ? WHERE id = ?", [now, batch_id])
        return claimed

    def rows(self, batch_id: int) -> dict[int, RowState]:
        result = self.db.execute(
            "SELECT batch_id, row_index, status, run_id, row_hash, message FROM form_rows WHERE batch_id = ?",
            [batch_id],
        ).fetchall()
        return {r[1]: RowState(*r) for r in result}

    def row_actions(self, batch_id: int, row_index: int) -> int:
        """Actions that may have reached the screen in the latest run of a batch row (0: none).

        Counts actions being executed when the process died ("executing" is written first) and
        actions interrupted part-way, not only the finished ones.
        """
        marks = ", ".join("?" * len(ACTED_OUTCOMES))
        row = self.db.execute(
            f"SELECT count(*) FROM agent_steps WHERE outcome IN ({marks}) AND run_id = ("
            " SELECT max(id) FROM agent_runs WHERE batch_id = ? AND row_index = ?)",
            [*ACTED_OUTCOMES, batch_id, row_index],
        ).fetchone()
        return int(row[0]) if row else 0

    def row_counts(self, batch_id: int) -> dict[str, int]:
        result = self.db.execute(
            "SELECT status, count(*) FROM form_rows WHERE batch_id = ? GROUP BY status", [batch_id]
        ).fetchall()
        return {status: n for status, n in result}


def hash_row(values: dict[str, str]) -> str:
    """A stable hash of a data row (to notice that a resumed batch's file changed under it)."""
    return hashlib.sha256(json.dumps(values, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:16]
