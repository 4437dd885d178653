"""Capture on a real headless GNOME Wayland session: the native Qt form comes out with its own
pixels (not black, as XWayland's root would show it) through Mutter's screen-cast stream."""

from __future__ import annotations

import json
import time

import pytest

from qwen3vl_agent.config import load_settings
from qwen3vl_agent.screen.capture import CaptureTarget, ScreenCapturer
from qwen3vl_agent.screen.geometry import Rect
from qwen3vl_agent.screen.session import WaylandSessionError
from tests.support.form_app_fixture import FormApp
from tests.support.wayland_session import WaylandSession

pytestmark = [pytest.mark.wayland, pytest.mark.timeout(180)]

DRAG_PAD_RGB = (0xDD, 0xE8, 0xFF)  # the form's drag pad background (form_app.py)


def _near(pixel: tuple[int, ...], rgb: tuple[int, int, int], tolerance: int = 6) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, rgb, strict=False))


def test_monitors_come_from_the_compositor(wayland: WaylandSession) -> None:
    with ScreenCapturer() as capturer:
        monitors = capturer.list_monitors()
    width, height = wayland.size
    assert [m.rect for m in monitors] == [Rect(0, 0, width, height)] * 2
    assert monitors[1].name == "Meta-0" and monitors[1].is_primary and monitors[1].scale == 1.0


def test_the_native_form_is_captured_with_its_pixels(wayland_form: FormApp, wayland: WaylandSession) -> None:
    left, top, w, h = wayland_form.widget_rect("drag_pad")
    with ScreenCapturer.from_settings(load_settings()) as capturer:
        for _ in range(50):  # a window that was just shown fades in (Mutter's map animation)
            shot = capturer.capture(CaptureTarget.monitor(1))
            if _near(shot.image.getpixel((left + w // 2, top + h // 2)), DRAG_PAD_RGB):
                break
            time.sleep(0.1)
        pad = capturer.capture(CaptureTarget.region(Rect(left + 10, top + 10, 40, 30)))
    assert shot.size == wayland.size
    assert shot.image.getextrema() != ((0, 0), (0, 0), (0, 0))
    assert _near(shot.image.getpixel((left + w // 2, top + h // 2)), DRAG_PAD_RGB)
    # a region is cut from the same stream, at the same place
    assert pad.size == (40, 30) and pad.geometry.origin_points == (left + 10, top + 10)
    colors = pad.image.getcolors()
    assert colors is not None and len(colors) == 1 and _near(colors[0][1], DRAG_PAD_RGB)


def test_privacy_masks_apply_to_wayland_frames(
    wayland_form: FormApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    left, top, w, h = wayland_form.widget_rect("drag_pad")
    rect = {"left": left, "top": top, "width": w, "height": h}
    monkeypatch.setenv("QWEN3VL_AGENT_PRIVACY__MASKED_RECTS", json.dumps([rect]))
    with ScreenCapturer.from_settings(load_settings()) as capturer:
        shot = capturer.capture(CaptureTarget.monitor(1))
    assert shot.image.getpixel((left + w // 2, top + h // 2)) == (0, 0, 0)
    assert shot.masked == (Rect(left, top, w, h),)


def test_without_mutter_on_the_bus_the_refusal_says_what_is_missing(
    wayland: WaylandSession, monkeypatch: pytest.MonkeyPatch, tmp_path: pytest.TempPathFactory
) -> None:
    """A Wayland session whose compositor has no screen-cast API (here: a bus address where no bus
    listens, as on a compositor without D-Bus): one clear refusal that names what to install."""
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", f"unix:path={tmp_path}/no-bus")
    with ScreenCapturer() as capturer, pytest.raises(WaylandSessionError) as info:
        capturer.capture()
    text = str(info.value)
    assert "Wayland only (GNOME)" in text and "gstreamer1.0-pipewire" in text and "--workspace" in text


def test_window_title_masks_refuse_rather_than_leak(
    wayland: WaylandSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Windows of other apps cannot be listed on Wayland: a title mask could not be honoured."""
    from qwen3vl_agent.errors import CaptureError

    monkeypatch.setenv("QWEN3VL_AGENT_PRIVACY__MASKED_WINDOW_TITLES", '["Password Manager"]')
    with ScreenCapturer.from_settings(load_settings()) as capturer, pytest.raises(CaptureError) as info:
        capturer.capture()
    assert "masked_rects" in str(info.value)
