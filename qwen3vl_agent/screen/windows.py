"""Find top-level windows by title and where they are on the desktop (X11).

Used for "capture this window" and for privacy masks by window title. python-xlib is tried
first (it ships with pyautogui on Linux); `xdotool` is the fallback. On other platforms, or
with neither available, `WindowLookupError` says so: callers that mask windows must then
refuse to capture rather than leak a window they were asked to hide.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import threading
from dataclasses import dataclass
from typing import Any

from qwen3vl_agent.errors import CaptureError
from qwen3vl_agent.screen.geometry import Rect


class WindowLookupError(CaptureError):
    """Windows cannot be looked up on this system (not X11, or no tool to ask)."""


@dataclass(frozen=True)
class WindowInfo:
    """A visible top-level window: its X id, title and rectangle in desktop pixels."""

    window_id: int
    title: str
    rect: Rect


def find_windows(title: str, *, exact: bool = False) -> list[WindowInfo]:
    """Visible windows whose title contains `title` (case-insensitive), topmost first."""
    if not title:
        raise ValueError("a window title to look for is needed")
    if sys.platform.startswith("linux") and os.environ.get("DISPLAY"):
        try:
            return _find_with_xlib(title, exact)
        except ImportError:
            pass
        if shutil.which("xdotool"):
            return _find_with_xdotool(title, exact)
        raise WindowLookupError(
            "Cannot look up windows: neither python-xlib nor xdotool is available.",
            "install xdotool or python-xlib",
        )
    raise WindowLookupError(
        "Finding windows by title works only on an X11 desktop (DISPLAY is not set).",
        "use a screen rectangle instead",
    )


def _matches(name: str, title: str, exact: bool) -> bool:
    return name == title if exact else title.casefold() in name.casefold()


_local = threading.local()


def _xlib_display() -> Any:
    """One python-xlib connection per thread and DISPLAY (opening one costs ~2.5 ms)."""
    from Xlib import display

    name = os.environ.get("DISPLAY")
    conn = getattr(_local, "conn", None)
    if conn is not None and _local.name == name:
        return conn
    _drop_xlib_display()
    try:
        conn = display.Display()
    except Exception as exc:  # Xlib raises its own DisplayError family
        raise CaptureError(f"Cannot open the X display {name!r}: {exc}") from exc
    _local.conn, _local.name = conn, name
    return conn


def _drop_xlib_display() -> None:
    conn = getattr(_local, "conn", None)
    _local.conn = None
    if conn is not None:
        with contextlib.suppress(Exception):
            conn.close()


def _find_with_xlib(title: str, exact: bool) -> list[WindowInfo]:
    from Xlib import error

    try:
        return _walk_xlib(_xlib_display(), title, exact)
    except (error.ConnectionClosedError, OSError):
        _drop_xlib_display()  # the server went away or restarted: one fresh try
        return _walk_xlib(_xlib_display(), title, exact)


def _walk_xlib(d: Any, title: str, exact: bool) -> list[WindowInfo]:
    from Xlib import X, error

    root = d.screen().root
    found: list[WindowInfo] = []

    def walk(w: Any, depth: int) -> None:
        try:
            children = w.query_tree().children  # bottom to top
        except error.XError:
            return
        for child in reversed(children):  # topmost first
            try:
                attrs = child.get_attributes()
            except error.XError:
                continue
            if attrs.map_state != X.IsViewable:
                continue
            name = _title_of(d, child, depth=0)
            if name is not None and _matches(name, title, exact):
                try:
                    geo = child.get_geometry()
                    pos = child.translate_coords(root, 0, 0)
                except error.XError:
                    continue
                # translate_coords gives root's origin in the child's frame: negate it
                found.append(WindowInfo(child.id, name, Rect(-pos.x, -pos.y, geo.width, geo.height)))
            elif depth < 3:  # client windows sit inside window-manager frames
                walk(child, depth + 1)

    walk(root, 0)
    return found


def _find_with_xdotool(title: str, exact: bool) -> list[WindowInfo]:
    import re

    pattern = f"^{re.escape(title)}$" if exact else re.escape(title)
    out = subprocess.run(
        ["xdotool", "search", "--onlyvisible", "--name", pattern],
        capture_output=True,
        text=True,
        timeout=5,
        check=False,
    )
    found = []
    for line in reversed(out.stdout.split()):
        wid = int(line)
        geo = subprocess.run(
            ["xdotool", "getwindowgeometry", "--shell", str(wid)],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
        name = subprocess.run(
            ["xdotool", "getwindowname", str(wid)], capture_output=True, text=True, timeout=5, check=False
        ).stdout.rstrip("\n")
        vals = dict(kv.split("=", 1) for kv in geo.stdout.split() if "=" in kv)
        try:
            rect = Rect(int(vals["X"]), int(vals["Y"]), int(vals["WIDTH"]), int(vals["HEIGHT"]))
        except (KeyError, ValueError):
            continue
        found.append(WindowInfo(wid, name, rect))
    return found


@dataclass(frozen=True)
class WindowState:
    """What a run scoped to one window must know about it right now (X11)."""

    exists: bool  # False: destroyed or unmapped (closed, minimised)
    title: str = ""
    rect: Rect | None = None
    covered_by: tuple[tuple[str, Rect], ...] = ()  # other apps' windows stacked above it, overlapping
    focused: bool = False  # the keyboard focus is on it (or on one of its children)


def window_state(window_id: int) -> WindowState:
    """The live state of the window `window_id` (X11 via python-xlib; `WindowLookupError` elsewhere)."""
    if not (sys.platform.startswith("linux") and os.environ.get("DISPLAY")):
        raise WindowLookupError("Window scope works only on an X11 desktop (DISPLAY is not set).")
    try:
        from Xlib import error
    except ImportError as exc:
        raise WindowLookupError("Window scope needs python-xlib.", "install python-xlib") from exc
    try:
        return _state_xlib(_xlib_display(), window_id)
    except (error.ConnectionClosedError, OSError):
        _drop_xlib_display()
        return _state_xlib(_xlib_display(), window_id)


def _top_level(d: Any, window: Any) -> int | None:
    """The id of the root's child that holds `window` (its window-manager frame, or itself)."""
    root_id = d.screen().root.id
    current = window
    for _ in range(64):
        tree = current.query_tree()
        parent = tree.parent
        if parent is None or parent == 0:
            return None
        if parent.id == root_id:
            return int(current.id)
        current = parent
    return None


