"""Which application windows a workspace's display shows: used to wait for a launched app.

With a window manager (EWMH), `_NET_CLIENT_LIST` names the managed windows. Without one, the
app's top-level windows are the root's mapped, non-override-redirect children (menus and
tooltips are override-redirect). A window smaller than 32x32 pixels is not counted (toolkits map
1x1 helper windows).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class AppWindow:
    window_id: int
    title: str
    rect: tuple[int, int, int, int]  # left, top, width, height in root coordinates


def _title(conn: Any, window: Any) -> str:
    with contextlib.suppress(Exception):
        prop = window.get_full_property(conn.intern_atom("_NET_WM_NAME"), 0)
        if prop is not None and prop.value:
            value = prop.value
            return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    with contextlib.suppress(Exception):
        name = window.get_wm_name()
        if name:
            return name.decode("latin-1") if isinstance(name, bytes) else str(name)
    return ""


def _candidates(conn: Any) -> list[Any]:
    root = conn.screen().root
    with contextlib.suppress(Exception):
        prop = root.get_full_property(conn.intern_atom("_NET_CLIENT_LIST"), 0)
        if prop is not None and len(prop.value):
            return [conn.create_resource_object("window", int(w)) for w in prop.value]
    return list(root.query_tree().children)


def app_windows(conn: Any) -> list[AppWindow]:
    """The app windows shown on the open python-xlib connection `conn` now."""
    from Xlib import X
    from Xlib.error import XError

    root = conn.screen().root
    found: list[AppWindow] = []
    for window in _candidates(conn):
        try:
            attrs = window.get_attributes()
            if attrs.map_state != X.IsViewable or attrs.override_redirect:
                continue
            geom = window.get_geometry()
            if geom.width < 32 or geom.height < 32:
                continue
            pos = root.translate_coords(window, 0, 0)
            found.append(AppWindow(window.id, _title(conn, window), (pos.x, pos.y, geom.width, geom.height)))
        except XError:  # the window went away while we looked
            continue
    return found
