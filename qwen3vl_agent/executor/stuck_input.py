"""Releasing keys and buttons that a killed process left pressed in the X server.

An executor killed (kill -9, a crash) between a key's press and its release leaves that key down:
the X server does not release XTEST input when its client dies. The next typing then loses that
letter ("Kenj Sato") and the user's own keyboard misbehaves. An executor that is stopped cleanly
releases what it holds itself; after a process died, the one that resumes its work asks the server
which keys and buttons are down (XQueryKeymap, QueryPointer) and releases them.
"""

from __future__ import annotations

import contextlib
import logging
import os

log = logging.getLogger(__name__)

_BUTTON_MASKS = ((1, 1 << 8), (2, 1 << 9), (3, 1 << 10))  # Button1Mask .. Button3Mask


def release_stuck_input(display: str | None = None) -> list[str]:
    """Release every key and pointer button the X server has down; what was released, by name.

    Best effort and quiet: no X display (Wayland, Windows, tests without one) releases nothing.
    """
    name = display or os.environ.get("DISPLAY")
    if not name:
        return []
    try:
        from Xlib import XK, X
        from Xlib import display as xdisplay
        from Xlib.ext import xtest

        conn = xdisplay.Display(name)
    except Exception as exc:  # no server, no xauth, no python-xlib: nothing we can do
        log.debug("cannot look for stuck keys on %s: %s", name, exc)
        return []
    released: list[str] = []
    try:
        if not conn.has_extension("XTEST"):
            return []
        keymap = conn.query_keymap()
        for byte_index, byte in enumerate(keymap):
            for bit in range(8):
                if byte & (1 << bit):
                    code = byte_index * 8 + bit
                    xtest.fake_input(conn, X.KeyRelease, code)
                    keysym = conn.keycode_to_keysym(code, 0)
                    released.append(f"key {XK.keysym_to_string(keysym) or code}")
        mask = conn.screen().root.query_pointer().mask
        for button, bit in _BUTTON_MASKS:
            if mask & bit:
                xtest.fake_input(conn, X.ButtonRelease, button)
                released.append(f"button {button}")
        conn.sync()
    except Exception as exc:
        log.warning("releasing stuck keys on %s failed: %s", name, exc)
    finally:
        with contextlib.suppress(Exception):
            conn.close()
    return released
