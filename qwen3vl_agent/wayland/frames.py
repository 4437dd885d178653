"""One frame of a PipeWire screen-cast stream as a PIL image, through GStreamer's `pipewiresrc`.

`gst-launch-1.0 pipewiresrc path=NODE num-buffers=1 ! videoconvert ! pngenc ! fdsink` runs as a
child process per grab (about half a second; chat and agent steps capture once per turn). The
child reaches PipeWire through the environment (XDG_RUNTIME_DIR, PIPEWIRE_REMOTE), or through
the portal's PipeWire file descriptor (`fd=`) when there is one.
"""

from __future__ import annotations

import io
import shutil
import subprocess

from PIL import Image

from qwen3vl_agent.wayland.bus import WaylandDesktopError

GST_HINT = "install GStreamer's PipeWire source (Debian/Ubuntu: gstreamer1.0-pipewire gstreamer1.0-tools)"


def gst_launch() -> str:
    exe = shutil.which("gst-launch-1.0")
    if exe is None:
        raise WaylandDesktopError("Reading the Wayland screen needs GStreamer (gst-launch-1.0)", GST_HINT)
    return exe


def grab_frame(node_id: int, *, pipewire_fd: int | None = None, timeout_s: float = 15.0) -> Image.Image:
    """The next frame of the stream (RGB)."""
    source = ["pipewiresrc", f"path={node_id}", "num-buffers=1", "always-copy=true"]
    pass_fds: tuple[int, ...] = ()
    if pipewire_fd is not None:
        source.append(f"fd={pipewire_fd}")
        pass_fds = (pipewire_fd,)
    argv = [
        gst_launch(),
        "-q",
        *source,
        "!",
        "videoconvert",
        "!",
        "pngenc",
        "compression-level=1",
        "!",
        "fdsink",
        "fd=1",
    ]
    try:
        done = subprocess.run(argv, capture_output=True, timeout=timeout_s, pass_fds=pass_fds, check=False)
    except subprocess.TimeoutExpired as exc:
        raise WaylandDesktopError(
            f"No frame came from the screen-cast stream (PipeWire node {node_id}) within {timeout_s:g}s",
            "is PipeWire running in this session?",
        ) from exc
    if done.returncode != 0 or not done.stdout:
        detail = done.stderr.decode(errors="replace").strip().splitlines()
        missing = any("no element" in line.lower() for line in detail)
        raise WaylandDesktopError(
            f"Reading the screen-cast stream (PipeWire node {node_id}) failed: "
            + (detail[-1] if detail else f"gst-launch-1.0 exited with {done.returncode}"),
            GST_HINT if missing else "is PipeWire running in this session?",
        )
    try:
        with Image.open(io.BytesIO(done.stdout)) as image:
            return image.convert("RGB")
    except Exception as exc:
        raise WaylandDesktopError(f"The screen-cast frame could not be decoded: {exc}") from exc
