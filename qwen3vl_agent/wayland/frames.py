"""Frames of a PipeWire screen-cast stream, through ONE long-lived GStreamer pipeline per stream.

`FrameStream` runs

    gst-launch-1.0 -v pipewiresrc path=NODE [fd=FD] ! identity drop-buffer-flags=corrupted
        ! queue leaky=downstream max-size-buffers=1 ! videoconvert ! video/x-raw,format=BGRx ! fdsink fd=W

as a child for as long as the stream is used (a capture session's life). A reader thread drains
the pipe `W` and keeps the newest complete frame only (the leaky queue drops older ones inside
GStreamer if the reader falls behind); `latest()` returns it as an RGB image. Compositors send
a frame only when the screen changes (PipeWire streams on damage; KWin sends none at all of a
still screen), so the last frame received IS the screen: a grab returns at once. Buffers that
carry no picture are dropped before they could pass for one: KWin sends a pointer move as an
empty buffer flagged "corrupted" (cursor metadata only), which videoconvert would turn into an
all-black frame. Only the first
frame is waited for, a bounded time, then `NoFrameError`. A pipeline that ends (the stream
errored, EOS, or its format changed) is started again once; a second end in a row is
`FramePipelineError`, with GStreamer's last words.

The frame size is read from the caps the child prints (`-v`) on its stdout for the sink's pad,
which come when the format is negotiated, before any frame (`size()`). The child reaches
PipeWire through the environment (XDG_RUNTIME_DIR, PIPEWIRE_REMOTE) or through the portal's
PipeWire file descriptor: `connect` gives a fresh one for each (re)start, handed to the child
and closed here. `close()` stops the child, joins the reader thread and closes every fd.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import os
import re
import selectors
import shutil
import subprocess
import threading
import weakref
from collections import deque
from collections.abc import Callable

from PIL import Image

from qwen3vl_agent.wayland.bus import WaylandDesktopError

GST_HINT = "install GStreamer's PipeWire source (Debian/Ubuntu: gstreamer1.0-pipewire gstreamer1.0-tools)"
PIPEWIRE_HINT = "is PipeWire running in this session, and is the screen still shared?"
FIRST_FRAME_S = 10.0  # how long a new stream may take to send its first frame
_PIPE_SIZE = 1 << 20  # F_SETPIPE_SZ: fewer wake-ups per 4 MB frame (best effort)
_F_SETPIPE_SZ = 1031
_SINK_CAPS = re.compile(r"GstFdSink:[^.]+\.GstPad:sink: caps = (video/x-raw.*)")
_WIDTH = re.compile(r"width=\(int\)(\d+)")
_HEIGHT = re.compile(r"height=\(int\)(\d+)")


_open_pipelines: weakref.WeakSet[_Pipeline] = weakref.WeakSet()


@atexit.register
def _stop_open_pipelines() -> None:
    """At interpreter exit, stop the children of frame streams nobody closed (an app that exits
    without closing its capturer): a GStreamer child would otherwise outlive it until the
    compositor next sends a frame into the closed pipe."""
    for pipeline in list(_open_pipelines):
        with contextlib.suppress(Exception):
            pipeline.close()


class NoFrameError(WaylandDesktopError):
    """The stream sent no frame (or no format) within the wait."""


class FramePipelineError(WaylandDesktopError):
    """GStreamer could not read the stream (missing plugin, PipeWire refused, stream ended twice)."""


def gst_launch() -> str:
    exe = shutil.which("gst-launch-1.0")
    if exe is None:
        raise FramePipelineError("Reading the Wayland screen needs GStreamer (gst-launch-1.0)", GST_HINT)
    return exe


class _Pipeline:
    """One gst-launch child and the thread that reads its caps and frames."""

    def __init__(self, node_id: int, pipewire_fd: int | None) -> None:
        source = ["pipewiresrc", f"path={node_id}", "always-copy=true"]
        pass_fds: tuple[int, ...] = ()
        if pipewire_fd is not None:
            source.append(f"fd={pipewire_fd}")
            pass_fds = (pipewire_fd,)
        exe = gst_launch()
        data_r, data_w = os.pipe()
        with contextlib.suppress(OSError):
            fcntl.fcntl(data_w, _F_SETPIPE_SZ, _PIPE_SIZE)
        argv = [exe, "-v", *source, "!", "identity", "drop-buffer-flags=corrupted", "!",
                "queue", "leaky=downstream", "max-size-buffers=1", "!",
                "videoconvert", "!", "video/x-raw,format=BGRx", "!", "fdsink", f"fd={data_w}", "sync=false"]  # fmt: skip
        try:
            self.process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                pass_fds=(*pass_fds, data_w),
            )
        except OSError as exc:
            os.close(data_r)
            raise FramePipelineError(f"GStreamer could not be started: {exc}", GST_HINT) from exc
        finally:
            os.close(data_w)
        self._data = data_r
        self.node_id = node_id
        self.cond = threading.Condition()
        self.size: tuple[int, int] | None = None
        self.frame: bytearray | None = None
        self.frames = 0
        self.ended = False
        self.log: deque[str] = deque(maxlen=12)
        self._closed = False
        self._thread = threading.Thread(target=self._read, name=f"pipewire-node-{node_id}", daemon=True)
        self._thread.start()
        _open_pipelines.add(self)

    # -- the reader thread ---------------------------------------------------------------------
    def _read(self) -> None:
        assert self.process.stdout is not None
        control = self.process.stdout.fileno()
        selector = selectors.DefaultSelector()
        selector.register(control, selectors.EVENT_READ, "control")
        pending = b""
        frame = memoryview(bytearray(0))
        filled = 0
        try:
            while selector.get_map():
                for key, _ in selector.select():
                    if key.data == "control":
                        chunk = os.read(control, 65536)
                        if not chunk:
                            selector.unregister(control)
                            continue
                        *lines, pending = (pending + chunk).split(b"\n")
                        for line in lines:
                            if not self._control(line.decode(errors="replace")):
                                return  # the format changed: this pipeline is done
                        if self.size is not None and self._data not in selector.get_map():
                            width, height = self.size
                            frame = memoryview(bytearray(width * height * 4))
                            selector.register(self._data, selectors.EVENT_READ, "data")
                    else:
                        n = os.readv(self._data, [frame[filled:]])
                        if n == 0:
                            selector.unregister(self._data)
                            continue
                        filled += n
                        if filled == len(frame):
                            with self.cond:
                                self.frame = frame.obj  # type: ignore[assignment]
                                self.frames += 1
                                self.cond.notify_all()
                            frame, filled = memoryview(bytearray(len(frame))), 0
        except OSError as exc:
            self.log.append(f"reading the frames failed: {exc}")
        finally:
            selector.close()
            with self.cond:
                self.ended = True
                self.cond.notify_all()

    def _control(self, line: str) -> bool:
        """One line of gst-launch's output; False when the frame format changed mid-stream."""
        found = _SINK_CAPS.search(line)
        if found is None:
            if line.strip() and not line.startswith("/GstPipeline"):
                self.log.append(line.strip())
            return True
        width, height = _WIDTH.search(found.group(1)), _HEIGHT.search(found.group(1))
        if width is None or height is None:
            return True
        size = (int(width.group(1)), int(height.group(1)))
        with self.cond:
            if self.size is None:
                self.size = size
                self.cond.notify_all()
                return True
        if size != self.size:
            self.log.append(f"the stream's format changed to {size[0]}x{size[1]}")
            return False
        return True

    # -- the caller's side ---------------------------------------------------------------------
    def wait(self, what: str, timeout_s: float) -> tuple[bytearray | None, tuple[int, int] | None, bool]:
        """(newest frame, size, ended) once `what` ("size" or "frame") is there or it ended."""
        with self.cond:
            self.cond.wait_for(lambda: getattr(self, what) is not None or self.ended, timeout_s)
            return self.frame, self.size, self.ended

    def error(self) -> FramePipelineError:
        """What went wrong, in GStreamer's words: its first ERROR line ("can't connect"), else
        its last words."""
        detail = [line for line in self.log if line]
        errors = [line.rsplit(": ", 1)[-1] for line in detail if line.startswith("ERROR: from element")]
        last = (
            errors[0]
            if errors
            else detail[-1]
            if detail
            else f"gst-launch-1.0 exited with {self.process.poll()}"
        )
        missing = any("no element" in line.lower() for line in detail)
        return FramePipelineError(
            f"Reading the screen-cast stream (PipeWire node {self.node_id}) failed: {last}",
            GST_HINT if missing else PIPEWIRE_HINT,
        )

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        _open_pipelines.discard(self)
        if self.process.poll() is None:
            self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._thread.join(timeout=5)
        os.close(self._data)
        if self.process.stdout is not None:
            self.process.stdout.close()


