"""Reading form-fill data: CSV/JSON/JSONL, wrong encodings, missing columns, 10,000 rows streamed."""

from __future__ import annotations

import json
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest

from qwen3vl_agent.agents.data_rows import (
    DataFileError,
    DataRow,
    check_columns,
    open_data,
    parse_row_values,
    render_task,
)


def test_csv_rows_with_unicode(tmp_path: Path) -> None:
    f = tmp_path / "rows.csv"
    f.write_text("name,city\nAda,Zürich\nBo,東京\n\n", encoding="utf-8")
    src = open_data(f)
    assert (src.kind, src.encoding, src.columns, src.warnings) == ("csv", "utf-8", ["name", "city"], [])
    rows = list(src.rows())
    assert [r.values for r in rows] == [{"name": "Ada", "city": "Zürich"}, {"name": "Bo", "city": "東京"}]
    assert [r.index for r in rows] == [0, 1] and all(r.problem is None for r in rows)


def test_semicolon_csv_with_bom(tmp_path: Path) -> None:
    f = tmp_path / "rows.csv"
    f.write_bytes("\ufeffname;city\nAda;Köln\n".encode())
    src = open_data(f)
    assert src.encoding == "utf-8-sig" and src.columns == ["name", "city"]
    assert next(iter(src.rows())).values == {"name": "Ada", "city": "Köln"}


def test_cp1252_file_is_read_with_a_warning(tmp_path: Path) -> None:
    f = tmp_path / "excel.csv"
    f.write_bytes("name,city\nRené,Zürich – Nord\n".encode("cp1252"))
    src = open_data(f)
    assert src.encoding == "cp1252"
    assert src.warnings and "not UTF-8" in src.warnings[0] and "cp1252" in src.warnings[0]
    assert next(iter(src.rows())).values == {"name": "René", "city": "Zürich – Nord"}


def test_bytes_cp1252_cannot_decode_fall_back_to_latin1(tmp_path: Path) -> None:
    f = tmp_path / "odd.csv"
    f.write_bytes(b"name\nA\x81B\n")  # 0x81 is undefined in cp1252
    src = open_data(f)
    assert src.encoding == "latin-1" and src.warnings
    assert next(iter(src.rows())).values == {"name": "A\x81B"}


def test_short_row_is_reported_not_fatal(tmp_path: Path) -> None:
    f = tmp_path / "rows.csv"
    f.write_text("name,city,country\nAda,Bern,Switzerland\nBo,Kyoto\n", encoding="utf-8")
    rows = list(open_data(f).rows())
    assert rows[0].problem is None
    assert rows[1].problem is not None and "missing: country" in rows[1].problem and rows[1].line == 3


def test_missing_columns_named_by_the_task_fail_early(tmp_path: Path) -> None:
    f = tmp_path / "rows.csv"
    f.write_text("name,town\nAda,Bern\n", encoding="utf-8")
    src = open_data(f)
    with pytest.raises(DataFileError, match="no column 'city'") as err:
        check_columns(src, "Enter {name} who lives in {city}")
    assert "town" in str(err.value)  # the message lists what the file has
    with pytest.raises(DataFileError, match="'email'"):
        check_columns(src, "Fill the form", required=["email"])
    check_columns(src, "Enter {name} from {town}")


@pytest.mark.parametrize(
    ("content", "match"),
    [("", "empty"), (",a\n1,2\n", "no name"), ("a,a\n1,2\n", "more than once")],
)
def test_bad_headers(tmp_path: Path, content: str, match: str) -> None:
    f = tmp_path / "bad.csv"
    f.write_text(content, encoding="utf-8")
    with pytest.raises(DataFileError, match=match):
        open_data(f)


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("header.csv", "name,city\n"),
        ("header-blank-lines.csv", "name,city\r\n\r\n, \r\n"),
        ("empty-list.json", "[]"),
        ("empty-rows.json", '{"rows": []}'),
        ("blank.jsonl", "\n\n"),
    ],
)
def test_a_file_without_rows_is_a_clear_error(tmp_path: Path, name: str, content: str) -> None:
    """A header and no rows ran nothing and "succeeded": it is an error, like an empty file."""
    f = tmp_path / name
    f.write_text(content, encoding="utf-8")
    with pytest.raises(DataFileError, match="nothing to fill in") as err:
        open_data(f)
    assert name in str(err.value)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DataFileError, match="does not exist"):
        open_data(tmp_path / "nope.csv")


def test_json_and_jsonl(tmp_path: Path) -> None:
    j = tmp_path / "rows.json"
    j.write_text(json.dumps([{"name": "Ada", "age": 36}, {"name": "Bo"}, 5]), encoding="utf-8")
    rows = list(open_data(j).rows())
    assert rows[0].values == {"name": "Ada", "age": "36"} and rows[0].problem is None
    assert rows[1].problem is not None and "age" in rows[1].problem
    assert rows[2].problem is not None and "not an object" in rows[2].problem
    jl = tmp_path / "rows.jsonl"
    jl.write_text('{"name": "Ada"}\n\n{oops\n{"name": "Cy"}\n', encoding="utf-8")
    rows = list(open_data(jl).rows())
    assert [r.values for r in rows] == [{"name": "Ada"}, {}, {"name": "Cy"}]
    assert rows[1].problem is not None and "not valid JSON" in rows[1].problem
    broken = tmp_path / "broken.json"
    broken.write_text("[{", encoding="utf-8")
    with pytest.raises(DataFileError, match="not valid JSON"):
        open_data(broken)


def test_ten_thousand_rows_are_streamed(tmp_path: Path) -> None:
    f = tmp_path / "big.csv"
    with f.open("w", encoding="utf-8") as out:
        out.write("name,city,note\n")
        for i in range(10_000):
            out.write(f"Person {i},City {i % 97},{'x' * 200}\n")
    src = open_data(f)
    rows = src.rows()
    tracemalloc.start()
    count, last = 0, None
    for row in rows:
        count, last = count + 1, row
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert count == 10_000 and last is not None
    assert last.index == 9_999 and last.values["name"] == "Person 9999"
    # streamed: the peak stays far below the file's size (~2.3 MB) held as row dicts
    assert peak < f.stat().st_size / 2, peak


def test_render_task_and_parse_back() -> None:
    values = {"name": "Ada Lovelace", "city": "Zürich"}
    task = render_task("Register {name} in the form", values)
    assert task.startswith("Register Ada Lovelace in the form")
    assert parse_row_values(task) == values


def test_a_batch_takes_the_rows_of_its_range_and_reads_no_further(tmp_path: Path) -> None:
    from qwen3vl_agent.agents.form_fill import BatchOptions

    f = tmp_path / "rows.csv"
    f.write_text("name\n" + "".join(f"n{i}\n" for i in range(10)), encoding="utf-8")
    read: list[int] = []

    def rows() -> Iterator[DataRow]:
        for row in open_data(f).rows():
            read.append(row.index)
            yield row

    opts = BatchOptions(task="t", data_path=f, first_row=2, last_row=5)
    assert [r.values["name"] for r in opts.chosen(rows())] == ["n2", "n3", "n4"]
    assert read == [0, 1, 2, 3, 4, 5]  # row 5 ends it: the rest of the file is not read
    everything = BatchOptions(task="t", data_path=f)
    assert [r.index for r in everything.chosen(open_data(f).rows())] == list(range(10))
