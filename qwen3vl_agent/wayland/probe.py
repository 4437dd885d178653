"""Can this Wayland session be captured (and driven) through the compositor's D-Bus APIs?

Asked once where the live desktop is about to be used; answers None (yes) or what is missing,
in words for the one refusal message (`screen/session.py`).
"""

from __future__ import annotations

import shutil

from qwen3vl_agent.wayland.bus import Bus, WaylandDesktopError
from qwen3vl_agent.wayland.mutter import RD, SC


def wayland_support_problem(*, need_input: bool) -> str | None:
    """None when Mutter's screen cast (and, with `need_input`, remote desktop) can be used here."""
    try:
        bus = Bus(timeout_s=5)
    except WaylandDesktopError as exc:
        return exc.message
    try:
        needed = (SC, RD) if need_input else (SC,)
        missing = [name for name in needed if not bus.has_name(name)]
    except WaylandDesktopError as exc:
        return exc.message
    finally:
        bus.close()
    if missing:
        return f"the compositor offers no {' / '.join(missing)} on the session bus (only GNOME's Mutter does)"
    if shutil.which("gst-launch-1.0") is None:
        return "GStreamer (gst-launch-1.0 with the PipeWire source) is not installed"
    return None
