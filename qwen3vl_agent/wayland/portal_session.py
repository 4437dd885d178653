"""The portal route: a `RemoteSession` opened through xdg-desktop-portal (`portal.py`).

Capture only: a ScreenCast portal session of every monitor, its consent kept with the restore
token (`wayland-screencast-restore-token`): the dialog comes once, later runs start without it.
With input: a RemoteDesktop portal session (keyboard and pointer, and the monitors selected on
the same session): ONE dialog grants both. Its consent is kept only where the portal can keep it
(RemoteDesktop version 2+, `wayland-remotedesktop-restore-token`); before that each new session
(once per app run: the executor keeps it open) asks again.

Geometry: the portal gives each monitor stream its position and size in the compositor's logical
coordinates (points); the stream's pixel grid is the format it negotiates when a GStreamer
pipeline connects to it as the session opens (no frame needed: KWin 5.27 sends frames only when
the screen is repainted; without a format in time the size stands for the pixels, right at
scale 1).
Pointer motion goes to `NotifyPointerMotionAbsolute(stream node, x, y)` in those pixels, as on
GNOME's API (measured here on Mutter through the portal; KDE's and wlroots' portals at scales
other than 1 are not tested). The portal tells no monitor layout changes (`layout_changed` is
always False): reopen after changing monitors.

Clipboard: text the keyboard cannot type (non-ASCII) would need the Clipboard portal, which the
xdg-desktop-portal tested here (1.16, Debian 12) does not have: such text is refused before any
key is pressed, saying so.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

from qwen3vl_agent.wayland.bus import Bus, WaylandDesktopError
from qwen3vl_agent.wayland.frames import FrameStream
from qwen3vl_agent.wayland.portal import (
    DEVICE_KEYBOARD,
    DEVICE_POINTER,
    SESSION,
    PortalResponseError,
    PortalStream,
    RemoteDesktopPortal,
    ScreenCastPortal,
    TokenKind,
    load_restore_token,
    save_restore_token,
)
from qwen3vl_agent.wayland.remote import RemoteSession, Route, Stream, WaylandMonitor

CONSENT_TIMEOUT_S = 120.0  # how long the desktop's dialog waits for the user
FIRST_FRAME_S = 5.0  # for a stream's format (its pixel grid), which comes as it connects


class PortalSession(RemoteSession):
    """A portal screen-cast (or, with `remote_desktop`, remote-desktop) session. One thread."""

    route: Route = "portal"

    def __init__(
        self, *, remote_desktop: bool, consent_timeout_s: float = CONSENT_TIMEOUT_S, bus: Bus | None = None
    ) -> None:
        self.remote_desktop = remote_desktop
        self.streams = []
        self._stack = contextlib.ExitStack()
        self._closed: Any = None  # the portal session's Closed signals
        self.portal: ScreenCastPortal = (RemoteDesktopPortal if remote_desktop else ScreenCastPortal)(bus)
        try:
            self._open(consent_timeout_s)
        except BaseException:
            self.close()
            raise

    def _open(self, consent_timeout_s: float) -> None:
        kind: TokenKind = "remotedesktop" if self.remote_desktop else "screencast"
        portal = self.portal
        try:
            portal.create_session()
        except PortalResponseError as exc:
            # Seen once in the test suite under load: xdg-desktop-portal-gnome 43 answered
            # CreateSession "failed" right after an earlier session had been closed; a second
            # try a moment later is harmless (no dialog comes before Start).
            if exc.code != 2:
                raise
            time.sleep(1.0)
            portal.create_session()
        self._closed = self._stack.enter_context(portal.bus.signals(SESSION, "Closed", portal.session))
        token = load_restore_token(kind)
        if isinstance(portal, RemoteDesktopPortal):
            portal.select_devices(token)
        portal.select_monitors(token)
        found, new_token = portal.start(timeout_s=consent_timeout_s)
        if new_token:
            save_restore_token(new_token, kind)
        if not found:
            raise WaylandDesktopError("The desktop shared no monitor", "choose a monitor in its dialog")
        if self.remote_desktop:
            devices = int(portal.granted.get("devices", 0))
            wanted = DEVICE_KEYBOARD | DEVICE_POINTER
            if devices & wanted != wanted:
                raise WaylandDesktopError(
                    "The desktop did not allow both keyboard and pointer control",
                    "allow remote interaction in the desktop's dialog",
                )
        self.streams = [self._stream(i, s) for i, s in enumerate(found)]
        self.streams.sort(key=lambda s: (not s.monitor.primary, s.monitor.left, s.monitor.top))
        if self.remote_desktop:
            self.warm_up_input()  # GNOME's portal is Mutter underneath

    def _stream(self, index: int, found: PortalStream) -> Stream:
        frames = FrameStream(found.node_id, self.pipewire_remote)
        try:
            pixels = frames.size(FIRST_FRAME_S)  # the negotiated format: no frame needed
        except WaylandDesktopError:
            if found.size is None:
                raise
            pixels = found.size  # then the stream's size stands for its pixels (right at scale 1)
        finally:
            frames.close()
        left, top = found.position or (0, 0)
        width, height = found.size or pixels  # points; without a size, one pixel per point
        monitor = WaylandMonitor(
            f"portal-{index + 1}", left, top, width, height, pixels[0] / width, (left, top) == (0, 0)
        )
        return Stream(monitor, "", found.node_id, *pixels)

    def pipewire_remote(self) -> int:
        return self.portal.open_pipewire_remote()

    def ended(self) -> bool:
        """Whether the portal closed the session (`Session.Closed`: the user stopped sharing)."""
        return self._closed is not None and self.portal.bus.arrived(self._closed)

    # -- input (remote_desktop=True) -------------------------------------------------------------
    def _notify(self, method: str, signature: str, *args: object) -> None:
        if not isinstance(self.portal, RemoteDesktopPortal):
            raise WaylandDesktopError("This screen-cast session was opened without input")
        self.portal.notify(method, signature, *args)

    def _motion(self, stream: Stream, x: float, y: float) -> None:
        self._notify("NotifyPointerMotionAbsolute", "udd", stream.node_id, x, y)

    def _nudge_pointer(self) -> None:
        self._notify("NotifyPointerMotion", "dd", 0.0, 0.0)

    def button(self, code: int, pressed: bool) -> None:
        self._notify("NotifyPointerButton", "iu", code, int(pressed))

    def scroll(self, axis: int, steps: int) -> None:
        self._notify("NotifyPointerAxisDiscrete", "ui", axis, steps)

    def keysym(self, keysym: int, pressed: bool) -> None:
        self._notify("NotifyKeyboardKeysym", "iu", keysym, int(pressed))

    def clipboard_problem(self) -> str | None:
        return (
            "xdg-desktop-portal here has no Clipboard portal to paste it through, and a Wayland "
            "desktop drops key presses of characters that are not on the keyboard layout"
        )

    def close(self) -> None:
        self.streams = []
        self._closed = None
        with contextlib.suppress(Exception):
            self._stack.close()
        with contextlib.suppress(Exception):
            self.portal.close()
