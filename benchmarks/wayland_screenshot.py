"""Capture on a Wayland desktop through the Screenshot portal: one still frame per call.

Starts the tests' headless KDE session (tests/support/wayland_session.py `start_kwin`: KWin 5.27
`--virtual` 1280x800, xdg-desktop-portal-kde, pipewire) with the Qt test form shown full screen,
unless --here (then the current session is measured), and times per iteration
  * `portal`: `wayland/screenshot.py` `take_screenshot()`: the portal call, KWin rendering the
    picture, the backend writing its PNG, the app reading and removing it;
  * `capture`: `ScreenCapturer(wayland_capture="screenshot").capture(monitor 1)`: the same plus
    the capture thread hand-off, layout and masks (one portal call per capture).
Run: .venv/bin/python benchmarks/wayland_screenshot.py [--iterations 20] [--here]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from qwen3vl_agent.screen.capture import CaptureTarget, ScreenCapturer  # noqa: E402
from qwen3vl_agent.wayland.screenshot import take_screenshot  # noqa: E402


def timed(iterations: int, call: Callable[[], object]) -> dict[str, float]:
    call()  # warm: the backend's first dialog object, KWin's first screenshot
    times = []
    for _ in range(iterations):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return {
        "median": statistics.median(times),
        "p90": times[min(len(times) - 1, int(len(times) * 0.9))],
        "min": times[0],
        "max": times[-1],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--here", action="store_true", help="measure the current Wayland session")
    args = parser.parse_args()
    session = form = None
    if not args.here:
        from tests.support.form_app_fixture import FormApp
        from tests.support.wayland_session import start_kwin, stop_wayland
        from tests.support.xvfb import MonitorRect

        workdir = Path(tempfile.mkdtemp(prefix="wl-shot-bench-"))
        session = start_kwin(workdir)
        os.environ.update(session.env())
        os.environ.pop("DISPLAY", None)
        form = FormApp(
            None, MonitorRect(1, 0, 0, *session.points), workdir, env=session.env(), platform="wayland"
        )
        form.reset()
    try:
        with ScreenCapturer(wayland_capture="screenshot") as capturer:
            for name, call in (
                ("portal", take_screenshot),
                ("capture", lambda: capturer.capture(CaptureTarget.monitor(1))),
            ):
                stats = timed(args.iterations, call)
                print(f"{name:8s} " + "  ".join(f"{k} {v:7.1f} ms" for k, v in stats.items()))
    finally:
        if form is not None:
            form.close()
        if session is not None:
            stop_wayland(session)
    return 0


if __name__ == "__main__":
    sys.exit(main())
