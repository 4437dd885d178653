"""A real X server for tests: Xvfb with two monitors of different sizes side by side.

Why not `Xvfb -screen 0 ... -screen 1 ... +xinerama`: measured here, Xvfb stacks every
Xinerama screen at (0, 0) and the root window stays the size of screen 0, so there is no
side-by-side layout to test. Instead we start ONE screen as large as the whole desktop and
define two RandR 1.5 monitors on it (what `xrandr --setmonitor` does). mss, Qt and every
RandR 1.5 client then see two monitors; `-noreset` keeps them alive when clients disconnect.

Layout (root 3200x1200):
  monitor 1: 1920x1080 at (0, 0), primary
  monitor 2: 1280x1024 at (1920, 176)   (bottom-aligned with the 1200-pixel root)
The strips the monitors do not cover are part of the root but of no monitor, as on a real
desk with mismatched screens.

Fixtures:
  `xvfb_display` (session): starts the server, yields an `XvfbDisplay`; does not touch os.environ.
  `xvfb` (function): the same display, with DISPLAY and XAUTHORITY (an empty file: pyautogui
  dies at import without one) set through monkeypatch for the test.
Tests that use them should carry `@pytest.mark.xvfb`. Without an `Xvfb` binary they are skipped.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT_SIZE = (3200, 1200)
MONITORS: tuple[tuple[int, int, int, int], ...] = (
    (0, 0, 1920, 1080),
    (1920, 176, 1280, 1024),
)


@dataclass(frozen=True)
class MonitorRect:
    """One monitor of the test display, in X root coordinates (= mss capture pixels here)."""

    index: int  # mss numbering: 1 = first monitor (0 is the whole desktop)
    left: int
    top: int
    width: int
    height: int

    @property
    def center(self) -> tuple[int, int]:
        return (self.left + self.width // 2, self.top + self.height // 2)


@dataclass(frozen=True)
class XvfbDisplay:
    """A running Xvfb server: its name (":N"), the Xauthority file and the monitor layout."""

    name: str
    xauthority: Path
    width: int
    height: int
    monitors: tuple[MonitorRect, ...]
    pid: int = field(default=0)

    def env(self) -> dict[str, str]:
        """Environment for a child process that should use this display."""
        env = dict(os.environ)
        env["DISPLAY"] = self.name
        env["XAUTHORITY"] = str(self.xauthority)
        env.pop("WAYLAND_DISPLAY", None)
        return env


def set_monitor(
    conn: Any, index: int, rect: tuple[int, int, int, int], outputs: list[int] | None = None
) -> None:
    """Define (or redefine) RandR 1.5 monitor TEST-<index> on an open python-xlib connection.

    python-xlib's own SetMonitor request packs wrongly, hence this one. Monitor 1 is primary.
    """
    from Xlib.ext import randr
    from Xlib.protocol import rq

    class _SetMonitor(rq.Request):  # type: ignore[misc]
        _request = rq.Struct(
            rq.Card8("opcode"),
            rq.Opcode(43),
            rq.RequestLength(),
            rq.Window("window"),
            rq.Card32("name"),
            rq.Bool("primary"),
            rq.Bool("automatic"),
            rq.LengthOf("outputs", 2),
            rq.Int16("x"),
            rq.Int16("y"),
            rq.Card16("width_in_pixels"),
            rq.Card16("height_in_pixels"),
            rq.Card32("width_in_millimeters"),
            rq.Card32("height_in_millimeters"),
            rq.List("outputs", rq.Card32Obj),
        )

    x, y, w, h = rect
    _SetMonitor(
        display=conn.display,
        opcode=conn.display.get_extension_major(randr.extname),
        window=conn.screen().root,
        name=conn.intern_atom(f"TEST-{index}"),
        primary=index == 1,
        automatic=False,
        x=x,
        y=y,
        width_in_pixels=w,
        height_in_pixels=h,
        width_in_millimeters=max(1, w * 254 // 960),  # 96 dpi
        height_in_millimeters=max(1, h * 254 // 960),
        outputs=outputs or [],
    )


def _define_monitors(display_name: str, monitors: tuple[tuple[int, int, int, int], ...]) -> None:
    """Create the RandR 1.5 monitors of the test layout."""
    from Xlib import display as xdisplay

    d = xdisplay.Display(display_name)
    try:
        outputs = d.screen().root.xrandr_get_screen_resources().outputs
        for i, rect in enumerate(monitors):
            # The first monitor takes over Xvfb's single output, which hides the automatic
            # whole-screen monitor that would otherwise be listed too.
            set_monitor(d, i + 1, rect, [outputs[0]] if i == 0 and outputs else None)
        d.sync()
    finally:
        d.close()


def start_xvfb(
    root_size: tuple[int, int] = ROOT_SIZE,
    monitors: tuple[tuple[int, int, int, int], ...] = MONITORS,
    workdir: Path | None = None,
) -> tuple[subprocess.Popen[bytes], XvfbDisplay]:
    """Start Xvfb on a free display number and define its monitors; the caller must stop it."""
    exe = shutil.which("Xvfb")
    if exe is None:
        raise FileNotFoundError("Xvfb is not installed (scripts/install-system-deps.sh installs it)")
    workdir = workdir or Path(tempfile.mkdtemp(prefix="xvfb-"))
    xauth = workdir / "Xauthority"
    xauth.touch()
    read_fd, write_fd = os.pipe()
    w, h = root_size
    proc = subprocess.Popen(
        [exe, "-displayfd", str(write_fd), "-screen", "0", f"{w}x{h}x24", "-nolisten", "tcp", "-noreset"],
        pass_fds=(write_fd,),
        stdout=subprocess.DEVNULL,
        stderr=(workdir / "xvfb.log").open("wb"),
    )
    os.close(write_fd)
    try:
        number = b""
        deadline = time.monotonic() + 20
        while not number.endswith(b"\n"):
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError(
                    f"Xvfb did not start: {(workdir / 'xvfb.log').read_text(errors='replace')[-2000:]}"
                )
            chunk = os.read(read_fd, 16)
            if not chunk:
                raise RuntimeError("Xvfb closed its display pipe without a display number")
            number += chunk
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    finally:
        os.close(read_fd)
    name = f":{int(number.strip())}"
    try:
        _define_monitors(name, monitors)
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    rects = tuple(MonitorRect(i + 1, *m) for i, m in enumerate(monitors))
    return proc, XvfbDisplay(name=name, xauthority=xauth, width=w, height=h, monitors=rects, pid=proc.pid)


def stop_xvfb(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="session")
def xvfb_display(tmp_path_factory: pytest.TempPathFactory) -> Iterator[XvfbDisplay]:
    """A session-wide Xvfb with two monitors; stopped at the end of the session."""
    if shutil.which("Xvfb") is None:
        pytest.skip("Xvfb is not installed (scripts/install-system-deps.sh installs it)")
    proc, disp = start_xvfb(workdir=tmp_path_factory.mktemp("xvfb"))
    try:
        yield disp
    finally:
        stop_xvfb(proc)


@pytest.fixture
def xvfb(xvfb_display: XvfbDisplay, monkeypatch: pytest.MonkeyPatch) -> XvfbDisplay:
    """The session's Xvfb, with DISPLAY and XAUTHORITY pointing at it for this test."""
    monkeypatch.setenv("DISPLAY", xvfb_display.name)
    monkeypatch.setenv("XAUTHORITY", str(xvfb_display.xauthority))
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    return xvfb_display
