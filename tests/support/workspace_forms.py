"""The real Qt test form launched in agent workspaces, and readers over what each copy recorded.

Each workspace runs its own form (`launch_command`: `{workspace}` names its state file), all at
(0, 0) with the same size, so one geometry serves the scripted policy for every workspace.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.support.form_app_fixture import FORM_APP
from tests.support.policy_server import Planner, form_planner

FIELDS = ("name", "city", "country", "subscribe")


def launch_command(state_dir: Path) -> str:
    return (
        f"{sys.executable} {FORM_APP} --state-file {state_dir}/form-{{workspace}}.jsonl"
        " --x 0 --y 0 --width 900 --height 760 --no-commands"
    )


def records(state_dir: Path) -> dict[str, list[dict[str, object]]]:
    """Every form's records (by state-file name), across relaunches and runs."""
    found: dict[str, list[dict[str, object]]] = {}
    for path in sorted(state_dir.glob("form-*.jsonl")):
        lines = path.read_text(encoding="utf-8").splitlines()
        found[path.stem] = [json.loads(line) for line in lines if line.strip().endswith("}")]
    return found


def geometry_reader(state_dir: Path) -> Callable[[str], tuple[int, int, int, int]]:
    """`widget_rect` for `form_planner`, from whichever form reported its geometry first.

    Each call reads only what the forms appended since the last one: the planner asks for several
    widgets per answer, and re-parsing every form's whole record (a state line per keystroke) made
    the scripted policy's own CPU grow with N x rows (60 ms an answer at 32 forms of 100 lines),
    inside the benchmarked process (row D, docs/benchmarks.md)."""
    seen: dict[Path, tuple[int, dict[str, Any] | None]] = {}  # bytes read, the last geometry
    lock = threading.Lock()  # the policy server answers from several threads

    def widget_rect(name: str) -> tuple[int, int, int, int]:
        with lock:
            for path in sorted(state_dir.glob("form-*.jsonl")):
                offset, geometry = seen.get(path, (0, None))
                size = path.stat().st_size
                if size < offset:  # rewritten: read it again
                    offset, geometry = 0, None
                if size > offset:
                    with path.open("rb") as f:
                        f.seek(offset)
                        chunk = f.read(size - offset)
                    whole = chunk.rfind(b"\n") + 1  # a line still being written waits for the next call
                    for line in chunk[:whole].splitlines():
                        if b'"geometry"' in line:
                            record = json.loads(line)
                            if record.get("type") == "geometry":
                                geometry = record
                    offset += whole
                    seen[path] = (offset, geometry)
                if geometry is not None:
                    left, top, width, height = geometry["widgets"][name]
                    return (left, top, width, height)
        raise AssertionError("no workspace form has reported its geometry yet")

    return widget_rect


def form_planner_for(state_dir: Path, monitor: tuple[int, int, int, int]) -> Planner:
    """`form_planner` over the forms of `state_dir` (a top-level function: `PolicyProcess` builds
    the planner in its own process from it)."""
    return form_planner(geometry_reader(state_dir), monitor)


def submissions(state_dir: Path) -> list[tuple[str, dict[str, object]]]:
    """(form, values) of every Submit in every form."""
    return [
        (form, {k: r["values"][k] for k in FIELDS})  # type: ignore[index]
        for form, recs in records(state_dir).items()
        for r in recs
        if r.get("type") == "submit"
    ]
