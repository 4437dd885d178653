"""Capture on a Wayland desktop: monitors and pixels from the compositor's screen-cast streams.

Used by `ScreenCapturer` in its capture thread when the live desktop is a Wayland session
(see `session.py`). One session of the route in use (`wayland/probe.py`: Mutter's screen cast or
the ScreenCast portal; screen cast only, no input) is kept open with a stream per monitor, and
one GStreamer pipeline per stream (`wayland/frames.py` `FrameStream`, opened on the first grab
that needs it) keeps that stream's newest frame: a grab composes the newest frames of the
monitors it covers. Session and pipelines are opened again when the monitor layout changes.
When the desktop closes the session (the user stopped sharing: PipeWire then simply sends no
more frames, and a pipeline would go on returning the last one), the next capture says so
(`CaptureError`) and the one after opens a new session.

Still frames (`wayland_still.py`, the Screenshot portal) instead, by `screen.wayland_capture`:
"screencast" never uses them, "screenshot" uses nothing else (no stream is opened; each capture
is one portal call), "auto" (the default) falls back to them for good when the screen-cast route
is not there or cannot be opened, or when its streams send no first frame (KWin without a GPU).
A person who refused to share the screen in the desktop's dialog, or stopped sharing, is never
answered with a screenshot instead: that refusal stands.

Geometry: capture pixels are the streams' pixels. With one scale on every monitor (the usual
case) a monitor's capture rectangle is its stream, exactly; the desktop is laid out at
`scale` pixels per point (the largest monitor scale), and a monitor of a smaller scale is
resized into that grid. Points are the compositor's logical coordinates, which the Wayland
input backend moves the pointer in.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Literal

from PIL import Image

from qwen3vl_agent.errors import CaptureError
from qwen3vl_agent.screen.geometry import CaptureGeometry, MonitorGeometry, Rect
from qwen3vl_agent.screen.session import DesktopSession, WaylandRoute, WaylandSessionError, live_desktop_route
from qwen3vl_agent.screen.wayland_still import StillGrabber
from qwen3vl_agent.wayland.bus import WaylandDesktopError
from qwen3vl_agent.wayland.frames import FIRST_FRAME_S, FrameStream, NoFrameError
from qwen3vl_agent.wayland.portal import PortalResponseError
from qwen3vl_agent.wayland.probe import open_session
from qwen3vl_agent.wayland.remote import RemoteSession, Route, Stream, WaylandMonitor
from qwen3vl_agent.wayland.screenshot import screenshot_problem

CaptureMode = Literal["auto", "screencast", "screenshot"]
USER_REFUSED = 1  # a portal Response code: the user cancelled the dialog


def new_wayland_grabber(
    session: DesktopSession,
    *,
    allow_xwayland: bool,
    wayland_route: WaylandRoute,
    wayland_capture: CaptureMode,
) -> WaylandGrabber:
    """The grabber `wayland_capture` asks for on this Wayland session; where it cannot capture,
    `WaylandSessionError` names what is missing."""
    if wayland_capture == "screenshot":
        problem = screenshot_problem()
        if problem is not None:
            raise WaylandSessionError(session, "capture the screen", problem)
        return WaylandGrabber(None, "screenshot")
    try:
        route = live_desktop_route(
            "capture the screen",
            allow_xwayland=allow_xwayland,
            need_input=False,
            session=session,
            wayland_route=wayland_route,
        )
    except WaylandSessionError:
        if wayland_capture != "auto" or screenshot_problem() is not None:
            raise
        return WaylandGrabber(None, "auto")  # no screen-cast route here: still frames
    return WaylandGrabber("portal" if route == "portal" else "mutter", wayland_capture)


def _capture_error(exc: WaylandDesktopError) -> CaptureError:
    return CaptureError(str(exc.message), exc.hint)


class WaylandGrabber:
    """The capture thread's view of a Wayland desktop. Not thread-safe: one thread only."""

    def __init__(
        self,
        route: Route | None = "mutter",
        mode: CaptureMode = "screencast",
        *,
        opener: Callable[[Route], RemoteSession] | None = None,
    ) -> None:
        """route: the screen-cast route (None: there is none here; still frames only).
        opener: opens a capture session on the route (default: `open_session`, screen cast only)."""
        self.route = route
        self.mode: CaptureMode = mode
        self._opener = opener or (lambda r: open_session(r, remote_desktop=False))
        self._session: RemoteSession | None = None
        self._layout: list[tuple[MonitorGeometry, Stream]] = []
        self._frames: dict[int, FrameStream] = {}  # by PipeWire node
        self._still: StillGrabber | None = StillGrabber() if mode == "screenshot" or route is None else None
        self.fell_back: str | None = None  # why still frames are used instead of the streams

    @property
    def still(self) -> bool:
        """Whether captures come from the Screenshot portal (by the setting or a fallback)."""
        return self._still is not None

    def _fall_back(self, why: str, layout: list[WaylandMonitor] | None) -> StillGrabber:
        self.close()
        self.fell_back = why
        self._still = StillGrabber(layout)
        return self._still

    def _open(self) -> RemoteSession:
        if self._session is not None:
            try:
                ended = self._session.ended()
                if not ended and not self._session.layout_changed():
                    return self._session
            except WaylandDesktopError:
                ended = False  # the compositor or the bus went away: open again (or say why not)
            self.close()
            if ended:  # its pipelines would go on returning the last frame: say so once
                raise CaptureError(
                    "The desktop stopped sharing the screen (it closed the screen-cast session)",
                    "capture again to share it again (the desktop may ask)",
                )
        if self.route is None:
            raise CaptureError("There is no screen-cast route on this desktop")
        self._session = self._opener(self.route)
        return self._session

    def monitors(self) -> list[MonitorGeometry]:
        """[0] = the whole desktop, then one per monitor (primary first), as `ScreenCapturer` lists them."""
        if self._still is not None:
            return self._still.monitors()
        try:
            session = self._open()
        except WaylandDesktopError as exc:
            refused = isinstance(exc, PortalResponseError) and exc.code == USER_REFUSED
            if self.mode != "auto" or refused:  # a person said no: no picture behind their back
                raise _capture_error(exc) from exc
            return self._fall_back(f"the screen cast could not be opened: {exc.message}", None).monitors()
        streams = session.streams
        scale = max(s.width / s.monitor.width for s in streams)
        self._layout = []
        for i, stream in enumerate(streams, start=1):
            m = stream.monitor
            rect = Rect(
                round(m.left * scale), round(m.top * scale), round(m.width * scale), round(m.height * scale)
            )
            geometry = MonitorGeometry(
                i, rect, scale, point_left=m.left, point_top=m.top, is_primary=m.primary, name=m.connector
            )
            self._layout.append((geometry, stream))
        whole = Rect.union([g.rect for g, _ in self._layout])
        left = min(s.monitor.left for s in streams)
        top = min(s.monitor.top for s in streams)
        desktop = MonitorGeometry(0, whole, scale, point_left=left, point_top=top, is_primary=False)
        return [desktop, *(g for g, _ in self._layout)]

    def grab(self, geometry: CaptureGeometry) -> Image.Image:
        """The pixels of `geometry.rect` (capture pixels), composed from the monitors it covers."""
        if self._still is not None:
            return self._still.grab(geometry)
        if not self._layout:
            self.monitors()
        area = geometry.rect
        canvas: Image.Image | None = None
        for monitor, stream in self._layout:
            inter = area.intersect(monitor.rect)
            if inter is None:
                continue
            try:
                frame = self._frame(stream)
            except NoFrameError as exc:
                if self.mode != "auto":
                    self.close()
                    raise _capture_error(exc) from exc
                layout = [s.monitor for _g, s in self._layout]
                still = self._fall_back(f"the screen cast sent no frame: {exc.message}", layout)
                still.monitors()
                return still.grab(geometry)
            except WaylandDesktopError as exc:
                self.close()
                raise _capture_error(exc) from exc
            if frame.size != (monitor.rect.width, monitor.rect.height):
                frame = frame.resize((monitor.rect.width, monitor.rect.height), Image.Resampling.BILINEAR)
            if inter == area and inter == monitor.rect:
                return frame
            if canvas is None:
                canvas = Image.new("RGB", (area.width, area.height))
            box = (
                inter.left - monitor.rect.left,
                inter.top - monitor.rect.top,
                inter.right - monitor.rect.left,
                inter.bottom - monitor.rect.top,
            )
            canvas.paste(frame.crop(box), (inter.left - area.left, inter.top - area.top))
        if canvas is None:
            raise CaptureError(f"The {geometry.label or 'area'} {area} is on no monitor of this desktop.")
        return canvas

    def _frame(self, stream: Stream) -> Image.Image:
        frames = self._frames.get(stream.node_id)
        if frames is None:
            if self._session is None:
                raise WaylandDesktopError("The screen-cast session is closed")
            frames = FrameStream(stream.node_id, self._session.pipewire_remote)
            self._frames[stream.node_id] = frames
        return frames.latest(FIRST_FRAME_S)

    def close(self) -> None:
        """Stop every frame pipeline and the session (no child, thread or fd left)."""
        frames, self._frames = self._frames, {}
        for stream in frames.values():
            with contextlib.suppress(Exception):
                stream.close()
        session, self._session = self._session, None
        self._layout = []
        if session is not None:
            with contextlib.suppress(Exception):
                session.close()
