"""Capture on a real X server (Xvfb, two monitors): pixels, geometry, masks and failures."""

from __future__ import annotations

import asyncio
import sys
import threading

import pytest

from qwen3vl_agent.config import PrivacySettings
from qwen3vl_agent.config import Rect as RectSetting
from qwen3vl_agent.errors import CaptureError
from qwen3vl_agent.screen.capture import CaptureTarget, ScreenCapturer, capture_async, hidden
from qwen3vl_agent.screen.coordinates import ensure_capture_still_valid, model_to_point, point_to_model
from qwen3vl_agent.screen.geometry import CaptureGeometry, Rect
from qwen3vl_agent.screen.windows import find_windows
from tests.support.x11_windows import ColorWindow
from tests.support.xvfb import XvfbDisplay, start_xvfb, stop_xvfb

pytestmark = pytest.mark.xvfb

RED = (255, 0, 0)
GREEN = (0, 200, 0)
BLACK = (0, 0, 0)


@pytest.fixture
def capturer(xvfb: XvfbDisplay):  # type: ignore[no-untyped-def]
    with ScreenCapturer() as c:
        yield c


@pytest.fixture
def red_window(xvfb: XvfbDisplay):  # type: ignore[no-untyped-def]
    """A red 300x200 window on the second monitor at desktop (2020, 276)."""
    with ColorWindow(xvfb.name, "Secret Ledger", 2020, 276, 300, 200, RED) as w:
        yield w


def test_monitors_and_desktop(capturer: ScreenCapturer, xvfb: XvfbDisplay) -> None:
    monitors = capturer.list_monitors()
    assert monitors[0].rect == Rect(0, 0, xvfb.width, xvfb.height)
    assert [(m.index, m.rect) for m in monitors[1:]] == [
        (m.index, Rect(m.left, m.top, m.width, m.height)) for m in xvfb.monitors
    ]
    assert all(m.scale == 1.0 for m in monitors)
    shot = capturer.capture(CaptureTarget.desktop())
    assert shot.size == (xvfb.width, xvfb.height)
    assert shot.geometry.monitor_index == 0 and shot.image.mode == "RGB"


def test_second_monitor_pixels_and_geometry(capturer: ScreenCapturer, red_window: ColorWindow) -> None:
    shot = capturer.capture(CaptureTarget.monitor(2))
    g = shot.geometry
    assert shot.size == (1280, 1024)
    assert (g.rect, g.monitor_index, g.scale) == (Rect(1920, 176, 1280, 1024), 2, 1.0)
    # the window is at desktop (2020, 276) -> (100, 100) in this screenshot
    assert shot.image.getpixel((100, 100)) == RED
    assert shot.image.getpixel((399, 299)) == RED
    assert shot.image.getpixel((99, 150)) == BLACK
    assert shot.image.getpixel((400, 150)) == BLACK
    # a click in model space on the window's centre lands on the window's centre on the desktop
    mx, my = point_to_model(2020 + 150, 276 + 100, g)
    assert model_to_point(mx, my, g) == (2170, 376)
    assert model_to_point(500, 500, g) == (1920 + 640, 176 + 512)


def test_window_by_title(capturer: ScreenCapturer, red_window: ColorWindow, xvfb: XvfbDisplay) -> None:
    found = find_windows("secret ledger")
    assert [(w.title, w.rect) for w in found] == [("Secret Ledger", Rect(2020, 276, 300, 200))]
    assert find_windows("Secret", exact=True) == []
    shot = capturer.capture(CaptureTarget.window("Secret Ledger"))
    assert shot.size == (300, 200)
    assert shot.geometry.monitor_index == 2 and shot.geometry.origin_points == (2020, 276)
    colours = shot.image.getcolors()
    assert colours == [(300 * 200, RED)]
    assert model_to_point(0, 0, shot.geometry) == (2020, 276)
    assert model_to_point(1000, 1000, shot.geometry) == (2319, 475)
    with pytest.raises(CaptureError, match="No visible window titled 'Nope'"):
        capturer.capture(CaptureTarget.window("Nope"))


def test_region_across_monitors_and_clipping(capturer: ScreenCapturer, red_window: ColorWindow) -> None:
    shot = capturer.capture(CaptureTarget.region(Rect(1900, 300, 200, 50)))
    assert shot.size == (200, 50)
    assert shot.image.getpixel((119, 10)) == BLACK and shot.image.getpixel((120, 10)) == RED
    assert shot.geometry.monitor_index == 2  # most of it is on monitor 2
    clipped = capturer.capture(CaptureTarget.region(Rect(3100, 1100, 500, 500)))
    assert clipped.geometry.rect == Rect(3100, 1100, 100, 100)
    with pytest.raises(CaptureError, match="outside the desktop"):
        capturer.capture(CaptureTarget.region(Rect(5000, 0, 10, 10)))
    with pytest.raises(CaptureError, match="empty"):
        capturer.capture(CaptureTarget.region(Rect(10, 10, 0, 5)))


