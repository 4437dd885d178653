"""Rows of values for form filling, read from CSV or JSON, streamed so 10,000 rows cost nothing.

CSV: the header names the fields. The encoding is checked before any row is used: UTF-8 (with
or without BOM) first; a file that is not UTF-8 is read as cp1252 (or latin-1 if cp1252 cannot
decode it) and a warning says so, because a spreadsheet saved "as CSV" on Windows is the usual
cause. JSON: a list of objects, or JSON Lines (one object per line, `.jsonl`/`.ndjson`).
A row whose values do not match the header is reported as a bad row (the batch goes on); a
field the task needs but the file lacks, or a file without a single row, is a clear error
before anything runs.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import json
import re
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path

from qwen3vl_agent.errors import UserFacingError
from qwen3vl_agent.executor.secrets import MASK


class DataFileError(UserFacingError):
    """The data file cannot be used (missing, unreadable, wrong format, missing columns)."""


@dataclass(frozen=True)
class DataRow:
    """One row: its 0-based index among data rows, its values, and a problem if it is malformed."""

    index: int
    values: dict[str, str]
    line: int | None = None  # 1-based line in a CSV file (the header is line 1)
    problem: str | None = None
    # secret columns' real values; `values` then shows them masked (see `with_secrets_hidden`)
    secrets: dict[str, str] = field(default_factory=dict, repr=False, compare=False)

    def with_secrets_hidden(self, columns: list[str]) -> DataRow:
        """This row as records and screens may show it: secret columns' values as ••••, and
        the real values in `secrets` (for the executor only)."""
        hidden = {c: self.values[c] for c in columns if c in self.values}
        if not hidden:
            return self
        shown = {k: (MASK if k in hidden else v) for k, v in self.values.items()}
        return DataRow(self.index, shown, self.line, self.problem, hidden)


@dataclass
class DataSource:
    """A data file, checked and ready to stream rows from."""

    path: Path
    kind: str  # "csv" | "json" | "jsonl"
    encoding: str
    columns: list[str]
    warnings: list[str] = field(default_factory=list)

    def rows(self) -> Generator[DataRow, None, None]:
        if self.kind == "csv":
            return self._csv_rows()
        if self.kind == "jsonl":
            return self._jsonl_rows()
        return self._json_rows()

    def content_hash(self) -> str:
        h = hashlib.sha256()
        with self.path.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        return h.hexdigest()

    def _csv_rows(self) -> Generator[DataRow, None, None]:
        with self.path.open(newline="", encoding=self.encoding) as f:
            reader = csv.reader(f, dialect=_sniff(f))
            next(reader, None)  # header
            index = 0
            for record in reader:
                if not record or all(not cell.strip() for cell in record):
                    continue  # blank line
                problem = None
                if len(record) < len(self.columns):
                    missing = ", ".join(self.columns[len(record) :])
                    problem = f"has {len(record)} values for {len(self.columns)} columns (missing: {missing})"
                elif len(record) > len(self.columns):
                    problem = f"has {len(record)} values for {len(self.columns)} columns"
                values = {
                    c: (record[i].strip() if i < len(record) else "") for i, c in enumerate(self.columns)
                }
                yield DataRow(index, values, line=reader.line_num, problem=problem)
                index += 1

    def _json_rows(self) -> Generator[DataRow, None, None]:
        data = _load_json(self.path, self.encoding)
        for index, item in enumerate(data):
            yield _json_row(index, item, self.columns)

    def _jsonl_rows(self) -> Generator[DataRow, None, None]:
        index = 0
        with self.path.open(encoding=self.encoding) as f:
            for lineno, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    item = json.loads(line)
                except json.JSONDecodeError as exc:
                    yield DataRow(index, {}, line=lineno, problem=f"is not valid JSON ({exc.msg})")
                else:
                    row = _json_row(index, item, self.columns)
                    yield DataRow(row.index, row.values, line=lineno, problem=row.problem)
                index += 1


def _json_row(index: int, item: object, columns: list[str]) -> DataRow:
    if not isinstance(item, dict):
        return DataRow(index, {}, problem=f"is a {type(item).__name__}, not an object of field values")
    values = {str(k): "" if v is None else str(v) for k, v in item.items()}
    missing = [c for c in columns if c not in values]
    problem = f"lacks the fields {', '.join(missing)}" if missing else None
    return DataRow(index, values, problem=problem)


def _sniff(f: object) -> type[csv.Dialect] | csv.Dialect:
    """The dialect of an open CSV file (comma, semicolon or tab separated); rewinds the file."""
    import io

    assert isinstance(f, io.TextIOBase)
    sample = f.read(64 * 1024)
    f.seek(0)
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|")
    except csv.Error:
        return csv.excel


def detect_encoding(path: Path) -> tuple[str, str | None]:
    """(encoding, warning): UTF-8 if the whole file decodes as UTF-8, else cp1252 or latin-1."""
    with path.open("rb") as f:
        head = f.read(4)
        if head.startswith(codecs.BOM_UTF16_LE) or head.startswith(codecs.BOM_UTF16_BE):
            return "utf-16", None
        f.seek(0)
        bom = head.startswith(codecs.BOM_UTF8)
        decoder: codecs.IncrementalDecoder = codecs.getincrementaldecoder("utf-8")()
        try:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
            return ("utf-8-sig" if bom else "utf-8"), None
        except UnicodeDecodeError as exc:
            offset = exc.start
        for fallback in ("cp1252", "latin-1"):
            f.seek(0)
            decoder = codecs.getincrementaldecoder(fallback)()
            try:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    decoder.decode(chunk)
                decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                continue
            return fallback, (
                f"{path.name} is not UTF-8 (first bad byte near offset {offset}); read it as {fallback}."
                " Check the values, or save the file as UTF-8"
            )
    raise DataFileError(f"Cannot tell the text encoding of {path}", "save it as UTF-8")  # pragma: no cover


def _load_json(path: Path, encoding: str) -> list[object]:
    try:
        data = json.loads(path.read_text(encoding=encoding))
    except json.JSONDecodeError as exc:
        raise DataFileError(
            f"{path} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})",
            "give a list of objects, or one object per line in a .jsonl file",
        ) from exc
    if isinstance(data, dict):
        for key in ("rows", "data", "items"):
            if isinstance(data.get(key), list):
                data = data[key]
                break
        else:
            data = [data]
    if not isinstance(data, list):
        raise DataFileError(f"{path} holds a {type(data).__name__}, not a list of rows")
    return data


def open_data(path: Path) -> DataSource:
    """Check a data file (exists, encoding, header) and return a source to stream rows from."""
    if not path.exists():
        raise DataFileError(f"The data file {path} does not exist")
    if not path.is_file():
        raise DataFileError(f"The data path {path} is not a file")
    suffix = path.suffix.lower()
    try:
        encoding, warning = detect_encoding(path)
    except OSError as exc:
        raise DataFileError(f"Cannot read {path}: {exc.strerror or exc}") from exc
    warnings = [warning] if warning else []
    if suffix in (".jsonl", ".ndjson"):
        columns: list[str] = []
        with path.open(encoding=encoding) as f:
            for line in f:
                if line.strip():
                    try:
                        first = json.loads(line)
                    except json.JSONDecodeError as exc:
                        raise DataFileError(
                            f"The first line of {path} is not valid JSON ({exc.msg})"
                        ) from exc
                    if isinstance(first, dict):
                        columns = [str(k) for k in first]
                    break
            else:
                raise _no_rows(path, "holds no JSON lines")
        return DataSource(path, "jsonl", encoding, columns, warnings)
    if suffix == ".json":
        data = _load_json(path, encoding)
        if not data:
            raise _no_rows(path, "holds an empty list")
        first = next((d for d in data if isinstance(d, dict)), {})
        assert isinstance(first, dict)
        return DataSource(path, "json", encoding, [str(k) for k in first], warnings)
    with path.open(newline="", encoding=encoding) as f:
        reader = csv.reader(f, dialect=_sniff(f))
        header = next(reader, None)
    if not header or not any(h.strip() for h in header):
        raise DataFileError(f"{path} is empty or has no header row", "the first line must name the fields")
    columns = [h.strip() for h in header]
    blanks = [i + 1 for i, h in enumerate(columns) if not h]
    if blanks:
        raise DataFileError(f"{path}: header column(s) {blanks} have no name", "name every column")
    dupes = sorted({c for c in columns if columns.count(c) > 1})
    if dupes:
        raise DataFileError(f"{path}: the header names {', '.join(dupes)} more than once")
    source = DataSource(path, "csv", encoding, columns, warnings)
    rows = source.rows()
    try:
        empty = next(rows, None) is None  # reads up to the first row only
    finally:
        rows.close()
    if empty:
        raise _no_rows(path, f"has a header ({', '.join(columns)}) but no rows")
    return source


def _no_rows(path: Path, what: str) -> DataFileError:
    """A file with nothing to run is an error, like an empty file: a batch of none would "succeed"."""
    return DataFileError(f"{path} {what}: there is nothing to fill in", "add one row of values per form")


_PLACEHOLDER = re.compile(r"\{([A-Za-z_][\w ]*)\}")


def task_placeholders(task: str) -> list[str]:
    """The `{field}` names a task template uses."""
    return list(dict.fromkeys(m.group(1) for m in _PLACEHOLDER.finditer(task)))


def check_columns(source: DataSource, task: str, required: list[str] | None = None) -> None:
    """Fail before any row runs when the task (or `--require`) names a field the file lacks."""
    needed = [*task_placeholders(task), *(required or [])]
    missing = [c for c in dict.fromkeys(needed) if c not in source.columns]
    if missing:
        raise DataFileError(
            f"{source.path.name} has no column {', '.join(repr(m) for m in missing)}"
            f" (its columns: {', '.join(source.columns) or 'none'})",
            "fix the header or the task's {field} placeholders",
        )


def secret_columns(columns: list[str], names: list[str], extra: list[str] | None = None) -> list[str]:
    """The columns whose values must never reach the model: named like one of `names` (a whole
    word of the column name: "password", "User PIN", "card_number"), or listed in `extra`."""
    words = [re.sub(r"[^a-z0-9]+", "_", n.lower()).strip("_") for n in names if n.strip()]
    pattern = re.compile(r"(?<![a-z0-9])(" + "|".join(re.escape(w) for w in words) + r")(?![a-z0-9])")
    chosen = set(extra or [])
    for column in columns:
        normal = re.sub(r"[^a-z0-9]+", "_", column.lower()).strip("_")
        if words and pattern.search(normal):
            chosen.add(column)
    return [c for c in columns if c in chosen] + sorted(chosen - set(columns))


SECRET_NOTE = (
    "Values written as {{{name}}} are secret: type them exactly as written, braces included;"
    " they are filled in as they are typed."
)


def render_task(task: str, values: dict[str, str], secrets: list[str] | None = None) -> str:
    """The task for one row: `{field}` placeholders filled in, then every value listed plainly.

    Secret columns appear only as their placeholder (`{password}`), never as the value.
    """
    hidden = set(secrets or ())
    shown = {k: ("{" + k + "}" if k in hidden else v) for k, v in values.items()}
    filled = _PLACEHOLDER.sub(lambda m: shown.get(m.group(1), m.group(0)), task)
    lines = "\n".join(f"- {k}: {v}" for k, v in shown.items())
    note = ""
    if hidden & set(values):
        first = next(k for k in values if k in hidden)
        note = "\n" + SECRET_NOTE.format(name=first)
    return f"{filled}\n\nUse exactly these values:\n{lines}{note}"


def parse_row_values(text: str) -> dict[str, str]:
    """The values `render_task` listed (used by replay and the test policy)."""
    values: dict[str, str] = {}
    if "Use exactly these values:" not in text:
        return values
    block = text.split("Use exactly these values:", 1)[1]
    for line in block.splitlines():
        m = re.match(r"^- ([^:]+): (.*)$", line)
        if m:
            values[m.group(1)] = m.group(2)
        elif line.strip() and values:
            break
    return values
