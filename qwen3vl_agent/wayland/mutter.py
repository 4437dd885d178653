"""GNOME's own remote-desktop APIs: monitors (DisplayConfig), screen-cast streams and input.

`MutterSession` opens a `org.gnome.Mutter.ScreenCast` session with one PipeWire stream per
monitor (`RecordMonitor`), optionally linked to a `org.gnome.Mutter.RemoteDesktop` session for
input. These are what xdg-desktop-portal-gnome drives underneath after the user consented; an
app may call them directly on a GNOME session (no dialog; the portal route in
`portal_session.py` is the one that asks the user). Coordinates as in `remote.py`: pointer
motion is sent in a stream's pixels (`NotifyPointerMotionAbsolute(stream, x, y)`).
"""

from __future__ import annotations

import contextlib
from typing import Any

from qwen3vl_agent.wayland.bus import INSTALL_HINT, Bus, WaylandDesktopError
from qwen3vl_agent.wayland.remote import (
    AXIS_HORIZONTAL,
    AXIS_VERTICAL,
    BTN_LEFT,
    BTN_MIDDLE,
    BTN_RIGHT,
    TEXT_MIME_TYPES,
    RemoteSession,
    Route,
    Stream,
    WaylandMonitor,
)

__all__ = [
    "AXIS_HORIZONTAL",
    "AXIS_VERTICAL",
    "BTN_LEFT",
    "BTN_MIDDLE",
    "BTN_RIGHT",
    "MutterSession",
    "Stream",
    "WaylandMonitor",
    "read_monitors",
]

SC = "org.gnome.Mutter.ScreenCast"
RD = "org.gnome.Mutter.RemoteDesktop"
DC = "org.gnome.Mutter.DisplayConfig"
_LAYOUT_PHYSICAL = 2
_SWAPPING_TRANSFORMS = {1, 3, 5, 7}  # 90/270 degrees, flipped or not


def read_monitors(bus: Bus) -> tuple[int, list[WaylandMonitor]]:
    """The layout now, from DisplayConfig.GetCurrentState: (serial, monitors, primary first)."""
    if not bus.has_name(DC):
        raise WaylandDesktopError(
            "This Wayland desktop has no org.gnome.Mutter.DisplayConfig: it is not GNOME (Mutter)",
            INSTALL_HINT,
        )
    serial, monitors, logical, props = bus.call(DC, "/org/gnome/Mutter/DisplayConfig", DC, "GetCurrentState")
    modes: dict[str, tuple[int, int]] = {}
    for spec, mode_list, _props in monitors:
        for mode in mode_list:
            if mode[6].get("is-current", ("b", False))[1]:
                modes[spec[0]] = (int(mode[1]), int(mode[2]))
    physical = props.get("layout-mode", ("u", 1))[1] == _LAYOUT_PHYSICAL
    found = []
    for x, y, scale, transform, primary, specs, _lprops in logical:
        connector = specs[0][0]
        width, height = modes.get(connector, (0, 0))
        if transform in _SWAPPING_TRANSFORMS:
            width, height = height, width
        if physical:  # physical layout: points are pixels, whatever the scale clients draw at
            scale = 1.0
        else:  # logical layout: the monitor's size in points is its mode over its scale
            width, height = round(width / scale), round(height / scale)
        found.append(WaylandMonitor(connector, int(x), int(y), width, height, float(scale), bool(primary)))
    found.sort(key=lambda m: (not m.primary, m.left, m.top))
    return int(serial), found


