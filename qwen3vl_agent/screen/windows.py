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
    net_name = d.intern_atom("_NET_WM_NAME")
    utf8 = d.intern_atom("UTF8_STRING")
    found: list[WindowInfo] = []

    def name_of(w: Any) -> str | None:
        try:
            prop = w.get_full_property(net_name, utf8)
            if prop is not None and prop.value:
                v = prop.value
                return v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)
            legacy = w.get_wm_name()
            if isinstance(legacy, bytes):
                return legacy.decode("latin-1")
            return legacy or None
        except error.XError:
            return None

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
            name = name_of(child)
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
