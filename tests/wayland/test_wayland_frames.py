"""The long-lived frame pipeline (`wayland/frames.py`) on a real headless GNOME session: one
GStreamer child per stream for the capture session's life, the newest frame on every grab (a
change on screen shows, a still screen still answers), one restart, and nothing left behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PIL import Image

from qwen3vl_agent.errors import CaptureError
from qwen3vl_agent.screen.geometry import CaptureGeometry
from qwen3vl_agent.screen.wayland_capture import WaylandGrabber
from qwen3vl_agent.wayland.frames import FramePipelineError, FrameStream, NoFrameError
from qwen3vl_agent.wayland.mutter import SC, MutterSession
from tests.support.form_app_fixture import FormApp
from tests.support.wayland_session import WaylandSession

pytestmark = [pytest.mark.wayland, pytest.mark.timeout(180)]

DRAG_PAD_RGB = (0xDD, 0xE8, 0xFF)  # the form's drag pad background (form_app.py)


def _near(pixel: tuple[int, ...], rgb: tuple[int, int, int], tolerance: int = 6) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, rgb, strict=False))


def _pipeline_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("pipewire-node-")]


def _open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


@pytest.fixture
def grabber(wayland: WaylandSession) -> Iterator[WaylandGrabber]:
    grabber = WaylandGrabber("mutter")
    try:
        yield grabber
    finally:
        grabber.close()


def _grab_until(
    grabber: WaylandGrabber, geometry: CaptureGeometry, shows: Callable[[Image.Image], bool], tries: int = 100
) -> Image.Image:
    """Grab until a frame shows what it should (the compositor repaints within a frame or two;
    a window that was just shown fades in); fails after `tries` grabs 0.1 s apart."""
    for _ in range(tries):
        image = grabber.grab(geometry)
        if shows(image):
            return image
        time.sleep(0.1)
    raise AssertionError("the change never showed in a grab")


UNMAP_ANIMATION_S = 0.5


def _hidden(form: FormApp, grab: Callable[[], Image.Image]) -> None:
    """Hide the form, wait until a grab no longer shows its pad, then let Mutter finish the
    window's unmap animation: Mutter 43 loses a window that is shown again while it runs (seen
    here: "Clutter-CRITICAL: clutter_actor_insert_child_at_index: assertion ... failed", the form
    invisible until it is hidden and shown once more; a fresh screen-cast session saw the same)."""
    form.send("hide")
    left, top, w, h = form.widget_rect("drag_pad")
    for _ in range(100):
        if not _near(grab().getpixel((left + w // 2, top + h // 2)), DRAG_PAD_RGB):
            break
        time.sleep(0.1)
    else:
        raise AssertionError("the hidden form still shows")
    time.sleep(UNMAP_ANIMATION_S)


def test_a_change_on_screen_shows_in_the_next_grabs(wayland_form: FormApp, grabber: WaylandGrabber) -> None:
    """The form is hidden and shown again: each change appears in a grab, the grabs after it
    show the new state too (not an older queued frame), and ONE GStreamer child served them all."""
    monitor = grabber.monitors()[1]
    geometry = CaptureGeometry(monitor.rect, monitor.scale, 0, 0, monitor_index=1)
    left, top, w, h = wayland_form.widget_rect("drag_pad")
    pad = (left + w // 2, top + h // 2)

    def pad_shown(image: Image.Image) -> bool:
        return _near(image.getpixel(pad), DRAG_PAD_RGB)

    _grab_until(grabber, geometry, pad_shown)
    (frames,) = grabber._frames.values()
    pid = frames.pid
    for _ in range(2):
        _hidden(wayland_form, lambda: grabber.grab(geometry))
        assert not any(pad_shown(grabber.grab(geometry)) for _ in range(2))
        wayland_form.reset()  # shown again
        _grab_until(grabber, geometry, pad_shown)
        assert all(pad_shown(grabber.grab(geometry)) for _ in range(2))
    assert frames.pid == pid and grabber._frames[frames.node_id] is frames


def test_a_still_screen_answers_with_the_last_frame(wayland_form: FormApp, wayland: WaylandSession) -> None:
    """Mutter streams on damage only: once a frame came, a grab of a screen where nothing moves
    needs no new one (`latest(timeout_s=0)` answers from the frame kept, no wait, no error)."""
    session = MutterSession(remote_desktop=False)
    frames = FrameStream(session.streams[0].node_id)
    try:
        assert frames.size() == wayland.size
        _hidden(wayland_form, frames.latest)  # a bare desktop: no blinking text cursor
        first = frames.latest()
        again = [frames.latest(timeout_s=0) for _ in range(3)]
    finally:
        frames.close()
        session.close()
    assert first.size == wayland.size
    assert all(image.tobytes() == first.tobytes() for image in again)


def test_closing_leaves_no_child_thread_or_fd(wayland_form: FormApp, wayland: WaylandSession) -> None:
    fds_before = _open_fds()
    grabber = WaylandGrabber("mutter")
    monitor = grabber.monitors()[1]
    image = grabber.grab(CaptureGeometry(monitor.rect, monitor.scale, 0, 0, monitor_index=1))
    assert image.size == wayland.size
    pids = [frames.pid for frames in grabber._frames.values()]
    assert len(pids) == 1 and len(_pipeline_threads()) == 1
    grabber.close()
    assert _pipeline_threads() == []
    assert not Path(f"/proc/{pids[0]}").exists()  # ended and reaped
    assert _open_fds() == fds_before


def test_an_app_that_exits_without_closing_leaves_no_child(wayland: WaylandSession) -> None:
    """A process that opens a frame stream and exits without closing it: its GStreamer child is
    stopped at exit, not left running until the compositor next sends a frame."""
    script = (
        "from qwen3vl_agent.wayland.mutter import SC, MutterSession\n"
        "from qwen3vl_agent.wayland.frames import FrameStream\n"
        "session = MutterSession(remote_desktop=False)\n"
        "frames = FrameStream(session.streams[0].node_id)\n"
        "frames.latest()\n"
        "print(frames.pid, flush=True)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        env=wayland.env(),
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    pid = int(done.stdout.split()[-1])
    assert not Path(f"/proc/{pid}").exists() or Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"


def _kill(frames: FrameStream) -> int:
    pid = frames.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    for _ in range(100):
        if not frames.running:
            return pid
        time.sleep(0.05)
    raise AssertionError("the killed GStreamer child still runs")


def test_a_killed_pipeline_is_started_again_once(
    wayland_form: FormApp, wayland: WaylandSession, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The child dies (killed here): the next grab starts a new one and returns a frame. When the
    new one cannot read the stream either (here: PipeWire is not found, a runtime dir without
    its socket), the grab says so in GStreamer's words, as a `FramePipelineError`."""
    session = MutterSession(remote_desktop=False)
    frames = FrameStream(session.streams[0].node_id)
    try:
        assert frames.latest().size == wayland.size
        first = _kill(frames)
        assert frames.latest().size == wayland.size and frames.pid not in (None, first)
        monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
        monkeypatch.delenv("PIPEWIRE_REMOTE", raising=False)
        _kill(frames)
        with pytest.raises(FramePipelineError) as info:
            frames.latest()
        assert f"(PipeWire node {frames.node_id}) failed: can't connect" in str(info.value)
    finally:
        frames.close()
        session.close()