def test_privacy_masks_by_rect_and_by_window_title(xvfb: XvfbDisplay, red_window: ColorWindow) -> None:
    with ColorWindow(xvfb.name, "Holiday photos", 100, 100, 200, 100, GREEN):
        privacy = PrivacySettings(
            masked_rects=[RectSetting(left=0, top=0, width=50, height=50)],
            masked_window_titles=["secret ledger"],
        )
        with ScreenCapturer(privacy=privacy) as c:
            desktop = c.capture()
            mon2 = c.capture(CaptureTarget.monitor(2))
            window = c.capture(CaptureTarget.window("Secret Ledger"))
    # the masked window is black everywhere it appears; the other window is untouched
    assert desktop.image.crop((2020, 276, 2320, 476)).getcolors() == [(300 * 200, BLACK)]
    assert mon2.image.crop((100, 100, 400, 300)).getcolors() == [(300 * 200, BLACK)]
    assert window.image.getcolors() == [(300 * 200, BLACK)]
    assert desktop.image.crop((100, 100, 300, 200)).getcolors() == [(200 * 100, GREEN)]
    assert Rect(2020, 276, 300, 200) in desktop.masked and Rect(0, 0, 50, 50) in desktop.masked
    assert Rect(0, 0, 50, 50) not in mon2.masked  # that rectangle is not on monitor 2


def test_own_windows_are_left_out(xvfb: XvfbDisplay) -> None:
    with ColorWindow(xvfb.name, "qwen3vl-agent", 500, 500, 100, 100, GREEN):
        with ScreenCapturer(exclude_rects=lambda: [Rect(500, 500, 100, 100)]) as c:
            shot = c.capture(CaptureTarget.monitor(1))
        assert shot.image.crop((500, 500, 600, 600)).getcolors() == [(100 * 100, BLACK)]
        # or hidden around the grab: the callbacks run around every grab, show even after a failure
        calls: list[str] = []
        with ScreenCapturer(
            around_grab=lambda: hidden(lambda: calls.append("hide"), lambda: calls.append("show"))
        ) as c:
            c.capture(CaptureTarget.monitor(1))
        assert calls == ["hide", "show"]


def test_masks_fail_closed_when_windows_cannot_be_looked_up(xvfb: XvfbDisplay) -> None:
    def broken(title: str) -> list:  # type: ignore[type-arg]
        raise CaptureError("Cannot look up windows: test finder is broken.")

    with (
        ScreenCapturer(privacy=PrivacySettings(masked_window_titles=["Bank"]), window_finder=broken) as c,
        pytest.raises(CaptureError, match="Cannot look up windows"),
    ):
        c.capture()


async def test_capture_async_runs_off_the_event_loop(capturer: ScreenCapturer) -> None:
    loop_thread = threading.get_ident()
    threads: set[int] = set()

    def record() -> list[Rect]:
        threads.add(threading.get_ident())
        return []

    capturer.exclude_rects = record
    shots = await asyncio.gather(
        *(capturer.capture_async(CaptureTarget.monitor(i % 2 + 1)) for i in range(6))
    )
    assert [s.geometry.monitor_index for s in shots] == [1, 2, 1, 2, 1, 2]
    assert len(threads) == 1 and loop_thread not in threads
    shot = await capture_async(CaptureTarget.monitor(1), capturer)
    assert shot.size == (1920, 1080)


