"""Which Wayland route reaches this desktop, and opening a session on it.

Two routes: GNOME's own API ("mutter": org.gnome.Mutter.ScreenCast / RemoteDesktop, no dialog)
and xdg-desktop-portal ("portal": ScreenCast / RemoteDesktop portals, KDE Plasma, wlroots
desktops and GNOME alike; the desktop asks the user). The setting `screen.wayland_route` picks
one; "auto" takes Mutter's where it is on the bus, else the portal. Asked once where the live
desktop is about to be used; answers the route, or what is missing in words for the one refusal
message (`screen/session.py`).
"""

from __future__ import annotations

import shutil
from typing import Literal

from qwen3vl_agent.wayland.bus import Bus, WaylandDesktopError
from qwen3vl_agent.wayland.mutter import RD, SC
from qwen3vl_agent.wayland.portal import REMOTE_DESKTOP, SCREENCAST, portal_version
from qwen3vl_agent.wayland.remote import RemoteSession, Route

RouteSetting = Literal["auto", "mutter", "portal"]


def pick_route(setting: RouteSetting, *, need_input: bool) -> tuple[Route | None, str | None]:
    """(route, None) when the route can be used here, else (None, what is missing)."""
    try:
        bus = Bus(timeout_s=5)
    except WaylandDesktopError as exc:
        return None, exc.message
    route: Route
    try:
        needed = (SC, RD) if need_input else (SC,)
        missing = [name for name in needed if not bus.has_name(name)]
        if setting == "mutter" or (setting == "auto" and not missing):
            if missing:
                return None, (
                    f"the compositor offers no {' / '.join(missing)} on the session bus (only GNOME's "
                    'Mutter does; screen.wayland_route = "portal" or "auto" uses xdg-desktop-portal)'
                )
            route = "mutter"
        else:
            try:
                for interface in (SCREENCAST, REMOTE_DESKTOP) if need_input else (SCREENCAST,):
                    portal_version(bus, interface)
            except WaylandDesktopError as exc:
                return None, exc.message
            route = "portal"
    except WaylandDesktopError as exc:
        return None, exc.message
    finally:
        bus.close()
    if shutil.which("gst-launch-1.0") is None:
        return None, "GStreamer (gst-launch-1.0 with the PipeWire source) is not installed"
    return route, None


def open_session(route: Route, *, remote_desktop: bool) -> RemoteSession:
    """A new session on `route` (the portal's may show the desktop's consent dialog and wait)."""
    if route == "portal":
        from qwen3vl_agent.wayland.portal_session import PortalSession

        return PortalSession(remote_desktop=remote_desktop)
    from qwen3vl_agent.wayland.mutter import MutterSession

    return MutterSession(remote_desktop=remote_desktop)
