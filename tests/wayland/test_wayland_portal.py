"""The xdg-desktop-portal ScreenCast handshake on the headless GNOME session, consent included.

CreateSession and SelectSources answer by themselves; Start shows GNOME's "Screen Share" dialog.
No person is here to answer it, so the test plays that person: it sees the dialog in a screen
capture and clicks the monitor and "Share" through the Wayland input path (Mutter's remote
desktop). The positions are where xdg-desktop-portal-gnome 43 puts them on a 1280x800 monitor,
checked on the screenshot first. The portal's answer carries the streams and a restore token; a
second session with that token starts WITHOUT the dialog, and its stream gives real frames
through the portal's own PipeWire connection (OpenPipeWireRemote).
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from qwen3vl_agent.executor.plan import ButtonDown, ButtonUp, MoveTo
from qwen3vl_agent.executor.wayland_backend import MutterBackend
from qwen3vl_agent.screen.capture import ScreenCapturer
from qwen3vl_agent.wayland.frames import FrameStream
from qwen3vl_agent.wayland.portal import ScreenCastPortal, load_restore_token, save_restore_token
from tests.support.form_app_fixture import FormApp
from tests.support.wayland_session import WaylandSession

pytestmark = [pytest.mark.wayland, pytest.mark.timeout(180)]

MONITOR_ROW = (640, 426)  # "MetaVendor" in the dialog's monitor list
SHARE = (852, 273)
SHARE_FACE = (830, 262)  # the button's face, away from its label
DIALOG_TITLE = (640, 262)  # the header bar, light grey


def _wait_pixel(ok: Any, point: tuple[int, int], timeout_s: float = 30) -> bool:
    """Whether the screen's pixel at `point` satisfies `ok` within the timeout (captured anew)."""
    deadline = time.monotonic() + timeout_s
    with ScreenCapturer() as capturer:
        while time.monotonic() < deadline:
            if ok(capturer.capture().image.getpixel(point)):
                return True
            time.sleep(0.2)
    return False


def _click(backend: MutterBackend, point: tuple[int, int]) -> None:
    """Move, let the dialog see the pointer enter (GTK ignores a press that comes with it), click."""
    backend.perform(MoveTo(*point))
    time.sleep(0.3)
    backend.perform(ButtonDown("left"))
    backend.perform(ButtonUp("left"))


def _start_in_thread(portal: ScreenCastPortal, timeout_s: float) -> tuple[threading.Thread, dict[str, Any]]:
    out: dict[str, Any] = {}

    def run() -> None:
        try:
            out["result"] = portal.start(timeout_s=timeout_s)
        except Exception as exc:  # reported by the test
            out["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    return thread, out


def test_handshake_consent_and_restore_token(
    wayland: WaylandSession, wayland_form: FormApp, app_home: Any
) -> None:
    wayland.size == (1280, 800) or pytest.skip("the dialog positions are for a 1280x800 monitor")
    wayland_form.send("hide")  # a bare desktop: the dialog is the only window
    first = ScreenCastPortal()
    backend = MutterBackend()
    try:
        assert first.version >= 4
        first.create_session()
        first.select_monitors(load_restore_token())
        thread, out = _start_in_thread(first, timeout_s=60)
        assert _wait_pixel(lambda p: all(v > 200 for v in p), DIALOG_TITLE), "no consent dialog on screen"
        # "Share" turns from pale to full blue once a monitor is selected: wait for that
        for _attempt in range(3):
            _click(backend, MONITOR_ROW)
            if _wait_pixel(lambda p: p[0] < 120 and p[2] > 180, SHARE_FACE, timeout_s=5):
                break
        else:
            pytest.fail("selecting the monitor in the consent dialog did not enable Share")
        _click(backend, SHARE)
        thread.join(timeout=70)
        assert "error" not in out, out.get("error")
        streams, token = out["result"]
        assert len(streams) == 1 and streams[0].size == wayland.size and token
        save_restore_token(token)
    finally:
        backend.close()
        first.close()

    # a later run: the saved token, and Start answers without any dialog (nobody clicks now)
    assert load_restore_token() == token
    second = ScreenCastPortal()
    try:
        second.create_session()
        second.select_monitors(load_restore_token())
        streams, new_token = second.start(timeout_s=15)
        assert len(streams) == 1 and new_token
        frames = FrameStream(streams[0].node_id, second.open_pipewire_remote)
        try:
            frame = frames.latest()
        finally:
            frames.close()
        assert frame.size == wayland.size and frame.getextrema() != ((0, 0), (0, 0), (0, 0))
    finally:
        second.close()


def test_a_refused_or_unanswered_start_is_a_clear_error(
    wayland: WaylandSession, wayland_form: FormApp
) -> None:
    """Nobody answers the dialog: Start gives up after its timeout with a plain message and
    closes the request (the dialog goes away)."""
    from qwen3vl_agent.wayland.bus import WaylandDesktopError

    wayland_form.send("hide")
    portal = ScreenCastPortal()
    try:
        portal.create_session()
        portal.select_monitors(None)
        with pytest.raises(WaylandDesktopError) as info:
            portal.start(timeout_s=3)
        assert "did not arrive in time" in str(info.value)
    finally:
        portal.close()