class MutterSession(RemoteSession):
    """A screen-cast session with one stream per monitor; with `remote_desktop`, input too.

    Owns its own `Bus` (Mutter ends the session when the connection closes). One thread only.
    """

    route: Route = "mutter"

    def __init__(self, *, remote_desktop: bool, cursor: bool = False, bus: Bus | None = None) -> None:
        self.bus = bus or Bus()
        self.remote_desktop = remote_desktop
        self._rd: str | None = None
        self._sc: str | None = None
        self.streams: list[Stream] = []
        self.serial = -1
        self._stack = contextlib.ExitStack()
        self._transfers: Any = None  # SelectionTransfer signals, once the clipboard is enabled
        self._closed: Any = None  # the session's Closed signals
        self._offer: bytes | None = None
        try:
            self._open(cursor)
        except BaseException:
            self.close()
            raise

    def _open(self, cursor: bool) -> None:
        for name in (SC, RD) if self.remote_desktop else (SC,):
            if not self.bus.has_name(name):
                raise WaylandDesktopError(
                    f"This Wayland desktop offers no {name} (it is not GNOME, or too old)", INSTALL_HINT
                )
        self.serial, monitors = read_monitors(self.bus)
        if not monitors:
            raise WaylandDesktopError("The Wayland desktop reports no monitor at all")
        options: dict[str, Any] = {}
        if self.remote_desktop:
            (self._rd,) = self.bus.call(RD, "/org/gnome/Mutter/RemoteDesktop", RD, "CreateSession")
            session_id = self.bus.get_property(RD, self._rd, RD + ".Session", "SessionId")
            options["remote-desktop-session-id"] = ("s", session_id)
        (self._sc,) = self.bus.call(SC, "/org/gnome/Mutter/ScreenCast", SC, "CreateSession", "a{sv}", options)
        self._closed = self._stack.enter_context(self.bus.signals(SC + ".Session", "Closed", self._sc))
        paths = []
        for monitor in monitors:
            (path,) = self.bus.call(
                SC,
                self._sc,
                SC + ".Session",
                "RecordMonitor",
                "sa{sv}",
                monitor.connector,
                {"cursor-mode": ("u", 1 if cursor else 0)},  # 0 hidden, 1 embedded in the frames
            )
            paths.append((monitor, path))
        with self.bus.signals(SC + ".Stream", "PipeWireStreamAdded") as added:
            if self._rd is not None:
                self.bus.call(RD, self._rd, RD + ".Session", "Start")
            else:
                self.bus.call(SC, self._sc, SC + ".Session", "Start")
            nodes: dict[str, int] = {}
            while len(nodes) < len(paths):
                msg_path, (node,) = self.bus.wait(added, "the screen cast's PipeWire stream")
                nodes[msg_path] = int(node)
        if self._rd is not None:
            self.warm_up_input()
        for monitor, path in paths:
            # Measured on Mutter 43 at scale 1.25: the stream's "size" parameter says 1280x800 (the
            # points) while its frames are 1600x1000, and pointer motion is divided by the scale:
            # the stream's pixel grid is the monitor's points times its scale.
            width, height = round(monitor.width * monitor.scale), round(monitor.height * monitor.scale)
            self.streams.append(Stream(monitor, path, nodes[path], width, height))

    def ended(self) -> bool:
        """Whether Mutter closed the screen cast (its `Closed` signal: stopped from outside)."""
        return self._closed is not None and self.bus.arrived(self._closed)

    def layout_changed(self) -> bool:
        """Whether monitors came, went or moved since the session opened (streams are stale then)."""
        serial, monitors = read_monitors(self.bus)
        return serial != self.serial or monitors != self.monitors

    # -- input (remote_desktop=True) ------------------------------------------------------------
    def _notify(self, method: str, signature: str, *args: Any) -> None:
        if self._rd is None:
            raise WaylandDesktopError("This screen-cast session was opened without input")
        self.bus.call(RD, self._rd, RD + ".Session", method, signature, *args)

    def _motion(self, stream: Stream, x: float, y: float) -> None:
        self._notify("NotifyPointerMotionAbsolute", "sdd", stream.path, x, y)

    def _nudge_pointer(self) -> None:
        self._notify("NotifyPointerMotionRelative", "dd", 0.0, 0.0)

    def button(self, code: int, pressed: bool) -> None:
        self._notify("NotifyPointerButton", "ib", code, pressed)

    def scroll(self, axis: int, steps: int) -> None:
        self._notify("NotifyPointerAxisDiscrete", "ui", axis, steps)

    def keysym(self, keysym: int, pressed: bool) -> None:
        self._notify("NotifyKeyboardKeysym", "ub", keysym, pressed)

    # -- clipboard (remote_desktop=True): text the keyboard cannot type ------------------------
    def offer_text(self, text: str) -> None:
        """Own the clipboard with `text` (served when an application pastes: `serve_paste`)."""
        if self._transfers is None:  # once: Mutter 43 refuses to enable it again after DisableClipboard
            self._transfers = self._stack.enter_context(
                self.bus.signals(RD + ".Session", "SelectionTransfer", self._rd)
            )
            self._notify("EnableClipboard", "a{sv}", {})
        self._offer = text.encode("utf-8")
        self._notify("SetSelection", "a{sv}", {"mime-types": ("as", list(TEXT_MIME_TYPES))})

    def serve_paste(self, timeout_s: float) -> bool:
        """Answer the clipboard requests that come within `timeout_s`; True once one was served."""
        if self._transfers is None or self._offer is None:
            return False
        served = False
        try:
            while True:
                _path, (mime, serial) = self.bus.wait(
                    self._transfers, "a paste", 0.2 if served else timeout_s
                )
                ok = mime in TEXT_MIME_TYPES
                if ok:
                    (fd,) = self.bus.call(RD, self._rd or "", RD + ".Session", "SelectionWrite", "u", serial)
                    with fd.to_file("wb") as pipe:
                        pipe.write(self._offer)
                self._notify("SelectionWriteDone", "ub", serial, ok)
                served = served or ok
        except WaylandDesktopError:  # no (further) request in time
            return served

    def withdraw_text(self) -> None:
        """Make what was offered no longer pasteable: offer an empty text in its place and answer
        the requests that follow at once (applications fetch and keep a new offer's text).
        Measured on Mutter 43: neither DisableClipboard nor an empty SetSelection takes the
        offered text away from an application that fetched it, and EnableClipboard is refused
        after DisableClipboard."""
        if self._offer:
            self.offer_text("")
            self.serve_paste(0.3)

    def close(self) -> None:
        """Stop the session (best effort: the compositor may be gone) and close the bus."""
        with contextlib.suppress(WaylandDesktopError):
            if self._rd is not None:
                self.bus.call(RD, self._rd, RD + ".Session", "Stop", timeout_s=2)
            elif self._sc is not None:
                self.bus.call(SC, self._sc, SC + ".Session", "Stop", timeout_s=2)
        self._rd = self._sc = None
        self.streams = []
        self._transfers = self._offer = self._closed = None
        with contextlib.suppress(Exception):
            self._stack.close()
        self.bus.close()