def test_many_threads_share_one_capturer(capturer: ScreenCapturer) -> None:
    results: list[tuple[int, int]] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(3):
                results.append(capturer.capture(CaptureTarget.monitor(2)).size)
        except BaseException as exc:
            errors.append(exc)

    workers = [threading.Thread(target=work) for _ in range(4)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    assert not errors and results == [(1280, 1024)] * 12


def test_monitor_that_does_not_exist(capturer: ScreenCapturer) -> None:
    with pytest.raises(
        CaptureError, match=r"Monitor 3 does not exist .* 2 monitor\(s\): 1: 1920x1080 at \(0, 0\)"
    ):
        capturer.capture(CaptureTarget.monitor(3))


def test_unplugged_monitor(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A private server: monitor 2 disappears between the screenshot and the action."""
    proc, disp = start_xvfb((2600, 1000), ((0, 0, 1600, 1000), (1600, 0, 1000, 800)), tmp_path)
    try:
        mp = pytest.MonkeyPatch()
        mp.setenv("DISPLAY", disp.name)
        mp.setenv("XAUTHORITY", str(disp.xauthority))
        with ScreenCapturer() as c:
            shot = c.capture(CaptureTarget.monitor(2))
            ensure_capture_still_valid(shot.geometry, c.list_monitors())
            _delete_monitor(disp.name, "TEST-2")
            now = c.list_monitors()
            assert len(now) == 2
            with pytest.raises(CaptureError, match="Monitor 2 of the screenshot is no longer connected"):
                ensure_capture_still_valid(shot.geometry, now)
            with pytest.raises(CaptureError, match="Monitor 2 does not exist"):
                c.capture(CaptureTarget.monitor(2))
    finally:
        mp.undo()
        stop_xvfb(proc)


def _delete_monitor(display_name: str, name: str) -> None:
    from Xlib import display as xdisplay
    from Xlib.ext import randr

    d = xdisplay.Display(display_name)
    try:
        randr.delete_monitor(d.screen().root, d.intern_atom(name))
        d.sync()
    finally:
        d.close()


def test_no_display_at_all(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    with ScreenCapturer() as c, pytest.raises(CaptureError, match="No display to capture"):
        c.capture()


def test_display_that_is_not_running(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("DISPLAY", ":4711")
    monkeypatch.setenv("XAUTHORITY", str(tmp_path / "none"))
    with ScreenCapturer() as c, pytest.raises(CaptureError, match="Cannot open the display"):
        c.capture()


def test_geometry_of_a_screenshot_is_serialisable(capturer: ScreenCapturer) -> None:
    g = capturer.capture(CaptureTarget.monitor(2)).geometry
    assert CaptureGeometry.from_json(g.to_json()) == g


def test_configured_input_scale_maps_pixels_to_points(xvfb: XvfbDisplay) -> None:
    """A HiDPI override (settings.screen.input_scale): capture pixels stay, device points shrink."""
    with ScreenCapturer(input_scale=2.0) as c:
        shot = c.capture(CaptureTarget.monitor(2))
    g = shot.geometry
    assert shot.size == (1280, 1024) and g.scale == 2.0
    assert g.origin_points == (960, 88)
    assert model_to_point(0, 0, g) == (960, 88)
    assert model_to_point(1000, 1000, g) == (960 + 639, 88 + 511)


def test_a_grab_larger_than_its_rect_is_a_retina_capture() -> None:
    """macOS: mss rects are points and the image comes back in pixels (not producible on X11)."""
    from qwen3vl_agent.screen.capture import _fit_image

    g = CaptureGeometry(Rect(-1440, 0, 1440, 900), monitor_index=2)
    fitted = _fit_image(g, 2880, 1800)
    assert fitted.rect == Rect(-2880, 0, 2880, 1800) and fitted.scale == 2.0
    assert fitted.origin_points == (-1440, 0)
    assert model_to_point(500, 500, fitted) == (-720, 450)
    assert _fit_image(g, 1440, 900) is g


def test_detected_scale_on_x11_is_one() -> None:
    from qwen3vl_agent.screen.capture import detect_input_scale

    assert detect_input_scale(Rect(0, 0, 3200, 1200)) == 1.0


def test_capturer_from_settings(xvfb: XvfbDisplay) -> None:
    from qwen3vl_agent.config import Settings

    settings = Settings(
        privacy={"masked_rects": [{"left": 0, "top": 0, "width": 10, "height": 10}]},  # type: ignore[arg-type]
        screen={"input_scale": 1.5},  # type: ignore[arg-type]
    )
    with ScreenCapturer.from_settings(settings, own_windows=lambda: [Rect(20, 20, 5, 5)]) as c:
        shot = c.capture(CaptureTarget.monitor(1))
    assert shot.geometry.scale == 1.5
    assert set(shot.masked) == {Rect(0, 0, 10, 10), Rect(20, 20, 5, 5)}


def test_xdotool_fallback_finds_the_same_window(red_window: ColorWindow) -> None:
    import shutil

    from qwen3vl_agent.screen.windows import _find_with_xdotool

    if shutil.which("xdotool") is None:
        pytest.skip("xdotool is not installed")
    assert [(w.title, w.rect) for w in _find_with_xdotool("secret ledger", exact=False)] == [
        ("Secret Ledger", Rect(2020, 276, 300, 200))
    ]


def test_mss_factory_works_with_mss_9_and_10(monkeypatch: pytest.MonkeyPatch) -> None:
    """mss 10 has `MSS`, mss 9 only `mss` (a fake module stands in for the version not installed)."""
    import types

    import mss

    from qwen3vl_agent.screen.capture import _mss_factory

    assert _mss_factory() is getattr(mss, "MSS", mss.mss)
    old_style = types.SimpleNamespace(mss=lambda **kw: "mss9-instance")
    monkeypatch.setitem(sys.modules, "mss", old_style)
    assert _mss_factory()() == "mss9-instance"


def test_a_closed_capturer_says_so(xvfb: XvfbDisplay) -> None:
    c = ScreenCapturer()
    c.close()
    c.close()  # idempotent
    with pytest.raises(CaptureError, match="closed"):
        c.capture()
