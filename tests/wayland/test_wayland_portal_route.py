"""The portal route end to end on the headless GNOME session, forced by `screen.wayland_route`:
capture through a ScreenCast portal session and input through a RemoteDesktop portal session,
as on KDE Plasma or a wlroots desktop, where GNOME's own API is not there.

The consent dialogs are answered by `ConsentPerson` (tests/support/portal_consent.py), a test
thread that plays the user through GNOME's own API. Capture: the first session asks, the next
one starts from the saved restore token without any dialog. Input: this portal
(xdg-desktop-portal 1.16, RemoteDesktop version 1) cannot keep a remote-desktop consent, so each
new input session asks again; that is checked too, as the limit it is.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from qwen3vl_agent.actions.model import Action, ActionType, ResolvedAction
from qwen3vl_agent.agents.form_fill import BatchOptions, run_batch
from qwen3vl_agent.agents.wiring import open_store
from qwen3vl_agent.config import ExecutorSettings, SafetySettings, load_settings
from qwen3vl_agent.executor import ActionExecutor, ExecutionStopped
from qwen3vl_agent.executor.errors import ClipboardError
from qwen3vl_agent.executor.plan import KeyDown
from qwen3vl_agent.executor.wayland_backend import PortalBackend
from qwen3vl_agent.screen.capture import CaptureTarget, ScreenCapturer
from qwen3vl_agent.screen.coordinates import point_to_model, resolve_action
from qwen3vl_agent.screen.geometry import CaptureGeometry, Rect
from qwen3vl_agent.screen.session import live_desktop_route
from qwen3vl_agent.wayland.bus import Bus
from qwen3vl_agent.wayland.portal import REMOTE_DESKTOP, load_restore_token, portal_version
from qwen3vl_agent.wayland.probe import pick_route
from tests.agents.test_agent_fill_e2e import expected, settings_for, write_csv
from tests.support.agent_runs import agent_session
from tests.support.form_app_fixture import FormApp
from tests.support.policy_server import PolicyServer, form_planner
from tests.support.portal_consent import ConsentPerson
from tests.support.wayland_session import WaylandSession

pytestmark = [pytest.mark.wayland, pytest.mark.timeout(240)]

A = ActionType
DRAG_PAD_RGB = (0xDD, 0xE8, 0xFF)  # the form's drag pad background (form_app.py)


def _near(pixel: tuple[int, ...], rgb: tuple[int, int, int], tolerance: int = 6) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, rgb, strict=False))


def test_the_route_follows_the_setting(wayland: WaylandSession, monkeypatch: pytest.MonkeyPatch) -> None:
    def route(setting: Any) -> str:
        return live_desktop_route("act", allow_xwayland=False, need_input=True, wayland_route=setting)

    assert (route("auto"), route("mutter"), route("portal")) == ("mutter", "mutter", "portal")
    monkeypatch.setenv("QWEN3VL_AGENT_SCREEN__WAYLAND_ROUTE", "portal")
    with ScreenCapturer.from_settings(load_settings()) as capturer:
        assert capturer.wayland_route == "portal"


def test_without_mutter_auto_means_the_portal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A session bus with neither GNOME's API nor the portal on it (a real, bare dbus-daemon):
    "auto" asks for the portal and says it is missing; "mutter" says only GNOME has that API."""
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
        route, problem = pick_route("auto", need_input=True)
        assert route is None and problem is not None and "xdg-desktop-portal is not running" in problem
        route, problem = pick_route("mutter", need_input=False)
        assert route is None and problem is not None and "only GNOME's Mutter" in problem
    finally:
        daemon.terminate()
        daemon.wait(timeout=10)


