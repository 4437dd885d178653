"""What the always-open frame pipeline costs while the screen changes (wayland/frames.py).

A grab is ~1 ms because a GStreamer child and a reader thread take every frame the compositor
sends, whether or not anyone grabs it. This measures that price: the tests' headless GNOME
session (mutter --headless, 1280x800) with the Qt test form, whose banner text is changed
`--rate` times a second for `--seconds`; a `FrameStream` on the monitor's Mutter screen cast
takes the frames. Reported: frames received per second, and CPU time of the GStreamer child and
of the reader thread as % of one core (psutil; the compositor's and the form's own work not
counted). Then the same window with the screen still.
Run: .venv/bin/python benchmarks/wayland_stream_cost.py [--rate 30] [--seconds 10]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from qwen3vl_agent.wayland.frames import FrameStream  # noqa: E402
from qwen3vl_agent.wayland.mutter import MutterSession  # noqa: E402


def cpu_seconds(frames: FrameStream) -> tuple[float, float]:
    """(GStreamer child, reader thread) CPU seconds so far."""
    import psutil

    pipeline = frames._pipeline
    assert pipeline is not None
    child = psutil.Process(pipeline.process.pid).cpu_times()
    tid = pipeline._thread.native_id
    thread = next(t for t in psutil.Process().threads() if t.id == tid)
    return child.user + child.system, thread.user_time + thread.system_time


def window(frames: FrameStream, seconds: float, change: threading.Event | None) -> dict[str, float]:
    """Frames and CPU over `seconds`, with the banner changing (`change` set) or not (None)."""
    pipeline = frames._pipeline
    assert pipeline is not None
    gst0, reader0 = cpu_seconds(frames)
    count0, start = pipeline.frames, time.monotonic()
    if change is not None:
        change.set()
    time.sleep(seconds)
    if change is not None:
        change.clear()
    elapsed = time.monotonic() - start
    gst1, reader1 = cpu_seconds(frames)
    return {
        "frames/s": (pipeline.frames - count0) / elapsed,
        "GStreamer child, % of a core": 100 * (gst1 - gst0) / elapsed,
        "reader thread, % of a core": 100 * (reader1 - reader0) / elapsed,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=30.0, help="banner changes per second")
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    from tests.support.form_app_fixture import FormApp
    from tests.support.wayland_session import start_wayland, stop_wayland
    from tests.support.xvfb import MonitorRect

    workdir = Path(tempfile.mkdtemp(prefix="wl-cost-"))
    session = start_wayland(workdir, portals=False)
    os.environ.update(session.env())
    os.environ.pop("DISPLAY", None)
    form = FormApp(
        None, MonitorRect(1, 0, 0, *session.points), workdir, env=session.env(), platform="wayland"
    )
    stop, change = threading.Event(), threading.Event()

    def changer() -> None:
        n = 0
        while not stop.is_set():
            if change.is_set():
                n += 1
                form.send("banner", text=f"frame {n}")
            time.sleep(1 / args.rate)

    thread = threading.Thread(target=changer, daemon=True)
    try:
        form.reset()
        mutter = MutterSession(remote_desktop=False)
        frames = FrameStream(mutter.streams[0].node_id)
        try:
            frames.latest()
            thread.start()
            for label, active in ((f"changing {args.rate:g}/s", change), ("still", None)):
                if active is None:
                    time.sleep(1.0)  # the last change painted
                results = window(frames, args.seconds, active)
                print(f"-- screen {label}")
                for name, value in results.items():
                    print(f"{name:32s} {value:8.1f}")
        finally:
            stop.set()
            frames.close()
            mutter.close()
    finally:
        form.close()
        stop_wayland(session)
    return 0


if __name__ == "__main__":
    sys.exit(main())
