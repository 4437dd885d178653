"""The scripted planner's geometry reader: reads only what the forms appended, still exact."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.workspace_forms import geometry_reader


def geometry(top: int) -> dict[str, object]:
    return {"type": "geometry", "window": [0, 0, 900, 760], "widgets": {"name": [10, top, 300, 30]}}


def append(path: Path, *records: dict[str, object], partial: str = "") -> None:
    with path.open("a", encoding="utf-8") as f:
        f.write("".join(json.dumps(r) + "\n" for r in records) + partial)


def test_geometry_follows_what_the_forms_append(tmp_path: Path) -> None:
    rect = geometry_reader(tmp_path)
    with pytest.raises(AssertionError, match="no workspace form"):
        rect("name")
    second = tmp_path / "form-2.jsonl"
    append(second, {"type": "ready"}, geometry(50))
    assert rect("name") == (10, 50, 300, 30)
    # a line still being written is not read half; once whole, it counts
    text = json.dumps(geometry(70))
    append(second, {"type": "state", "seq": 1}, partial=text[:20])
    assert rect("name") == (10, 50, 300, 30)
    append(second, partial=text[20:] + "\n")
    assert rect("name") == (10, 70, 300, 30)
    # the first form (by name) that reported a geometry wins, as before
    append(tmp_path / "form-1.jsonl", geometry(90))
    assert rect("name") == (10, 90, 300, 30)
    # a form's record written anew (a new run) is read from its start
    (tmp_path / "form-1.jsonl").write_text(json.dumps(geometry(5)) + "\n", encoding="utf-8")
    assert rect("name") == (10, 5, 300, 30)