def test_capture_asks_once_then_starts_from_the_restore_token(
    wayland: WaylandSession, wayland_form: FormApp
) -> None:
    wayland.size == (1280, 800) or pytest.skip("the dialog positions are for a 1280x800 monitor")
    wayland_form.send("hide")  # the dialog on a bare desktop
    with ConsentPerson() as person, ScreenCapturer(wayland_route="portal") as capturer:
        first = capturer.list_monitors()  # opens the session: the dialog, answered by the person
        assert person.wait_answered(1) == ["screencast"]
    assert load_restore_token("screencast") and [m.rect for m in first] == [Rect(0, 0, *wayland.size)] * 2

    wayland_form.reset()  # shown again
    left, top, w, h = wayland_form.widget_rect("drag_pad")
    with ConsentPerson() as nobody, ScreenCapturer(wayland_route="portal") as capturer:
        for _ in range(50):  # a window that was just shown fades in
            shot = capturer.capture(CaptureTarget.monitor(1))
            if _near(shot.image.getpixel((left + w // 2, top + h // 2)), DRAG_PAD_RGB):
                break
            time.sleep(0.1)
        pad = capturer.capture(CaptureTarget.region(Rect(left + 10, top + 10, 40, 30)))
        assert nobody.seen == []  # no dialog: the restore token granted it
    assert shot.size == wayland.size and shot.geometry.scale == 1.0
    assert _near(shot.image.getpixel((left + w // 2, top + h // 2)), DRAG_PAD_RGB)
    colors = pad.image.getcolors()
    assert colors is not None and len(colors) == 1 and _near(colors[0][1], DRAG_PAD_RGB)


@pytest.fixture
def person(wayland: WaylandSession) -> Iterator[ConsentPerson]:
    wayland.size == (1280, 800) or pytest.skip("the dialog positions are for a 1280x800 monitor")
    with ConsentPerson() as someone:
        yield someone


@pytest.fixture
def geometry(wayland: WaylandSession) -> CaptureGeometry:
    with ScreenCapturer(wayland_route="mutter") as capturer:  # the same pixels as the portal's
        return capturer.capture(CaptureTarget.monitor(1)).geometry


@pytest.fixture
def executor(wayland_form: FormApp, person: ConsentPerson) -> Iterator[ActionExecutor]:
    ex = ActionExecutor(
        SafetySettings(mode="auto"), ExecutorSettings(stop_hotkey_enabled=False), backend=PortalBackend()
    )
    try:
        ex._backend.monitors()  # opens the remote-desktop session: the dialog, answered
        assert person.wait_answered(1) == ["remotedesktop"]  # the dialog came over the form, went
        yield ex
    finally:
        ex.close()


def on(
    form: FormApp, geometry: CaptureGeometry, kind: ActionType, widget: str, dx: int | None = None, **kw: Any
) -> ResolvedAction:
    """An action at the widget's centre (or `dx` points from its left edge), in model space."""
    x, y = form.widget_center(widget)
    if dx is not None:
        x = form.widget_rect(widget)[0] + dx
    mx, my = point_to_model(x, y, geometry)
    return resolve_action(Action(kind, coordinate=(round(mx), round(my)), **kw), geometry)


def test_clicks_typing_keys_and_scroll_through_the_portal(
    wayland_form: FormApp, geometry: CaptureGeometry, executor: ActionExecutor
) -> None:
    assert executor._backend.session.route == "portal"
    action = on(wayland_form, geometry, A.LEFT_CLICK, "subscribe", dx=40)  # on its label
    executor.execute_sync(action)
    click = wayland_form.wait_for(lambda s: s["subscribe"] is True)["last_click"]
    assert click["widget"] == "subscribe" and (click["x"], click["y"]) == action.point  # exact
    executor.execute_sync(on(wayland_form, geometry, A.LEFT_CLICK, "name"))
    wayland_form.wait_for(lambda s: s["focus"] == "name")
    executor.execute_sync(ResolvedAction(Action(A.TYPE, text="Ada Lovelace-1815!")))
    wayland_form.wait_for(lambda s: s["name"] == "Ada Lovelace-1815!")
    executor.execute_sync(ResolvedAction(Action(A.KEY, keys=["ctrl", "a"])))
    executor.execute_sync(ResolvedAction(Action(A.KEY, keys=["backspace"])))
    wayland_form.wait_for(lambda s: s["name"] == "")
    executor.execute_sync(ResolvedAction(Action(A.KEY, keys=["ctrl", "shift", "k"])))
    wayland_form.wait_for(lambda s: s["last_shortcut"] == "ctrl+shift+k")
    executor.execute_sync(on(wayland_form, geometry, A.SCROLL, "scroll", pixels=-300))
    wayland_form.wait_for(lambda s: s["scroll"]["v"] > 0)
    executor.execute_sync(on(wayland_form, geometry, A.RIGHT_CLICK, "drag_pad"))
    click = wayland_form.wait_for(lambda s: (s["last_click"] or {}).get("button") == "right")["last_click"]
    assert click["widget"] == "drag_pad"


def test_text_without_a_clipboard_is_refused_before_any_key(
    wayland_form: FormApp, geometry: CaptureGeometry, executor: ActionExecutor
) -> None:
    """This portal has no Clipboard interface and keysyms off the keyboard map are dropped:
    "Zürich" is refused whole, saying why, and nothing of it reaches the field."""
    executor.execute_sync(on(wayland_form, geometry, A.LEFT_CLICK, "city"))
    wayland_form.wait_for(lambda s: s["focus"] == "city")
    with pytest.raises(ClipboardError) as info:
        executor.execute_sync(ResolvedAction(Action(A.TYPE, text="Zürich")))
    assert "no Clipboard portal" in str(info.value) and "wayland_route" in str(info.value)
    executor.execute_sync(ResolvedAction(Action(A.TYPE, text="Zurich")))  # keys come in order:
    assert wayland_form.wait_for(lambda s: s["city"].endswith("ich"))["city"] == "Zurich"  # none before


def test_a_stop_releases_held_keys(wayland_form: FormApp, executor: ActionExecutor) -> None:
    backend = executor._backend
    wayland_form.send("focus", widget="name")
    backend.perform(KeyDown("shift"))
    executor.stop("user")
    with pytest.raises(ExecutionStopped):
        executor.execute_sync(ResolvedAction(Action(A.TYPE, text="x")))
    assert backend.release_all() == ["key shift"]
    executor.resume()
    executor.execute_sync(ResolvedAction(Action(A.TYPE, text="abc")))
    wayland_form.wait_for(lambda s: s["name"] == "abc")


def test_refused_control_and_the_consent_kept_or_not(
    wayland: WaylandSession, wayland_form: FormApp, person: ConsentPerson
) -> None:
    """Shared the screen but not the keyboard and pointer: a clear refusal. The consent of a
    remote-desktop session is kept only from RemoteDesktop version 2 on."""
    wayland_form.send("hide")
    person.allow_input = False
    refused = PortalBackend()
    try:
        with pytest.raises(Exception) as info:
            refused.monitors()
        assert "did not allow both keyboard and pointer" in str(info.value)
    finally:
        refused.close()
    assert person.wait_answered(1) == ["remotedesktop"]
    person.allow_input = True
    bus = Bus()
    try:
        version = portal_version(bus, REMOTE_DESKTOP)
    finally:
        bus.close()
    for _run in range(2):
        backend = PortalBackend()
        try:
            backend.monitors()
        finally:
            backend.close()
    if version >= 2:
        assert person.wait_answered(2) == ["remotedesktop"] * 2 and load_restore_token("remotedesktop")
    else:  # Debian 12: every new session asks; no token is offered
        assert (
            person.wait_answered(3) == ["remotedesktop"] * 3 and load_restore_token("remotedesktop") is None
        )


ASCII_ROWS = [
    {"name": "Ada Lovelace", "city": "London", "country": "France", "subscribe": "yes"},
    {"name": "Alan Turing", "city": "Wilmslow", "country": "Switzerland", "subscribe": "no"},
    {"name": "Grace Hopper", "city": "Arlington", "country": "Japan", "subscribe": "yes"},
]


@pytest.mark.slow
async def test_fill_three_rows_through_the_portal(
    wayland_form: FormApp,
    wayland: WaylandSession,
    person: ConsentPerson,
    policy_server: PolicyServer,
    tmp_path: Path,
) -> None:
    """The agent fills the form from a CSV with the route set to the portal: it captures through
    the ScreenCast portal and acts through the RemoteDesktop portal (one dialog each, answered
    by the person), everything else the product's own. ASCII rows: see the clipboard test."""
    policy_server.planner = form_planner(wayland_form.widget_rect, (0, 0, *wayland.size))
    data = write_csv(tmp_path / "people.csv", ASCII_ROWS)
    base = settings_for(policy_server)
    settings = base.model_copy(update={"screen": base.screen.model_copy(update={"wayland_route": "portal"})})
    store = open_store()
    async with agent_session(settings, 1, store) as session:
        assert isinstance(session.kit.executor._backend, PortalBackend)
        summary = await run_batch(BatchOptions("Fill in the registration form", data), store, session.run_row)
    assert summary.counts == {"done": 3}, summary
    answered = sorted(person.wait_answered(2))
    assert answered == ["remotedesktop", "screencast"], f"one dialog each, once; seen {person.seen}"
    submissions = wayland_form.submissions()
    assert [{k: s[k] for k in ("name", "city", "country", "subscribe")} for s in submissions] == [
        expected(r) for r in ASCII_ROWS
    ]
    steps = store.steps(store.list_runs()[0].id)
    clicks = [s for s in steps if s.action and s.action["action"] == "left_click"]
    assert clicks and all(s.execution and s.execution["point"] == list(s.point or ()) for s in clicks)
    store.close()
