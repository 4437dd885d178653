"""Workspaces for real: Xvfb displays of their own with the real Qt test form launched inside,
their own size, DPI and Xauthority; clear errors for apps that fail; nothing left behind after a
close or a `kill -9` of the owning process; XTest input and mss capture bound to one display.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from qwen3vl_agent.actions.model import Action, ActionType, ResolvedAction
from qwen3vl_agent.config import ExecutorSettings
from qwen3vl_agent.engine.processes import pid_alive
from qwen3vl_agent.executor import ActionExecutor
from qwen3vl_agent.executor.plan import KeyDown
from qwen3vl_agent.executor.xtest_backend import XTestBackend
from qwen3vl_agent.screen.capture import CaptureTarget, ScreenCapturer
from qwen3vl_agent.workspace import LaunchError, Workspace, WorkspaceError, WorkspaceSpec
from tests.support.form_app_fixture import FORM_APP

pytestmark = [
    pytest.mark.xvfb,
    pytest.mark.skipif(shutil.which("Xvfb") is None, reason="Xvfb is not installed"),
]


def form_launch(state: Path, *extra: str) -> str:
    return f"{sys.executable} {FORM_APP} --state-file {state} --x 0 --y 0 --no-commands " + " ".join(extra)


def read_records(state: Path, kind: str) -> list[dict[str, object]]:
    lines = state.read_text(encoding="utf-8").splitlines() if state.exists() else []
    return [r for r in (json.loads(x) for x in lines if x.endswith("}")) if r.get("type") == kind]


def wait_record(state: Path, kind: str, timeout: float = 30) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while not read_records(state, kind):
        assert time.monotonic() < deadline, f"no {kind} record in {state}"
        time.sleep(0.05)
    return read_records(state, kind)[-1]


def alive(pids: list[int]) -> list[int]:
    return [p for p in pids if pid_alive(p)]


def test_two_workspaces_with_the_form_own_size_dpi_auth_and_leave_nothing(tmp_path: Path) -> None:
    from Xlib import display as xdisplay

    spec = WorkspaceSpec(
        width=1024, height=700, dpi=144, launch=form_launch(tmp_path / "form-{workspace}.jsonl")
    )
    one, two = Workspace(spec, 1), Workspace(spec, 2)
    pids: list[int] = []
    try:
        for ws in (one, two):
            ws.start()
        for ws in (one, two):
            window = ws.wait_for_window()
            assert window.title == "qwen3vl-agent test form"
        assert one.display != two.display and os.environ.get("DISPLAY") not in (one.display, two.display)
        for ws in (one, two):
            assert ws.xauthority is not None and stat.S_IMODE(ws.xauthority.stat().st_mode) == 0o600
            conn = xdisplay.Display(ws.display)
            screen = conn.screen()
            assert (screen.width_in_pixels, screen.height_in_pixels) == (1024, 700)
            assert round(screen.width_in_pixels * 25.4 / screen.width_in_mms) == 144
            conn.close()
        # the app got the workspace's own cookie file: without it (and not as this user) no entry
        env = dict(os.environ, DISPLAY=one.display, XAUTHORITY=str(one.xauthority))
        listing = subprocess.run(["xauth", "list"], env=env, capture_output=True, text=True, check=True)
        assert one.display.lstrip(":") in listing.stdout and "MIT-MAGIC-COOKIE-1" in listing.stdout
        wait_record(tmp_path / "form-1.jsonl", "ready")
        wait_record(tmp_path / "form-2.jsonl", "ready")
        pids = one.pids() + two.pids()
        assert len(alive(pids)) >= 6  # per workspace: guard + Xvfb, guard + the form app
        window_before = one.window
        one.relaunch()  # a fresh app, the old one gone
        assert one.window is not None and window_before is not None
        assert len(read_records(tmp_path / "form-1.jsonl", "ready")) >= 1
        pids += one.pids()
    finally:
        one.close()
        two.close()
    deadline = time.monotonic() + 5
    while alive(pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert alive(pids) == []
    assert one.dir is None and two.dir is None


@pytest.mark.parametrize(
    ("launch", "timeout", "says"),
    [
        ("false", 10.0, "exited with status 1 before it showed a window"),
        ("no-such-program-qwen3vl --x", 10.0, "was not found"),
        ("sleep 30", 1.0, "showed no window within 1 s"),
        ("'unbalanced", 1.0, "cannot be read"),
    ],
)
def test_a_launch_that_fails_says_why_and_leaves_nothing(launch: str, timeout: float, says: str) -> None:
    spec = WorkspaceSpec(launch=launch, window_timeout_s=timeout)
    ws = Workspace(spec, 1)
    with pytest.raises(LaunchError) as caught, ws:
        pass
    assert says in str(caught.value)
    assert ws.pids() == [] and ws.dir is None


def test_bad_sizes_are_refused() -> None:
    with pytest.raises(WorkspaceError, match="not possible"):
        WorkspaceSpec(width=10, height=10)
    with pytest.raises(WorkspaceError, match="DPI"):
        WorkspaceSpec(dpi=5000)


_OWNER = """
import json, sys, time
from qwen3vl_agent.workspace import Workspace, WorkspaceSpec
spec = WorkspaceSpec(launch=sys.argv[1])
spaces = [Workspace(spec, i) for i in (1, 2)]
for ws in spaces:
    ws.start()
