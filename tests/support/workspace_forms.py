"""The real Qt test form launched in agent workspaces, and readers over what each copy recorded.

Each workspace runs its own form (`launch_command`: `{workspace}` names its state file), all at
(0, 0) with the same size, so one geometry serves the scripted policy for every workspace.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

from tests.support.form_app_fixture import FORM_APP

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
    """`widget_rect` for `form_planner`, from whichever form reported its geometry first."""

    def widget_rect(name: str) -> tuple[int, int, int, int]:
        for recs in records(state_dir).values():
            geoms = [r for r in recs if r.get("type") == "geometry"]
            if geoms:
                left, top, width, height = geoms[-1]["widgets"][name]  # type: ignore[index]
                return (left, top, width, height)
        raise AssertionError("no workspace form has reported its geometry yet")

    return widget_rect


def submissions(state_dir: Path) -> list[tuple[str, dict[str, object]]]:
    """(form, values) of every Submit in every form."""
    return [
        (form, {k: r["values"][k] for k in FIELDS})  # type: ignore[index]
        for form, recs in records(state_dir).items()
        for r in recs
        if r.get("type") == "submit"
    ]
