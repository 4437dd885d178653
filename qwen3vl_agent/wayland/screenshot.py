"""One still frame of the whole desktop through xdg-desktop-portal's Screenshot portal.

`Screenshot(parent_window, {interactive: false})` -> the Request's Response carries
`{uri: "file:///.../Screenshot_....png"}`: the desktop's backend wrote a PNG of the whole
desktop at its physical pixels (the bounding box of every monitor at the largest scale) and
hands the app its name. The file is read and removed at once (the desktop puts it in the user's
Pictures folder). No stream, no session, no GStreamer: one call per picture.

Backends (what was measured, docs/desktop-app.md):
  * KDE Plasma (xdg-desktop-portal-kde 5.27): KWin renders it (`org.kde.kwin.Screenshot`, which
    KWin lets only xdg-desktop-portal-kde and its own tools call); non-interactive screenshots
    are taken without a dialog.
  * GNOME (xdg-desktop-portal-gnome 43): gnome-shell's `org.gnome.Shell.Screenshot`; where
    gnome-shell is not running (a bare Mutter) the backend never answers: the wait ends with
    `ScreenshotTimeoutError`.
Refusals (the user or the desktop said no, code 1; the backend failed, code 2) are
`PortalResponseError`; a missing portal is `WaylandDesktopError` with what to install.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from urllib.parse import unquote, urlparse

from PIL import Image

from qwen3vl_agent.wayland.bus import Bus, SignalTimeoutError, WaylandDesktopError
from qwen3vl_agent.wayland.portal import (
    SCREENSHOT,
    PortalResponseError,
    portal_request,
    portal_version,
)

SCREENSHOT_TIMEOUT_S = 15.0  # the portal's answer; a backend without its shell never answers
SCREENSHOT_HINT = (
    "the Screenshot portal needs xdg-desktop-portal with the desktop's backend "
    "(xdg-desktop-portal-kde on Plasma; on GNOME, xdg-desktop-portal-gnome with gnome-shell running)"
)

__all__ = ["SCREENSHOT_TIMEOUT_S", "PortalResponseError", "ScreenshotTimeoutError", "take_screenshot"]


class ScreenshotTimeoutError(WaylandDesktopError):
    """The Screenshot portal took the request but no answer came within the wait."""


def screenshot_problem(bus: Bus | None = None) -> str | None:
    """None when the Screenshot portal is on the session bus, else what is missing (in words)."""
    own = bus is None
    try:
        bus = bus or Bus(timeout_s=5)
    except WaylandDesktopError as exc:
        return exc.message
    try:
        portal_version(bus, SCREENSHOT)
        return None
    except WaylandDesktopError as exc:
        return exc.message
    finally:
        if own:
            bus.close()


def _local_path(uri: str) -> Path:
    parsed = urlparse(uri)
    if parsed.scheme != "file" or not parsed.path:
        raise WaylandDesktopError(f"The Screenshot portal answered with no local file ({uri!r})")
    return Path(unquote(parsed.path))


def _load(path: Path) -> Image.Image:
    try:
        with Image.open(path) as picture:
            picture.load()
            return picture.convert("RGB")
    except (OSError, ValueError) as exc:
        raise WaylandDesktopError(
            f"The screenshot the desktop wrote could not be read ({path}): {exc}"
        ) from exc
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)


def take_screenshot(bus: Bus | None = None, *, timeout_s: float = SCREENSHOT_TIMEOUT_S) -> Image.Image:
    """The whole desktop, RGB, at the pixels the desktop rendered it (no dialog asked for).

    Raises `WaylandDesktopError` (no portal, no file), `PortalResponseError` (refused, code 1;
    failed, code 2) or `ScreenshotTimeoutError` (no answer within `timeout_s`)."""
    own = bus is None
    bus = bus or Bus()
    try:
        portal_version(bus, SCREENSHOT)
        options = {"interactive": ("b", False), "modal": ("b", False)}
        try:
            results = portal_request(
                bus,
                SCREENSHOT,
                "Screenshot",
                "s",
                "",
                options=options,
                timeout_s=timeout_s,
                what="screenshot",
            )
        except SignalTimeoutError as exc:
            raise ScreenshotTimeoutError(
                f"The desktop took no screenshot within {timeout_s:g} s (the Screenshot portal did not answer)",
                SCREENSHOT_HINT,
            ) from exc
        uri = results.get("uri")
        if not isinstance(uri, str):
            raise WaylandDesktopError("The Screenshot portal answered without a picture")
        return _load(_local_path(uri))
    finally:
        if own:
            bus.close()