for ws in spaces:
    ws.wait_for_window()
print(json.dumps({"pids": [p for ws in spaces for p in ws.pids()], "dirs": [str(ws.dir) for ws in spaces]}), flush=True)
time.sleep(120)
"""


def test_kill_9_of_the_owner_leaves_no_display_and_no_app(tmp_path: Path) -> None:
    owner = subprocess.Popen(
        [sys.executable, "-c", _OWNER, form_launch(tmp_path / "form-{workspace}.jsonl")],
        stdout=subprocess.PIPE,
        text=True,
        env=dict(os.environ, PYTHONPATH=os.getcwd()),
    )
    try:
        assert owner.stdout is not None
        info = json.loads(owner.stdout.readline())
        assert len(alive(info["pids"])) >= 8
    finally:
        owner.send_signal(signal.SIGKILL)
        owner.wait()
    deadline = time.monotonic() + 10
    while alive(info["pids"]) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert alive(info["pids"]) == []
    # the folders (cookies, logs) of the killed owner go at the next workspace start
    assert all(Path(d).exists() for d in info["dirs"])
    with Workspace(WorkspaceSpec(), 3):
        pass
    assert not any(Path(d).exists() for d in info["dirs"])


def test_xtest_input_and_capture_are_bound_to_the_workspace(tmp_path: Path) -> None:
    state = tmp_path / "form.jsonl"
    with Workspace(
        WorkspaceSpec(width=1000, height=800, launch=form_launch(state, "--keep-values")), 1
    ) as ws:
        geometry = wait_record(state, "geometry")
        left, top, width, height = geometry["widgets"]["name"]  # type: ignore[index]
        field = (left + width // 2, top + height // 2)
        backend = XTestBackend(ws.display)
        executor = ActionExecutor(
            settings=ExecutorSettings(stop_hotkey_enabled=False), mode="auto", backend=backend
        )
        try:
            executor.execute_sync(
                ResolvedAction(Action(ActionType.LEFT_CLICK, coordinate=(0, 0)), point=field)
            )
            executor.execute_sync(ResolvedAction(Action(ActionType.TYPE, text="Hello, World! #42 ~_~")))
            deadline = time.monotonic() + 10
            while read_records(state, "state")[-1]["name"] != "Hello, World! #42 ~_~":
                assert time.monotonic() < deadline, read_records(state, "state")[-1]
                time.sleep(0.05)
            executor.execute_sync(ResolvedAction(Action(ActionType.KEY, keys=("ctrl", "a"))))
            executor.execute_sync(ResolvedAction(Action(ActionType.TYPE, text="Zoë 東京 🌻")))
            deadline = time.monotonic() + 10
            while read_records(state, "state")[-1]["name"] != "Zoë 東京 🌻":
                assert time.monotonic() < deadline, read_records(state, "state")[-1]
                time.sleep(0.05)
            # what the backend holds is released (the executor does this after a stop)
            executor.close()
            backend = XTestBackend(ws.display)
            backend.perform(KeyDown("shift"))
            assert backend.release_all() == ["key shift"]
            keymap = backend.conn.query_keymap()
            code = backend.conn.keysym_to_keycode(0xFFE1)  # Shift_L
            assert not keymap[code // 8] & (1 << (code % 8))
            backend.close()
            with ScreenCapturer(display=ws.display) as capturer:
                shot = capturer.capture(CaptureTarget.monitor(1))
            assert shot.image.size == (1000, 800)
            assert shot.image.getpixel((5, 5)) != (0, 0, 0)  # the form's window, not a black root
        finally:
            executor.close()


@pytest.mark.skipif(
    shutil.which("Xephyr") is None or shutil.which("matchbox-window-manager") is None,
    reason="Xephyr or matchbox-window-manager is not installed",
)
def test_a_visible_workspace_with_a_window_manager(xvfb: Any, tmp_path: Path) -> None:
    """--show-workspaces: Xephyr shows the workspace as a window on the (test's) desktop; with
    matchbox the app's window is managed (found through _NET_CLIENT_LIST) and fills the screen."""
    from Xlib import display as xdisplay

    from qwen3vl_agent.workspace.windows import app_windows

    spec = WorkspaceSpec(
        width=800,
        height=600,
        server="xephyr",
        window_manager="matchbox",
        launch=form_launch(tmp_path / "f.jsonl"),
    )
    with Workspace(spec, 7) as ws:
        assert ws.window is not None and ws.window.title == "qwen3vl-agent test form"
        assert ws.window.rect[2:] == (800, 600)  # matchbox maximises it
        host = xdisplay.Display(xvfb.name)
        try:
            titles = [w.title for w in app_windows(host)]
        finally:
            host.close()
        assert any("qwen3vl-agent workspace 7" in t for t in titles), titles  # the window on the desktop
        roles = ws.pids_by_role()
        assert set(roles) == {"server", "window manager", "app"}
        pids = ws.pids()
    assert alive(pids) == []