def test_a_stream_that_sends_nothing_is_a_clear_error(wayland: WaylandSession) -> None:
    """A node that does not exist: pipewiresrc waits for it; the bounded wait for the first
    frame ends in a `NoFrameError` naming the node."""
    frames = FrameStream(987654)
    try:
        with pytest.raises(NoFrameError) as info:
            frames.latest(timeout_s=3)
    finally:
        frames.close()
    assert "No frame came from the screen-cast stream (PipeWire node 987654) within 3s" in str(info.value)


def test_a_session_the_desktop_closed_is_not_read_as_a_still_screen(
    wayland_form: FormApp, grabber: WaylandGrabber
) -> None:
    """The compositor ends the screen cast (what the user's "stop sharing" does; here Mutter's
    own Stop, sent on the session's connection, and Mutter's real `Closed` signal): PipeWire
    sends nothing more and the pipeline alone would go on returning the last frame. The next
    capture refuses, saying so; the one after opens a new session and reads the screen again."""
    monitor = grabber.monitors()[1]
    geometry = CaptureGeometry(monitor.rect, monitor.scale, 0, 0, monitor_index=1)
    assert grabber.grab(geometry).size == (monitor.rect.width, monitor.rect.height)
    session = grabber._session
    assert isinstance(session, MutterSession) and session._sc is not None
    session.bus.call(SC, session._sc, SC + ".Session", "Stop")
    with pytest.raises(CaptureError) as info:
        grabber.monitors()
    assert "stopped sharing the screen" in str(info.value)
    assert grabber._session is None and grabber._frames == {}
    monitor = grabber.monitors()[1]
    assert grabber.grab(geometry).size == (monitor.rect.width, monitor.rect.height)
    assert grabber._session is not session
