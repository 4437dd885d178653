"""Capture on a Wayland desktop: one monitor through a screen-cast stream, by either route.

Starts the tests' headless GNOME session (tests/support/wayland_session.py: mutter --headless
with a 1280x800 virtual monitor, pipewire, wireplumber; with --route portal also the portals)
unless --here (then the current session is measured), and times per iteration
ScreenCapturer.capture(monitor 1): thread hand-off, the newest frame of the stream's long-lived
GStreamer pipeline (wayland/frames.py FrameStream) as an RGB image, masks. The first capture also
opens the screen-cast session and starts the pipeline (reported apart). --route mutter: GNOME's
own API; --route portal: the ScreenCast portal; its consent dialog is answered once by the
tests' ConsentPerson (not timed) and the timed session starts from the saved restore token.
The session's screen is still (a bare desktop): this times the grab, not the compositor.
Run: .venv/bin/python benchmarks/wayland_capture.py [--iterations 30] [--route mutter|portal] [--here]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from qwen3vl_agent.screen.capture import CaptureTarget, ScreenCapturer  # noqa: E402


def consent_once() -> None:
    """The portal's first session shows its dialog: answered by the tests' person, not timed."""
    from tests.support.portal_consent import ConsentPerson

    with ConsentPerson() as person, ScreenCapturer(wayland_route="portal") as capturer:
        capturer.list_monitors()
        answered = person.wait_answered(1)
        if answered != ["screencast"]:
            raise SystemExit(f"expected one screen-cast dialog, got {answered}")


def measure(iterations: int, route: str) -> dict[str, float]:
    with ScreenCapturer(wayland_route=route) as capturer:  # type: ignore[arg-type]
        start = time.perf_counter()
        capturer.capture(CaptureTarget.monitor(1))
        first = (time.perf_counter() - start) * 1000
        times = []
        for _ in range(iterations):
            start = time.perf_counter()
            capturer.capture(CaptureTarget.monitor(1))
            times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return {
        "first (opens the session)": first,
        "median": statistics.median(times),
        "p90": times[min(len(times) - 1, int(len(times) * 0.9))],
        "p99": times[min(len(times) - 1, int(len(times) * 0.99))],
        "min": times[0],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=30)
    parser.add_argument("--route", choices=("mutter", "portal"), default="mutter")
    parser.add_argument("--here", action="store_true", help="measure the current Wayland session")
    args = parser.parse_args()
    session = None
    portal = args.route == "portal"
    if not args.here:
        from tests.support.wayland_session import start_wayland, stop_wayland

        workdir = Path(tempfile.mkdtemp(prefix="wl-bench-"))
        session = start_wayland(workdir, portals=portal)
        os.environ["QWEN3VL_AGENT_HOME"] = str(workdir / "home")  # the restore token goes there
        os.environ.update(
            {k: v for k, v in session.env().items() if k not in os.environ or os.environ[k] != v}
        )
        os.environ.pop("DISPLAY", None)
    try:
        if portal and not args.here:
            consent_once()
        for name, value in measure(args.iterations, args.route).items():
            print(f"{name:28s} {value:8.1f} ms")
    finally:
        if session is not None:
            stop_wayland(session)
    return 0


if __name__ == "__main__":
    sys.exit(main())
