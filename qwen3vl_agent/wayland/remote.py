"""What capture and input need from a Wayland remote-desktop session, whichever route opened it.

Two routes open one: GNOME's own API (`mutter.py`, no dialog) and xdg-desktop-portal
(`portal_session.py`: KDE Plasma, wlroots desktops, or GNOME by the setting; the desktop asks
the user). Both give one PipeWire stream per monitor and, with input, pointer motion in a
stream's pixels, evdev buttons, wheel steps and X keysyms. `RemoteSession` is that common part;
the capture thread (`screen/wayland_capture.py`) and the executor (`executor/wayland_backend.py`)
use nothing else. Coordinates:

  * points: the compositor's global logical coordinates (`WaylandMonitor`);
  * stream pixels: a monitor stream's own pixel grid, what frames have and pointer motion is
    sent in, so the map is exact at any scale.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

from qwen3vl_agent.wayland.bus import WaylandDesktopError

Route = Literal["mutter", "portal"]

# linux/input-event-codes.h
BTN_LEFT, BTN_RIGHT, BTN_MIDDLE = 0x110, 0x111, 0x112
AXIS_VERTICAL, AXIS_HORIZONTAL = 0, 1
SHIFT_L = 0xFFE1
INPUT_SETTLE_S = 0.5
TEXT_MIME_TYPES = ("text/plain;charset=utf-8", "UTF8_STRING", "text/plain", "STRING", "TEXT")


@dataclass(frozen=True)
class WaylandMonitor:
    """One logical monitor: where it is in points, its scale and its name ("DP-1")."""

    connector: str
    left: int
    top: int
    width: int  # points
    height: int
    scale: float  # pixels per point of its framebuffer and stream (2.0, 1.25, ...; 1 in physical layout)
    primary: bool = False

    def contains(self, x: float, y: float) -> bool:
        return self.left <= x < self.left + self.width and self.top <= y < self.top + self.height


@dataclass
class Stream:
    """One monitor's screen-cast stream: its PipeWire node, pixel size and (Mutter) D-Bus path."""

    monitor: WaylandMonitor
    path: str  # Mutter's stream object; "" on the portal route (streams are named by node id)
    node_id: int
    width: int  # stream pixels
    height: int

    def to_stream(self, x: float, y: float) -> tuple[float, float]:
        """A point (global logical coordinates) in this stream's pixels."""
        m = self.monitor
        return ((x - m.left) * self.width / m.width, (y - m.top) * self.height / m.height)


class RemoteSession:
    """Streams of every monitor and, when opened with input, the pointer and keyboard.

    Subclasses open the session and implement the `_motion`/`button`/`scroll`/`keysym` calls,
    and the clipboard where their route has one. One thread only (each owns its `Bus`)."""

    route: Route
    remote_desktop: bool
    streams: list[Stream]

    @property
    def monitors(self) -> list[WaylandMonitor]:
        return [s.monitor for s in self.streams]

    def layout_changed(self) -> bool:
        """Whether monitors came, went or moved since the session opened (streams are stale then)."""
        return False

    def ended(self) -> bool:
        """Whether the desktop closed the session (the user stopped sharing, the compositor ended
        it): its streams send nothing more, and a frame kept from them is stale."""
        return False

    def stream_at(self, x: float, y: float) -> Stream | None:
        return next((s for s in self.streams if s.monitor.contains(x, y)), None)

    def pipewire_remote(self) -> int | None:
        """A new file descriptor of the PipeWire connection the streams are reachable through
        (the caller closes it); None: the session's own PipeWire (the environment's)."""
        return None

    # -- input ---------------------------------------------------------------------------------
    def move(self, x: float, y: float) -> None:
        """Move the pointer to a point (global logical coordinates) on some monitor."""
        stream = self.stream_at(x, y)
        if stream is None:
            raise WaylandDesktopError(f"The point ({x:g}, {y:g}) is on no monitor of this desktop")
        sx, sy = stream.to_stream(x, y)
        self._motion(stream, float(sx), float(sy))

    def _motion(self, stream: Stream, x: float, y: float) -> None:
        raise NotImplementedError

    def button(self, code: int, pressed: bool) -> None:
        raise NotImplementedError

    def scroll(self, axis: int, steps: int) -> None:
        raise NotImplementedError

    def keysym(self, keysym: int, pressed: bool) -> None:
        raise NotImplementedError

    def _nudge_pointer(self) -> None:
        """A pointer event that moves nothing (a relative motion of 0, 0)."""
        raise NotImplementedError

    def warm_up_input(self) -> None:
        """Once, when an input session opens. Mutter creates a session's virtual keyboard and
        pointer on their first event, and events sent while a device is being set up are lost
        (measured on Mutter 43: the first letters of a text; under load all of a short text, or
        the whole first click, right after the session opened). So Shift goes down and up, the
        pointer moves by nothing, and the compositor gets a moment, before any event that matters."""
        for pressed in (True, False):
            self.keysym(SHIFT_L, pressed)
        self._nudge_pointer()
        time.sleep(INPUT_SETTLE_S)

    # -- clipboard: text the keyboard cannot type -------------------------------------------
    def clipboard_problem(self) -> str | None:
        """None when `offer_text` works here, else why not (in words)."""
        return None

    def offer_text(self, text: str) -> None:
        """Own the clipboard with `text` (served when an application pastes: `serve_paste`)."""
        raise WaylandDesktopError(f"No clipboard here: {self.clipboard_problem()}")

    def serve_paste(self, timeout_s: float) -> bool:
        """Answer the clipboard requests that come within `timeout_s`; True once one was served."""
        return False

    def withdraw_text(self) -> None:
        """Make what was offered no longer pasteable."""

    def close(self) -> None:
        raise NotImplementedError
