"""On a real headless KDE Plasma compositor (KWin 5.27 `--virtual`, xdg-desktop-portal-kde): the
app picks the portal route by itself, as there is no GNOME API on the bus.

Covered: the route picked, an exact click and typing through KDE's RemoteDesktop portal, and
that KWin's empty cursor buffers never pass for frames. Not covered: capture of a picture: the
app's ScreenCast portal session is refused here (its consent dialog does not load in this
minimal install: its QML needs plasma-workspace, ~550 MB more; and nothing in a headless KWin
could answer it), and KWin's `--virtual` backend streams no picture at all, only empty cursor
buffers (GL and QPainter compositing alike), see docs/desktop-app.md, "KDE Plasma here".
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from qwen3vl_agent.executor.live_backend import live_desktop_backend
from qwen3vl_agent.executor.plan import ButtonDown, ButtonUp, MoveTo, WriteText
from qwen3vl_agent.executor.stop import hotkey_listener_count, start_stop_hotkey
from qwen3vl_agent.executor.wayland_backend import PortalBackend
from qwen3vl_agent.screen.session import current_session, live_desktop_route
from qwen3vl_agent.wayland.bus import Bus
from qwen3vl_agent.wayland.frames import FrameStream, NoFrameError
from qwen3vl_agent.wayland.kglobalaccel import qt_keys
from qwen3vl_agent.wayland.portal import REMOTE_DESKTOP, SCREENCAST, portal_version
from qwen3vl_agent.wayland.portal_session import PortalSession
from qwen3vl_agent.wayland.probe import pick_route
from tests.support.form_app_fixture import FormApp
from tests.support.wayland_session import WaylandSession
from tests.support.xvfb import MonitorRect

pytestmark = [pytest.mark.wayland, pytest.mark.timeout(120)]

DRAG_PAD_RGB = (0xDD, 0xE8, 0xFF)  # the form's drag pad background (form_app.py)


def test_auto_takes_the_portal_on_kde(kde: WaylandSession) -> None:
    assert current_session().describe() == "Wayland only (KDE Plasma)"
    assert pick_route("auto", need_input=True) == ("portal", None)
    assert live_desktop_route("act on the desktop", allow_xwayland=False, need_input=True) == "portal"
    assert isinstance(live_desktop_backend(paste_timeout_s=1.0, allow_xwayland=False), PortalBackend)
    route, problem = pick_route("mutter", need_input=False)
    assert route is None and problem is not None and "only GNOME's Mutter" in problem
    bus = Bus()
    try:  # KDE's backend behind the portal: ScreenCast 4 (restore tokens), RemoteDesktop 1
        assert portal_version(bus, SCREENCAST) >= 4 and portal_version(bus, REMOTE_DESKTOP) >= 1
    finally:
        bus.close()


@pytest.fixture
def kde_form(kde: WaylandSession, tmp_path: Path) -> Iterator[FormApp]:
    """The Qt test form natively on KWin (QT_QPA_PLATFORM=wayland), full screen."""
    app = FormApp(None, MonitorRect(1, 0, 0, *kde.points), tmp_path, env=kde.env(), platform="wayland")
    try:
        app.reset()
        yield app
    finally:
        app.close()


def test_a_click_through_kde_portal(kde_form: FormApp) -> None:
    """Input through KDE's RemoteDesktop portal (KWin's fake input): the session opens (this
    xdg-desktop-portal-kde 5.27 install started it without showing a dialog; KWin sends no frame
    of a still screen, so the stream's size stands for its pixels), the click lands on the exact
    point, and ASCII text is typed as keysyms."""
    backend = PortalBackend()
    try:
        monitors = backend.monitors()
        size = (kde_form.monitor.width, kde_form.monitor.height)
        assert monitors == [(0, 0, *size)]
        left, top, _w, h = kde_form.widget_rect("subscribe")
        point = (left + 40, top + h // 2)  # on its label
        backend.perform(MoveTo(*point))
        time.sleep(0.3)  # let the form see the pointer enter first
        backend.perform(ButtonDown("left"))
        backend.perform(ButtonUp("left"))
        click = kde_form.wait_for(lambda s: s["subscribe"] is True)["last_click"]
        assert (click["x"], click["y"]) == point
        backend.perform(MoveTo(*kde_form.widget_center("name")))
        backend.perform(ButtonDown("left"))
        backend.perform(ButtonUp("left"))
        kde_form.wait_for(lambda s: s["focus"] == "name")
        backend.perform(WriteText("Ada Lovelace-1815!"))
        kde_form.wait_for(lambda s: s["name"] == "Ada Lovelace-1815!")
    finally:
        backend.close()


def test_kde_pointer_moves_are_not_taken_for_frames(kde_form: FormApp) -> None:
    """What KWin 5.27 `--virtual` streams here: pointer moves only, each as an EMPTY buffer flagged
    "corrupted" (cursor metadata; seen by a plain GStreamer observer on the same stream), never a
    picture (see docs/desktop-app.md, "KDE Plasma here"). The frame pipeline must not turn those
    into all-black screenshots: no frame, and a `NoFrameError` that says so. (Here KWin offers
    the BGRx the pipeline asks for, so videoconvert passes them through; where it converts, it
    would make black frames of them, which the pipeline's `drop-buffer-flags=corrupted` stops.)"""
    session = PortalSession(remote_desktop=True)
    frames = FrameStream(session.streams[0].node_id, session.pipewire_remote)
    fd = session.pipewire_remote()
    node = session.streams[0].node_id
    observer = subprocess.Popen(
        ["gst-launch-1.0", "-v", "pipewiresrc", f"path={node}", f"fd={fd}", "!", "video/x-raw", "!",
         "fakesink", "silent=false"],
        pass_fds=(fd,), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    os.close(fd)
    try:
        assert frames.size() == (kde_form.monitor.width, kde_form.monitor.height)
        time.sleep(1.0)  # both consumers connected before the pointer moves
        for i in range(6):
            session.move(200 + 40 * i, 300)
            time.sleep(0.2)
        with pytest.raises(NoFrameError) as info:
            frames.latest(timeout_s=3)
        assert f"PipeWire node {node}" in str(info.value)
    finally:
        frames.close()
        observer.terminate()
        seen = observer.communicate(timeout=10)[0]
        session.close()
    chains = [line for line in seen.splitlines() if "last-message = chain" in line]
    assert chains and all("(0 bytes," in line and "corrupted" in line for line in chains), seen[-2000:]


def test_kde_stop_hotkey_through_kdes_shortcut_service(kde: WaylandSession) -> None:
    """The stop hotkey on Plasma's Wayland session: registered with KDE's own shortcut service
    (org.kde.kglobalaccel, inside KWin), pressed through KWin's input (the RemoteDesktop
    portal's keys, as a person's keyboard would), heard by the app; after stop the keys are
    KDE's again and no listener is left."""
    pressed = threading.Event()
    listener, why = start_stop_hotkey("<ctrl>+<alt>+<esc>", pressed.set, "the Stop button still works")
    assert listener is not None, why
    session = PortalSession(remote_desktop=True)
    try:
        assert listener.running and hotkey_listener_count() == 1
        combo = (0xFFE3, 0xFFE9, 0xFF1B)  # Control_L, Alt_L, Escape
        for keysym in combo:
            session.keysym(keysym, True)
        for keysym in reversed(combo):
            session.keysym(keysym, False)
        assert pressed.wait(10), "the stop hotkey was not heard"
    finally:
        session.close()
        listener.stop()
    assert hotkey_listener_count() == 0
    assert not any(t.name == "kde-stop-hotkey" for t in threading.enumerate())


def test_kde_stop_hotkey_refusals_say_why(kde: WaylandSession) -> None:
    listener, why = start_stop_hotkey("<ctrl>+<alt>+<esc>+<f1>", lambda: None, "the Stop button still works")
    assert listener is None and why is not None and "more than one key" in why
    assert qt_keys("<ctrl>+<alt>+<esc>") == 0x0C000000 | 0x01000000
    assert qt_keys("<cmd>+<shift>+s") == 0x12000000 | ord("S")
