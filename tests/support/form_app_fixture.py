"""The `form_app` fixture: the real Qt test form (tests/support/form_app.py) on monitor 2 of Xvfb.

One form process serves the whole session (Qt start-up costs a second or two on this box); the
function-scoped `form_app` resets it before each test and only shows records written after
that reset. Everything is READ BACK from what the form itself recorded, never assumed:

    form_app.widget_rect("submit")  -> (left, top, width, height) in global X coordinates
    form_app.widget_center("name")  -> (x, y)
    form_app.state()                -> the latest full snapshot (fields, checkbox, combo, scroll, ...)
    form_app.submissions()          -> [{"name": ..., "city": ..., ...}, ...] since the reset
    form_app.wait_for(lambda s: s["name"] == "Ada")  -> the first snapshot that satisfies it
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.xvfb import MonitorRect, XvfbDisplay

FORM_APP = Path(__file__).with_name("form_app.py")
FORM_SIZE = (900, 760)
FORM_OFFSET = (60, 60)  # from the monitor's top-left corner


class FormApp:
    """A running form process and readers over its JSON-lines state file."""

    def __init__(
        self,
        display: XvfbDisplay | None,
        monitor: MonitorRect,
        workdir: Path,
        *,
        env: dict[str, str] | None = None,
        platform: str = "xcb",
    ) -> None:
        """On `display` (Xvfb), or with `env` and platform "wayland" natively on a Wayland
        session: full screen there (a Wayland client cannot place its window), so the form's
        global coordinates are the compositor's."""
        self.display = display
        self.monitor = monitor
        self.state_file = workdir / "form-state.jsonl"
        self.state_file.write_text("")
        self._mark = 0
        self._next_id = 0
        if env is None:
            assert display is not None, "an X display or an environment to run in"
            env = display.env()
        env = dict(env)
        env["QT_QPA_PLATFORM"] = platform
        env.pop("QT_QPA_PLATFORMTHEME", None)
        x, y = monitor.left + FORM_OFFSET[0], monitor.top + FORM_OFFSET[1]
        placement = ["--fullscreen"] if platform == "wayland" else []
        self.process = subprocess.Popen(
            [
                sys.executable,
                str(FORM_APP),
                "--state-file",
                str(self.state_file),
                "--platform",
                platform,
                *placement,
                "--x",
                str(x),
                "--y",
                str(y),
                "--width",
                str(FORM_SIZE[0]),
                "--height",
                str(FORM_SIZE[1]),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=(workdir / "form-app.log").open("wb"),
            env=env,
            text=True,
        )
        self.log_file = workdir / "form-app.log"
        self._wait_record(lambda r: r.get("type") == "ready", timeout=60, since=0)

    # -- records ------------------------------------------------------------------------
    def _all_records(self) -> list[dict[str, Any]]:
        records = []
        for line in self.state_file.read_text(encoding="utf-8").splitlines():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:  # a line being written right now
                break
        return records

    def records(self, kind: str | None = None) -> list[dict[str, Any]]:
        """Records written since the last reset (of one type if `kind` is given)."""
        recs = self._all_records()[self._mark :]
        return [r for r in recs if kind is None or r.get("type") == kind]

    def _wait_record(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float, since: int
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            for record in self._all_records()[since:]:
                if predicate(record):
                    return record
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"the form app exited: {self.log_file.read_text(errors='replace')[-3000:]}"
                )
            if time.monotonic() > deadline:
                raise TimeoutError(f"the form app did not write the awaited record within {timeout}s")
            time.sleep(0.02)

    def send(self, cmd: str, timeout: float = 20, **fields: Any) -> None:
        """Send a command and wait for the form's acknowledgement."""
        self._next_id += 1
        ident = self._next_id
        since = len(self._all_records())
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"cmd": cmd, "id": ident, **fields}) + "\n")
        self.process.stdin.flush()
        self._wait_record(lambda r: r.get("type") == "ack" and r.get("id") == ident, timeout, since)

    def reset(self) -> None:
        """Empty fields, first country, scrolled to the top; older records are hidden."""
        self.send("reset")
        self.send("geometry")
        self._mark = len(self._all_records())
        self.send("geometry")

    # -- views --------------------------------------------------------------------------
    def geometry(self) -> dict[str, Any]:
        geoms = [r for r in self._all_records() if r.get("type") == "geometry"]
        return geoms[-1]

    def widget_rect(self, name: str) -> tuple[int, int, int, int]:
        """The widget's (left, top, width, height) in global X coordinates, as Qt reports it."""
        widgets = self.geometry()["widgets"]
        if name not in widgets:
            raise KeyError(f"no widget {name!r}; known: {sorted(widgets)}")
        left, top, width, height = widgets[name]
        return (left, top, width, height)

    def widget_center(self, name: str) -> tuple[int, int]:
        left, top, width, height = self.widget_rect(name)
        return (left + width // 2, top + height // 2)

    def state(self) -> dict[str, Any]:
        """The latest full snapshot (asks the form for a fresh one first)."""
        self.send("state")
        return self._latest_state()

    def _latest_state(self) -> dict[str, Any]:
        states = [r for r in self._all_records() if r.get("type") == "state"]
        return states[-1]

    def submissions(self) -> list[dict[str, Any]]:
        return [r["values"] for r in self.records("submit")]

    def clicks(self) -> list[dict[str, Any]]:
        return self.records("click")

    def wait_for(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 10) -> dict[str, Any]:
        """The first snapshot since the reset that satisfies `predicate` (raises with the last one)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self._wait_record(
                    lambda r: r.get("type") == "state" and predicate(r), 0.25, since=self._mark
                )
            except TimeoutError:
                if time.monotonic() > deadline:
                    raise AssertionError(f"form state never matched; last state: {self.state()}") from None
                self.send("state")  # some changes (a popup opening) write no snapshot by themselves

    def close(self) -> None:
        if self.process.poll() is None:
            try:
                assert self.process.stdin is not None
                self.process.stdin.write(json.dumps({"cmd": "quit"}) + "\n")
                self.process.stdin.flush()
                self.process.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait()


@pytest.fixture(scope="session")
def form_app_session(
    xvfb_display: XvfbDisplay, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FormApp]:
    """One form process on monitor 2 for the session (see `form_app`)."""
    monitor = xvfb_display.monitors[1]
    app = FormApp(xvfb_display, monitor, tmp_path_factory.mktemp("form-app"))
    try:
        yield app
    finally:
        app.close()


@pytest.fixture
def form_app(form_app_session: FormApp, xvfb: XvfbDisplay) -> Iterator[FormApp]:
    """The form on monitor 2, reset (and shown) for this test, hidden after it so that later tests
    that read the desktop's pixels find it bare; DISPLAY/XAUTHORITY point at its Xvfb."""
    if form_app_session.process.poll() is not None:
        raise RuntimeError(
            f"the form app died earlier: {form_app_session.log_file.read_text(errors='replace')[-3000:]}"
        )
    form_app_session.reset()
    assert os.environ["DISPLAY"] == xvfb.name
    yield form_app_session
    if form_app_session.process.poll() is None:
        form_app_session.send("hide")
