"""Still frames through xdg-desktop-portal's Screenshot portal (`wayland/screenshot.py`,
`screen/wayland_still.py`), on the real headless desktops the suite starts.

KDE Plasma (KWin 5.27 `--virtual`, xdg-desktop-portal-kde 5.27): a non-interactive Screenshot is
rendered by KWin itself (`org.kde.kwin.Screenshot`, which only KDE's portal may call) and shows
the Qt form's pixels, where KWin's screen cast sends none: capture on KDE, verified for still
frames. The portal's dialog frame is a stand-in here (`tests/support/kde_qml/`, see there).
GNOME (Mutter 43 headless, xdg-desktop-portal-gnome 43): the backend asks gnome-shell, which a
bare Mutter does not run: the call never gets an answer, and the wait ends in one clear error.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from qwen3vl_agent.errors import CaptureError
from qwen3vl_agent.executor.plan import ButtonDown, ButtonUp, MoveTo, WriteText
from qwen3vl_agent.executor.wayland_backend import PortalBackend
from qwen3vl_agent.screen.capture import CaptureTarget, ScreenCapturer
from qwen3vl_agent.screen.geometry import CaptureGeometry, Rect
from qwen3vl_agent.screen.session import WaylandSessionError
from qwen3vl_agent.screen.wayland_capture import WaylandGrabber
from qwen3vl_agent.screen.wayland_still import still_layout
from qwen3vl_agent.wayland.bus import WaylandDesktopError
from qwen3vl_agent.wayland.portal_session import PortalSession
from qwen3vl_agent.wayland.remote import WaylandMonitor
from qwen3vl_agent.wayland.screenshot import ScreenshotTimeoutError, take_screenshot
from tests.support.form_app_fixture import FormApp
from tests.support.wayland_session import KDE_SCREENSHOT_QML, WaylandSession
from tests.support.xvfb import MonitorRect

pytestmark = [pytest.mark.wayland, pytest.mark.timeout(180)]

DRAG_PAD_RGB = (0xDD, 0xE8, 0xFF)  # the form's drag pad background (form_app.py)


def _near(pixel: tuple[int, ...], rgb: tuple[int, int, int], tolerance: int = 6) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, rgb, strict=False))


def _pictures(session: WaylandSession) -> list[Path]:
    return sorted((session.runtime_dir.parent / "pictures").glob("*"))


@pytest.fixture
def kde_form(kde: WaylandSession, tmp_path: Path) -> Iterator[FormApp]:
    """The Qt test form natively on KWin, full screen; skipped without the portal dialog's QML."""
    missing = [p for p in KDE_SCREENSHOT_QML if not os.path.exists(p)]
    if missing:
        pytest.skip(
            f"xdg-desktop-portal-kde's screenshot dialog needs {missing} (scripts/install-system-deps.sh)"
        )
    app = FormApp(None, MonitorRect(1, 0, 0, *kde.points), tmp_path, env=kde.env(), platform="wayland")
    try:
        app.reset()
        yield app
    finally:
        app.close()


