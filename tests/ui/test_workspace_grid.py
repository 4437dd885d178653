"""The workspace grid with two real workspaces (Xvfb + the real Qt test form in each): live
thumbnails arrive, the user takes over the selected one (its run pauses), clicks and types into
the large view and the form INSIDE the workspace receives it, then hands back (the run resumes).
A picture of the grid goes to artifacts/ui/ and, with UPDATE_DOCS_SCREENSHOTS=1, to docs/screenshots/.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from qwen3vl_agent.agents.control import RunControl
from qwen3vl_agent.workspace import Workspace, WorkspaceSpec
from tests.support.form_app_fixture import FORM_APP

pytestmark = [
    pytest.mark.xvfb,
    pytest.mark.skipif(shutil.which("Xvfb") is None, reason="Xvfb is not installed"),
]

REPO = Path(__file__).resolve().parents[2]


def last_state(path: Path) -> dict[str, Any]:
    states = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if '"type": "state"' in x]
    return states[-1] if states else {}


def wait(qapp: Any, predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        qapp.processEvents()
        time.sleep(0.02)


def test_take_over_types_into_the_workspace_and_hand_back_resumes(qapp: Any, tmp_path: Path) -> None:
    from PySide6.QtCore import QEvent, QPoint, Qt
    from PySide6.QtTest import QTest

    from qwen3vl_agent.ui.workspace_grid import WorkspaceEntry, WorkspaceGrid

    launch = f"{sys.executable} {FORM_APP} --state-file {tmp_path}/form-{{workspace}}.jsonl --x 0 --y 0 --keep-values --no-commands"
    spec = WorkspaceSpec(width=1000, height=800, launch=launch)
    spaces = [Workspace(spec, i) for i in (1, 2)]
    grid = WorkspaceGrid(interval_s=0.2)
    runs = [RunControl(), RunControl()]
    try:
        for ws in spaces:
            ws.start()
        for ws in spaces:
            ws.wait_for_window()
        state = tmp_path / "form-1.jsonl"
        wait(qapp, lambda: '"ready"' in state.read_text(), 30, "the form in workspace 1")
        grid.resize(1200, 720)
        grid.show()
        grid.set_workspaces(
            [WorkspaceEntry(f"ws{ws.index}", ws.display, run) for ws, run in zip(spaces, runs, strict=True)]
        )
        wait(
            qapp,
            lambda: all(t.pixmap() is not None and not t.pixmap().isNull() for t in grid._thumbs.values()),
            30,
            "thumbnails",
        )
        assert grid.large.source_size == (1000, 800)

        grid.take_over()
        assert runs[0].paused and not runs[1].paused
        geometry = [json.loads(x) for x in state.read_text().splitlines() if '"geometry"' in x][-1]
        left, top, width, height = geometry["widgets"]["name"]
        pixmap = grid.large.pixmap()
        px = (grid.large.width() - pixmap.width()) // 2 + (left + width / 2) * pixmap.width() / 1000
        py = (grid.large.height() - pixmap.height()) // 2 + (top + height / 2) * pixmap.height() / 800
        QTest.mouseClick(grid.large, Qt.MouseButton.LeftButton, pos=QPoint(round(px), round(py)))
        QTest.keyClicks(grid.large, "Hi there!")
        wait(
            qapp,
            lambda: last_state(state).get("name") == "Hi there!",
            20,
            "the typed text in the workspace's form",
        )
        assert last_state(tmp_path / "form-2.jsonl").get("name") == ""  # the other workspace untouched
        for step, text in enumerate(("click the name field", "select all", "type 'Ada Lovelace'"), 1):
            grid.add_step("ws1", f"step {step}: {text}")
        shown = grid.frames_shown
        wait(qapp, lambda: grid.frames_shown >= shown + 4, 20, "fresh frames")  # the typed text is in view

        path = REPO / "artifacts" / "ui" / "workspaces.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        assert grid.grab().save(str(path))
        if os.environ.get("UPDATE_DOCS_SCREENSHOTS"):
            shutil.copy(path, REPO / "docs" / "screenshots" / "workspaces.png")

        grid.hand_back()
        assert not runs[0].paused and not grid.taken_over and grid.errors == []
        grid.stop_all()
        assert all(r.stopped for r in runs)
    finally:
        grid.close_workspaces()
        grid.close()
        for ws in spaces:
            ws.close()
        grid.deleteLater()  # deleted now, by Qt, not by a later test's garbage collection
        qapp.sendPostedEvents(None, QEvent.Type.DeferredDelete)
