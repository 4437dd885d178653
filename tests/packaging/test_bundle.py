"""The PyInstaller one-folder bundle: built here from the spec, started under Xvfb, its main window
appears (with no GPU and no vLLM on the machine), and it exits cleanly on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.bundle import build_bundle
from tests.support.xvfb import XvfbDisplay

ROOT = Path(__file__).resolve().parents[2]
TITLE = "Qwen3-VL Agent"

pytestmark = [pytest.mark.xvfb, pytest.mark.slow]


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    exe = build_bundle(tmp_path_factory.mktemp("dist"))
    assert exe.is_file() and os.access(exe, os.X_OK)
    internal = exe.parent / "_internal"
    assert not (internal / "vllm").exists() and not (internal / "torch").exists()
    return exe


def _window_ids(display: XvfbDisplay) -> list[str]:
    done = subprocess.run(
        ["xdotool", "search", "--onlyvisible", "--name", TITLE],
        capture_output=True,
        text=True,
        env=display.env(),
    )
    return done.stdout.split()


@pytest.fixture
def started(
    bundle: Path, xvfb_display: XvfbDisplay, tmp_path: Path
) -> Iterator[tuple[subprocess.Popen[str], float]]:
    env = {
        **xvfb_display.env(),
        "QWEN3VL_AGENT_HOME": str(tmp_path / "home"),
        # a machine without vLLM: the managed engine cannot start, the window must still open
        "QWEN3VL_AGENT_ENGINE__VLLM_EXECUTABLE": str(tmp_path / "no-such-vllm"),
        "QT_QPA_PLATFORM": "xcb",
        "PATH": "/usr/bin:/bin",
    }
    start = time.monotonic()
    proc = subprocess.Popen(
        [str(bundle)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        yield proc, start
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)


def test_bundle_opens_its_window_and_closes_cleanly(
    started: tuple[subprocess.Popen[str], float], xvfb_display: XvfbDisplay
) -> None:
    proc, start = started
    deadline = time.monotonic() + 120
    ids: list[str] = []
    while time.monotonic() < deadline and not ids and proc.poll() is None:
        ids = _window_ids(xvfb_display)
        time.sleep(0.1)
    output = "" if proc.poll() is None else (proc.stdout.read() if proc.stdout else "")
    assert ids, f"no window titled {TITLE!r}; exit={proc.poll()} output={output[-3000:]}"
    cold_start = time.monotonic() - start
    print(f"bundle cold start to visible window: {cold_start:.2f} s")
    geometry = subprocess.run(
        ["xdotool", "getwindowgeometry", ids[0]], capture_output=True, text=True, env=xvfb_display.env()
    ).stdout
    assert "Geometry:" in geometry
    proc.send_signal(signal.SIGTERM)  # what a session logout sends; the app closes its window
    try:
        code = proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.terminate()
        code = proc.wait(timeout=30)
    out = proc.stdout.read() if proc.stdout else ""
    assert code == 0, out[-3000:]
    assert "Traceback" not in out, out[-3000:]