def _shows_the_form(image: Image.Image, form: FormApp) -> None:
    left, top, w, h = form.widget_rect("drag_pad")
    assert _near(image.getpixel((left + w // 2, top + h // 2)), DRAG_PAD_RGB)
    colours = image.convert("L").getextrema()
    assert colours[0] < 60 and colours[1] > 200  # text and background: not a black (or blank) picture


def test_kde_screenshot_portal_shows_the_form(kde_form: FormApp, kde: WaylandSession) -> None:
    deadline = time.monotonic() + 20
    while True:  # the form may still be mapping
        image = take_screenshot()
        assert image.size == kde.size and image.mode == "RGB"
        left, top, w, h = kde_form.widget_rect("drag_pad")
        if _near(image.getpixel((left + w // 2, top + h // 2)), DRAG_PAD_RGB) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    _shows_the_form(image, kde_form)
    assert _pictures(kde) == []  # the file the desktop wrote is gone


def test_kde_capturer_on_still_frames(kde_form: FormApp, kde: WaylandSession) -> None:
    """`wayland_capture = "screenshot"`: no stream, one portal call per capture; a region is cut
    from the desktop's picture at the right place."""
    with ScreenCapturer(wayland_capture="screenshot") as capturer:
        shot = capturer.capture(CaptureTarget.monitor(1))
        assert shot.size == kde.size and shot.geometry.scale == 1.0
        _shows_the_form(shot.image, kde_form)
        left, top, w, h = kde_form.widget_rect("drag_pad")
        pad = capturer.capture(CaptureTarget.region(Rect(left + 10, top + 10, w - 20, h - 20)))
        assert pad.size == (w - 20, h - 20)
        assert all(_near(c, DRAG_PAD_RGB) for _n, c in pad.image.getcolors(1 << 16) or [])
    assert _pictures(kde) == []


def test_auto_uses_still_frames_where_there_is_no_screen_cast_route(kde_form: FormApp) -> None:
    """KDE has no Mutter API: with the route forced to "mutter" there is no screen cast at all,
    and "auto" captures from the Screenshot portal instead of refusing."""
    with ScreenCapturer(wayland_route="mutter", wayland_capture="auto") as capturer:
        _shows_the_form(capturer.capture(CaptureTarget.monitor(1)).image, kde_form)
    capturer = ScreenCapturer(wayland_route="mutter", wayland_capture="screencast")
    with capturer, pytest.raises(WaylandSessionError, match="only GNOME's Mutter"):
        capturer.capture(CaptureTarget.monitor(1))


def test_a_refused_screen_share_is_not_answered_with_a_screenshot(kde_form: FormApp) -> None:
    """The ScreenCast portal's answer "the user cancelled" stands: no picture is taken through
    the other portal behind the person's back. (Here the refusal is real but not a person's:
    xdg-desktop-portal-kde answers a capture-only session so when its chooser dialog cannot load
    without plasma-workspace.)"""
    capturer = ScreenCapturer(wayland_route="portal", wayland_capture="auto")
    with capturer, pytest.raises(CaptureError, match="the user cancelled"):
        capturer.capture(CaptureTarget.monitor(1))


def test_kde_agent_round_trip_on_still_frames(kde_form: FormApp, kde: WaylandSession) -> None:
    """What the agent's loop does on KDE where the screen cast sends nothing: its session opens
    (the stream's layout known), the first grab waits for a frame that never comes (KWin
    `--virtual`), and captures go on from the Screenshot portal, laid over that layout. Then a
    click and typing through KDE's RemoteDesktop portal show in the next capture."""
    grabber = WaylandGrabber("portal", "auto", opener=lambda _route: PortalSession(remote_desktop=True))
    backend = PortalBackend()
    try:
        monitors = grabber.monitors()
        assert not grabber.still and monitors[1].name == "portal-1"
        whole = CaptureGeometry.of_monitor(monitors[1])
        first = grabber.grab(whole)  # no frame within the wait: the Screenshot portal
        assert grabber.still and grabber.fell_back is not None and "no frame" in grabber.fell_back
        _shows_the_form(first, kde_form)
        after = grabber.monitors()
        assert [m.rect for m in after] == [Rect(0, 0, *kde.size)] * 2 and after[1].name == "portal-1"
        left, top, w, h = kde_form.widget_rect("name")
        field = (left + 4, top + 4, left + w // 2, top + h - 4)
        assert (
            grabber.grab(CaptureGeometry.of_monitor(after[1])).crop(field).convert("L").getextrema()[0] > 150
        )
        backend.perform(MoveTo(left + w // 2, top + h // 2))
        backend.perform(ButtonDown("left"))
        backend.perform(ButtonUp("left"))
        kde_form.wait_for(lambda s: s["focus"] == "name")
        backend.perform(WriteText("WWW"))
        kde_form.wait_for(lambda s: s["name"] == "WWW")
        deadline = time.monotonic() + 10
        while True:  # the text shows once KWin has repainted
            grabber.monitors()
            typed = grabber.grab(whole).crop(field).convert("L").getextrema()[0]
            if typed < 100 or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        assert typed < 100, "the typed text did not show in the still frame"
    finally:
        backend.close()
        grabber.close()


def test_gnome_screenshot_portal_without_gnome_shell_is_one_clear_error(wayland: WaylandSession) -> None:
    """xdg-desktop-portal-gnome 43 takes the picture through gnome-shell; a bare headless Mutter
    has none, and the backend then never answers: a real call, ended by the wait."""
    started = time.monotonic()
    with pytest.raises(ScreenshotTimeoutError) as info:
        take_screenshot(timeout_s=3)
    assert time.monotonic() - started < 30
    assert "no screenshot within 3 s" in str(info.value) and "gnome-shell" in (info.value.hint or "")


def test_no_portal_on_the_bus_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    address = f"unix:path={tmp_path}/bus"
    daemon = subprocess.Popen(
        ["dbus-daemon", "--session", "--nofork", "--nopidfile", f"--address={address}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while not (tmp_path / "bus").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", address)
        with pytest.raises(WaylandDesktopError, match="xdg-desktop-portal is not running"):
            take_screenshot()
    finally:
        daemon.terminate()
        daemon.wait(timeout=10)


def test_still_layout_maps_the_desktop_picture_onto_the_monitors() -> None:
    """The portal's picture is the whole desktop at the largest scale: monitors known in points
    (two, the second at 1.5 and right of the first) land at their pixel places; without a layout
    the picture is one monitor at scale 1; a picture that does not fit the layout is taken as one."""
    layout = [
        WaylandMonitor("DP-1", 0, 0, 1280, 800, 1.5, True),
        WaylandMonitor("DP-2", 1280, 0, 1024, 768, 1.5),
    ]
    desktop, first, second = still_layout((3456, 1200), layout)
    assert desktop.rect == Rect(0, 0, 3456, 1200) and desktop.scale == 1.5
    assert first.rect == Rect(0, 0, 1920, 1200) and first.name == "DP-1" and first.is_primary
    assert second.rect == Rect(1920, 0, 1536, 1152) and second.origin_points == (1280, 0)
    assert [m.rect for m in still_layout((1280, 800), None)] == [Rect(0, 0, 1280, 800)] * 2
    assert len(still_layout((1000, 1000), layout)) == 2