class FrameStream:
    """The newest frame of one PipeWire stream, from a pipeline kept open until `close()`.

    `connect` gives the PipeWire fd for each (re)start (None: the environment's PipeWire)."""

    def __init__(self, node_id: int, connect: Callable[[], int | None] | None = None) -> None:
        self.node_id = node_id
        self._connect = connect or (lambda: None)
        self._pipeline: _Pipeline | None = None
        self._restarted = False  # the pipeline was started again; reset once it gives a frame
        self._start()

    def _start(self) -> _Pipeline:
        if self._pipeline is not None:
            self._pipeline.close()
            self._pipeline = None
        fd = self._connect()
        try:
            self._pipeline = _Pipeline(self.node_id, fd)
        finally:
            if fd is not None:
                os.close(fd)
        return self._pipeline

    @property
    def pid(self) -> int | None:
        """The GStreamer child's process id (None once closed)."""
        return self._pipeline.process.pid if self._pipeline is not None else None

    @property
    def running(self) -> bool:
        """Whether the child is alive and its frames are being read."""
        pipeline = self._pipeline
        return pipeline is not None and not pipeline.ended and pipeline.process.poll() is None

    def _current(self) -> _Pipeline:
        if self._pipeline is None:
            raise FramePipelineError(f"The frame stream of PipeWire node {self.node_id} is closed")
        return self._pipeline

    def size(self, timeout_s: float = FIRST_FRAME_S) -> tuple[int, int]:
        """The stream's frame size in pixels, once its format is negotiated (no frame needed)."""
        pipeline = self._current()
        _frame, size, ended = pipeline.wait("size", timeout_s)
        if size is None:
            if ended:
                raise pipeline.error()
            raise NoFrameError(
                f"The screen-cast stream (PipeWire node {self.node_id}) agreed on no format within {timeout_s:g}s",
                PIPEWIRE_HINT,
            )
        return size

    def latest(self, timeout_s: float = FIRST_FRAME_S) -> Image.Image:
        """The newest frame (RGB): at once when one came already, else the first within `timeout_s`."""
        pipeline = self._current()
        for _attempt in range(2):
            if pipeline.ended or pipeline.process.poll() is not None:
                if self._restarted:
                    raise pipeline.error()
                self._restarted = True
                pipeline = self._start()
            frame, size, ended = pipeline.wait("frame", timeout_s)
            if frame is not None and size is not None and not ended:
                self._restarted = False
                return Image.frombytes("RGB", size, frame, "raw", "BGRX")  # frame: never written again
            if not ended:
                raise NoFrameError(
                    f"No frame came from the screen-cast stream (PipeWire node {self.node_id}) within {timeout_s:g}s",
                    PIPEWIRE_HINT,
                )
        raise pipeline.error()

    def close(self) -> None:
        pipeline, self._pipeline = self._pipeline, None
        if pipeline is not None:
            pipeline.close()
