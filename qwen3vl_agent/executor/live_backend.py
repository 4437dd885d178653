"""Which hands act on the live desktop: pyautogui (X11, or XWayland by the override) or, on a
Wayland session, a remote-desktop session of the route in use (`wayland_backend.py`: GNOME's
Mutter API or xdg-desktop-portal)."""

from __future__ import annotations

import sys

from qwen3vl_agent.executor.backend import PyAutoGUIBackend
from qwen3vl_agent.executor.wayland_backend import MutterBackend, PortalBackend, WaylandBackend
from qwen3vl_agent.screen.session import (
    WaylandRoute,
    WaylandSessionError,
    current_session,
    live_desktop_route,
)


def live_desktop_backend(
    *, paste_timeout_s: float, allow_xwayland: bool, wayland_route: WaylandRoute = "auto"
) -> PyAutoGUIBackend | WaylandBackend:
    """The backend for this session. Where a Wayland session offers no usable API the pyautogui
    backend is returned: it refuses at its first use with the one clear Wayland message."""
    if sys.platform.startswith("linux"):
        session = current_session()
        try:
            route = live_desktop_route(
                "act on the desktop",
                allow_xwayland=allow_xwayland,
                need_input=True,
                session=session,
                wayland_route=wayland_route,
            )
        except WaylandSessionError:
            route = "x11"
        if route == "mutter":
            return MutterBackend(paste_timeout_s)
        if route == "portal":
            return PortalBackend(paste_timeout_s)
    return PyAutoGUIBackend(paste_timeout_s=paste_timeout_s, allow_xwayland=allow_xwayland)
