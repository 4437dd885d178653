"""The headless GNOME Wayland session of the tests: Mutter's APIs, the portals, a native Qt window."""

from __future__ import annotations

import pytest

from qwen3vl_agent.screen.session import current_session
from qwen3vl_agent.wayland.bus import Bus
from tests.support.form_app_fixture import FormApp
from tests.support.wayland_session import WaylandSession

pytestmark = [pytest.mark.wayland, pytest.mark.timeout(180)]

PORTAL = "org.freedesktop.portal.Desktop"


def test_session_is_detected_as_wayland_only(wayland: WaylandSession) -> None:
    session = current_session()
    assert session.kind == "wayland"
    assert session.compositor == "GNOME"
    assert session.wayland_display == wayland.wayland_display


def test_mutter_and_the_portals_answer_on_the_private_bus(wayland: WaylandSession) -> None:
    bus = Bus()
    try:
        for name in ("org.gnome.Mutter.ScreenCast", "org.gnome.Mutter.RemoteDesktop", PORTAL):
            assert bus.has_name(name), name
        versions = {
            iface: bus.get_property(
                PORTAL, "/org/freedesktop/portal/desktop", f"org.freedesktop.portal.{iface}", "version"
            )
            for iface in ("ScreenCast", "RemoteDesktop", "Screenshot")
        }
    finally:
        bus.close()
    assert versions["ScreenCast"] >= 4 and versions["RemoteDesktop"] >= 1 and versions["Screenshot"] >= 1


def test_the_qt_form_runs_natively_full_screen(wayland_form: FormApp, wayland: WaylandSession) -> None:
    window = wayland_form.geometry()["window"]
    assert window == [0, 0, *wayland.size]
    name = wayland_form.widget_rect("name")
    assert 0 < name[0] < wayland.size[0] and 0 <= name[1] < wayland.size[1]