def _state_xlib(d: Any, window_id: int) -> WindowState:
    from Xlib import X, error

    win = d.create_resource_object("window", window_id)
    try:
        attrs = win.get_attributes()
        if attrs.map_state != X.IsViewable:
            return WindowState(False)
        geo = win.get_geometry()
        pos = win.translate_coords(d.screen().root, 0, 0)
        rect = Rect(-pos.x, -pos.y, geo.width, geo.height)
        title = _title_of(d, win) or ""
        top = _top_level(d, win)
    except (error.BadWindow, error.BadDrawable, error.BadMatch):
        return WindowState(False)
    root = d.screen().root
    covered: list[tuple[str, Rect]] = []
    children = root.query_tree().children  # bottom to top
    ids = [c.id for c in children]
    # X window ids carry their client's id base: the app's own popups, menus and dialogs above it
    # are part of the scoped window, not something covering it
    mask = d.display.info.resource_id_mask
    own_client = window_id & ~mask
    if top in ids:
        for child in children[ids.index(top) + 1 :]:
            if child.id & ~mask == own_client:
                continue
            try:
                a = child.get_attributes()
                if a.map_state != X.IsViewable or a.win_class == X.InputOnly:
                    continue
                g = child.get_geometry()
                other = Rect(g.x, g.y, g.width, g.height)
            except error.XError:
                continue
            if rect.intersect(other) is not None:
                covered.append((_title_of(d, child) or f"window 0x{child.id:x}", other))
    focused = False
    try:
        focus = d.get_input_focus().focus
        if isinstance(focus, int):  # PointerRoot (1) or None (0): keys go to the window under the pointer
            under = root.query_pointer().child if focus == X.PointerRoot else None
            focused = top is not None and getattr(under, "id", None) == top
        else:
            focused = _top_level(d, focus) == top
    except error.XError:
        focused = False
    return WindowState(True, title, rect, tuple(covered), focused)


def _title_of(d: Any, w: Any, depth: int = 1) -> str | None:
    """The window's title (EWMH's UTF-8 name, else the legacy WM_NAME); `depth` > 0: a
    window-manager frame without one is named by its client window's title."""
    from Xlib import error

    try:
        prop = w.get_full_property(d.get_atom("_NET_WM_NAME"), d.get_atom("UTF8_STRING"))
        if prop is not None and prop.value:
            v = prop.value
            return v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)
        legacy = w.get_wm_name()
        if isinstance(legacy, bytes):
            return legacy.decode("latin-1")
        if legacy:
            return str(legacy)
        if depth > 0:  # a window-manager frame: its client's title
            for child in w.query_tree().children:
                name = _title_of(d, child, depth - 1)
                if name:
                    return name
        return None
    except error.XError:
        return None
