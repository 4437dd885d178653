"""The executor on a real X server (Xvfb, two monitors) against a real Qt form on monitor 2.

Every action is written in MODEL space (0..1000 on the monitor-2 screenshot) and mapped with
the real coordinate mapper; what happened is read back from the form's own records, from the
X server (pointer, buttons, keymap) and from the clipboard, never assumed.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from qwen3vl_agent.actions.model import Action, ActionType, ResolvedAction
from qwen3vl_agent.config import ExecutorSettings, SafetySettings
from qwen3vl_agent.executor import (
    ActionContext,
    ActionExecutor,
    ConfirmationRequest,
    ExecutionStopped,
    MonitorGoneError,
    UnknownKeyError,
)
from qwen3vl_agent.screen.coordinates import point_to_model, resolve_action
from qwen3vl_agent.screen.geometry import CaptureGeometry, MonitorGeometry, Rect
from tests.support.form_app_fixture import FormApp
from tests.support.xvfb import MONITORS, XvfbDisplay, set_monitor

pytestmark = [pytest.mark.xvfb, pytest.mark.timeout(120)]

A = ActionType


# -- helpers ------------------------------------------------------------------------------
def monitor2(form_app: FormApp) -> CaptureGeometry:
    m = form_app.monitor
    return CaptureGeometry.of_monitor(MonitorGeometry(m.index, Rect(m.left, m.top, m.width, m.height)))


def model_xy(form_app: FormApp, widget: str, dx: int = 0, dy: int = 0) -> tuple[int, int]:
    """Integer model coordinates of a widget's centre (+ offset), as a model would write them."""
    x, y = form_app.widget_center(widget)
    mx, my = point_to_model(x + dx, y + dy, monitor2(form_app))
    return (round(mx), round(my))


def on(
    form_app: FormApp, kind: ActionType, widget: str, dx: int = 0, dy: int = 0, **kw: Any
) -> ResolvedAction:
    return resolve_action(
        Action(kind, coordinate=model_xy(form_app, widget, dx, dy), **kw), monitor2(form_app)
    )


def plain(kind: ActionType, **kw: Any) -> ResolvedAction:
    return ResolvedAction(Action(kind, **kw))


def inside(rect: tuple[int, int, int, int], x: int, y: int) -> bool:
    left, top, width, height = rect
    return left <= x < left + width and top <= y < top + height


class XState:
    """Pointer, buttons and keys as the X server reports them."""

    def __init__(self, display: XvfbDisplay) -> None:
        from Xlib import display as xdisplay

        self._d = xdisplay.Display(display.name)

    def pointer(self) -> tuple[int, int, int]:
        reply = self._d.screen().root.query_pointer()
        return (reply.root_x, reply.root_y, reply.mask)

    def buttons_down(self) -> bool:
        from Xlib import X

        return bool(self.pointer()[2] & (X.Button1Mask | X.Button2Mask | X.Button3Mask))

    def keys_down(self) -> list[int]:
        keymap = self._d.query_keymap()
        return [byte * 8 + bit for byte, value in enumerate(keymap) for bit in range(8) if value & (1 << bit)]

    def close(self) -> None:
        self._d.close()


@pytest.fixture
def xstate(xvfb: XvfbDisplay) -> Iterator[XState]:
    state = XState(xvfb)
    yield state
    state.close()


def make_executor(**safety: Any) -> ActionExecutor:
    settings = {"mode": "auto", **safety}
    return ActionExecutor(SafetySettings(**settings), ExecutorSettings())


@pytest.fixture
def executor(form_app: FormApp) -> Iterator[ActionExecutor]:
    ex = make_executor()
    yield ex
    ex.close()


def xclip(display: XvfbDisplay, *args: str, data: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    """Read (no data) or set (data) the clipboard; xclip -i forks a server that would keep
    captured pipes open, so writes are not captured."""
    cmd = ["xclip", "-selection", "clipboard", *args]
    if data is None:
        return subprocess.run(cmd, capture_output=True, env=display.env(), timeout=10)
    return subprocess.run(
        cmd, input=data, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=display.env(), timeout=10
    )


def xdotool(display: XvfbDisplay, *args: str) -> None:
    subprocess.run(["xdotool", *args], env=display.env(), check=True, timeout=10)


# -- clicks -------------------------------------------------------------------------------
def test_clicks_in_model_space_land_on_the_intended_widgets(
    form_app: FormApp, executor: ActionExecutor
) -> None:
    for widget in ("name", "city", "password", "country"):
        result = executor.execute_sync(on(form_app, A.LEFT_CLICK, widget))
        assert result.status == "executed"
        state = form_app.wait_for(lambda s, w=widget: (s["last_click"] or {}).get("widget") == w)
        click = state["last_click"]
        assert inside(form_app.widget_rect(widget), click["x"], click["y"]), (widget, click)
        if widget == "country":
            executor.execute_sync(plain(A.KEY, keys=("esc",)))  # close the popup again
        else:
            assert state["focus"] == widget
    executor.execute_sync(
        on(form_app, A.LEFT_CLICK, "subscribe", dx=-form_app.widget_rect("subscribe")[2] // 2 + 8)
    )
    form_app.wait_for(lambda s: s["subscribe"] is True)
    executor.execute_sync(on(form_app, A.LEFT_CLICK, "submit"))
    form_app.wait_for(lambda s: s["submissions"] >= 1)
    assert len(form_app.submissions()) == 1 and form_app.submissions()[0]["subscribe"] is True


def test_right_middle_double_and_triple_clicks(form_app: FormApp, executor: ActionExecutor) -> None:
    executor.execute_sync(on(form_app, A.RIGHT_CLICK, "drag_pad"))
    form_app.wait_for(lambda s: (s["last_click"] or {}).get("button") == "right")
    executor.execute_sync(on(form_app, A.MIDDLE_CLICK, "drag_pad"))
    form_app.wait_for(lambda s: (s["last_click"] or {}).get("button") == "middle")

    executor.execute_sync(on(form_app, A.LEFT_CLICK, "name"))
    executor.execute_sync(plain(A.TYPE, text="hello world"))
    form_app.wait_for(lambda s: s["name"] == "hello world")
    executor.execute_sync(on(form_app, A.DOUBLE_CLICK, "name"))
    form_app.wait_for(lambda s: (s["last_click"] or {}).get("double") is True)
    executor.execute_sync(plain(A.WAIT, time=0.5))  # past the double-click interval (400 ms)
    executor.execute_sync(on(form_app, A.TRIPLE_CLICK, "name"))  # selects the whole line...
    executor.execute_sync(plain(A.TYPE, text="X"))  # ...so typing replaces it
    form_app.wait_for(lambda s: s["name"] == "X")


# -- typing and keys ----------------------------------------------------------------------
def test_unicode_typing_arrives_intact_and_the_users_clipboard_comes_back(
    form_app: FormApp, executor: ActionExecutor, xvfb: XvfbDisplay
) -> None:
    assert xclip(xvfb, "-i", data="the user's clipboard ✓".encode()).returncode == 0
    executor.execute_sync(on(form_app, A.LEFT_CLICK, "name"))
    result = executor.execute_sync(plain(A.TYPE, text="Zürich"))
    assert result.notes == ()  # the form took the paste
    executor.execute_sync(on(form_app, A.LEFT_CLICK, "city"))
    executor.execute_sync(plain(A.TYPE, text="東京 😀 Ünïcödé"))
    state = form_app.wait_for(lambda s: s["city"] == "東京 😀 Ünïcödé")
    assert state["name"] == "Zürich"
    assert xclip(xvfb, "-o").stdout.decode() == "the user's clipboard ✓"


def test_many_pastes_in_a_row_each_arrive_whole(form_app: FormApp) -> None:
    """Regression: ending xclip right after it reported a served request lost ~10% of pastes
    (its reply was still in its output buffer); each paste here must arrive, none empty."""
    with ActionExecutor(SafetySettings(mode="auto", pyautogui_pause_s=0.0)) as executor:
        executor.execute_sync(on(form_app, A.LEFT_CLICK, "name"))
        for i in range(30):
            executor.execute_sync(plain(A.KEY, keys=("ctrl", "a")))
            text = f"Zürich-{i}-東京"
            result = executor.execute_sync(plain(A.TYPE, text=text))
            assert result.notes == ()
            form_app.wait_for(lambda s, t=text: s["name"] == t)


def test_an_empty_clipboard_stays_empty_after_unicode_typing(
    form_app: FormApp, executor: ActionExecutor, xvfb: XvfbDisplay
) -> None:
    # Take the clipboard over and drop it: an owner that exits leaves no clipboard at all.
    owner = subprocess.Popen(
        ["xclip", "-selection", "clipboard", "-quiet"], stdin=subprocess.PIPE, env=xvfb.env()
    )
    assert owner.stdin is not None
    owner.stdin.write(b"x")
    owner.stdin.close()
    time.sleep(0.2)
    owner.terminate()
    owner.wait()
    assert xclip(xvfb, "-o").returncode != 0
    executor.execute_sync(on(form_app, A.LEFT_CLICK, "name"))
    executor.execute_sync(plain(A.TYPE, text="Genève"))
    form_app.wait_for(lambda s: s["name"] == "Genève")
    assert xclip(xvfb, "-o").returncode != 0


def test_ascii_typing_and_key_combos(form_app: FormApp, executor: ActionExecutor) -> None:
    executor.execute_sync(on(form_app, A.LEFT_CLICK, "name"))
    executor.execute_sync(plain(A.TYPE, text="Ada Lovelace, 1815! ~`@#$%^&*()"))
    form_app.wait_for(lambda s: s["name"] == "Ada Lovelace, 1815! ~`@#$%^&*()")
    executor.execute_sync(plain(A.KEY, keys=("ctrl", "a")))
    executor.execute_sync(plain(A.KEY, keys=("BackSpace",)))
    form_app.wait_for(lambda s: s["name"] == "")
    for keys, name in [(("ctrl", "shift", "k"), "ctrl+shift+k"), (("Alt+S",), "alt+s"), (("F5",), "f5")]:
        executor.execute_sync(plain(A.KEY, keys=keys))
        form_app.wait_for(lambda s, n=name: s["last_shortcut"] == n)
    executor.execute_sync(plain(A.KEY, keys=("ctrl", "Return")))
    form_app.wait_for(lambda s: s["last_shortcut"] == "ctrl+enter")


def test_dropdown_by_click_and_arrow_keys(form_app: FormApp, executor: ActionExecutor) -> None:
    executor.execute_sync(on(form_app, A.LEFT_CLICK, "country"))
    form_app.wait_for(lambda s: s["combo_popup_visible"] is True)
    executor.execute_sync(plain(A.KEY, keys=("down",)))
    executor.execute_sync(plain(A.KEY, keys=("down",)))
    executor.execute_sync(plain(A.KEY, keys=("enter",)))
    form_app.wait_for(lambda s: s["country"] == "Switzerland")


def test_unknown_keys_are_refused_before_anything_is_pressed(
    form_app: FormApp, executor: ActionExecutor, xstate: XState
) -> None:
    executor.execute_sync(on(form_app, A.LEFT_CLICK, "name"))
    executor.execute_sync(plain(A.TYPE, text="abc"))
    form_app.wait_for(lambda s: s["name"] == "abc")
    with pytest.raises(UnknownKeyError, match="warpdrive"):
        executor.execute_sync(plain(A.KEY, keys=("backspace", "warpdrive")))
    executor.execute_sync(plain(A.WAIT, time=0.2))
    assert form_app.state()["name"] == "abc"  # the backspace never happened
    assert xstate.keys_down() == []


# -- scrolling and dragging ---------------------------------------------------------------
def test_scroll_and_hscroll_at_a_coordinate(form_app: FormApp, executor: ActionExecutor) -> None:
    executor.execute_sync(on(form_app, A.SCROLL, "scroll", pixels=-300))
    form_app.wait_for(lambda s: s["scroll"]["v"] > 0)
    time.sleep(0.3)  # let the last of the three wheel clicks arrive
    down = form_app.state()["scroll"]["v"]
    executor.execute_sync(on(form_app, A.SCROLL, "scroll", pixels=100))  # one click back up
    form_app.wait_for(lambda s: 0 < s["scroll"]["v"] < down)
    executor.execute_sync(on(form_app, A.HSCROLL, "scroll", pixels=300))
    form_app.wait_for(lambda s: s["scroll"]["h"] > 0)


def test_drag_presses_moves_in_steps_and_releases(
    form_app: FormApp, executor: ActionExecutor, xstate: XState
) -> None:
    left, top, width, height = form_app.widget_rect("drag_pad")
    geom = monitor2(form_app)
    start = point_to_model(left + 30, top + 30, geom)
    end = point_to_model(left + width - 40, top + height - 30, geom)
    action = Action(A.LEFT_CLICK_DRAG, coordinate=end, start_coordinate=start)
    executor.execute_sync(resolve_action(action, geom))
    drag = form_app.wait_for(lambda s: s["last_drag"] is not None)["last_drag"]
    assert abs(drag["start"][0] - (left + 30)) <= 1 and abs(drag["start"][1] - (top + 30)) <= 1
    assert abs(drag["end"][0] - (left + width - 40)) <= 1 and abs(drag["end"][1] - (top + height - 30)) <= 1
    assert drag["moves"] >= ExecutorSettings().drag_steps // 2  # it moved in steps, not one jump
    assert not xstate.buttons_down()


# -- safety modes -------------------------------------------------------------------------
def test_dry_run_moves_nothing(form_app: FormApp, executor: ActionExecutor, xstate: XState) -> None:
    executor.execute_sync(on(form_app, A.MOUSE_MOVE, "scroll_label"))
    before_pointer = xstate.pointer()
    before = form_app.state()
    clicks_before = len(form_app.clicks())
    with ActionExecutor(SafetySettings(mode="dry-run")) as dry:
        results = [
            dry.execute_sync(on(form_app, A.LEFT_CLICK, "submit")),
            dry.execute_sync(plain(A.TYPE, text="Zürich")),
            dry.execute_sync(on(form_app, A.SCROLL, "scroll", pixels=-500)),
            dry.execute_sync(plain(A.KEY, keys=("ctrl", "shift", "k"))),
        ]
    assert [r.status for r in results] == ["dry-run"] * 4
    assert results[0].primitives[0].startswith("move to")
    executor.execute_sync(plain(A.WAIT, time=0.2))
    assert xstate.pointer() == before_pointer
    after = form_app.state()
    for key in ("name", "city", "scroll", "submissions", "last_shortcut", "last_click"):
        assert after[key] == before[key], key
    assert len(form_app.clicks()) == clicks_before


async def test_confirm_mode_blocks_until_approved_and_a_rejection_does_nothing(form_app: FormApp) -> None:
    requests: list[ConfirmationRequest] = []
    asked = asyncio.Event()
    decision: asyncio.Future[bool] = asyncio.get_running_loop().create_future()

    async def confirm(request: ConfirmationRequest) -> bool:
        requests.append(request)
        asked.set()
        return await decision

    executor = ActionExecutor(SafetySettings(mode="confirm"), confirm=confirm)
    try:
        task = asyncio.create_task(executor.execute(on(form_app, A.LEFT_CLICK, "submit")))
        await asyncio.wait_for(asked.wait(), 10)
        await asyncio.sleep(0.3)
        assert not task.done()
        assert form_app.state()["submissions"] == 0 and form_app.clicks() == []  # nothing happened yet
        decision.set_result(True)
        result = await asyncio.wait_for(task, 20)
        assert result.status == "executed"
        form_app.wait_for(lambda s: s["submissions"] == 1)
        assert requests[0].description.startswith("left_click")

        async def reject(request: ConfirmationRequest) -> bool:
            return False

        executor.confirm = reject
        rejected = await executor.execute(on(form_app, A.LEFT_CLICK, "submit"))
        assert rejected.status == "rejected"
        await asyncio.sleep(0.3)
        assert form_app.state()["submissions"] == 1
        assert len(form_app.clicks()) == 1
    finally:
        executor.close()


def test_confirm_only_risky_asks_for_the_submit_button_only(form_app: FormApp) -> None:
    asked: list[str] = []

    def confirm(request: ConfirmationRequest) -> bool:
        asked.append(request.risk.reasons[0])
        return False

    with ActionExecutor(SafetySettings(mode="confirm", confirm_only_risky=True), confirm=confirm) as executor:
        assert executor.execute_sync(
            on(form_app, A.LEFT_CLICK, "name"), ActionContext(target_text="Name")
        ).status == ("executed")
        result = executor.execute_sync(
            on(form_app, A.LEFT_CLICK, "submit"), ActionContext(target_text="Submit")
        )
        assert result.status == "rejected"
        assert executor.execute_sync(plain(A.KEY, keys=("ctrl", "w"))).status == "rejected"
    assert len(asked) == 2 and "submit" in asked[0] and "close" in asked[1]
    assert form_app.state()["submissions"] == 0


async def test_actions_run_strictly_in_call_order_even_when_confirmations_finish_out_of_order(
    form_app: FormApp,
) -> None:
    async def slow_for_early_ones(request: ConfirmationRequest) -> bool:
        digit = int(request.action.action.text or "0")
        await asyncio.sleep((9 - digit) * 0.03)  # the first call is confirmed last
        return True

    executor = ActionExecutor(SafetySettings(mode="confirm"), confirm=slow_for_early_ones)
    try:
        await executor.execute(on(form_app, A.LEFT_CLICK, "name"))
        results = await asyncio.gather(*(executor.execute(plain(A.TYPE, text=str(d))) for d in range(1, 10)))
        assert all(r.status == "executed" for r in results)
        form_app.wait_for(lambda s: s["name"] == "123456789")
    finally:
        executor.close()


async def test_a_confirmation_cancelled_while_asked_does_not_hold_up_the_next_action(
    form_app: FormApp,
) -> None:
    """The cancelled call's ticket is skipped: without that the worker waits for it forever."""
    asked = asyncio.Event()

    async def first_never_answered(request: ConfirmationRequest) -> bool:
        if request.action.action.text == "never":
            asked.set()
            await asyncio.Event().wait()
        return True

    executor = ActionExecutor(SafetySettings(mode="confirm"), confirm=first_never_answered)
    try:
        await executor.execute(on(form_app, A.LEFT_CLICK, "name"))
        pending = asyncio.create_task(executor.execute(plain(A.TYPE, text="never")))
        await asyncio.wait_for(asked.wait(), 10)
        pending.cancel()
        with pytest.raises(asyncio.CancelledError):
            await pending
        result = await asyncio.wait_for(executor.execute(plain(A.TYPE, text="next")), 20)
        assert result.status == "executed"
        form_app.wait_for(lambda s: s["name"] == "next")
    finally:
        executor.close()


# -- stopping -----------------------------------------------------------------------------
def test_the_stop_hotkey_interrupts_a_long_type_and_releases_the_keys(
    form_app: FormApp, executor: ActionExecutor, xvfb: XvfbDisplay, xstate: XState
) -> None:
    executor.execute_sync(on(form_app, A.LEFT_CLICK, "name"))
    assert executor.hotkey_running, executor.hotkey_error
    text = "0123456789" * 40
    sent: dict[str, float] = {}

    def press_hotkey_mid_way() -> None:
        form_app.wait_for(lambda s: len(s["name"]) >= 20, timeout=30)
        sent["at"] = time.monotonic()
        xdotool(xvfb, "key", "ctrl+alt+Escape")

    helper = threading.Thread(target=press_hotkey_mid_way)
    helper.start()
    with pytest.raises(ExecutionStopped) as info:
        executor.execute_sync(plain(A.TYPE, text=text))
    helper.join()
    assert info.value.reason == "hotkey"
    latency_ms = ((executor.stop_signal.at or 0) - sent["at"]) * 1000
    print(f"stop hotkey -> stop flag: {latency_ms:.1f} ms")  # recorded in docs/benchmarks.md
    time.sleep(0.3)
    typed = form_app.state()["name"]
    assert 20 <= len(typed) < len(text)  # interrupted before the sequence finished
    # What came before the hotkey is intact; a character or two typed while xdotool held
    # ctrl+alt may be swallowed as a shortcut, as it would be with a real user's hotkey.
    assert typed.startswith(text[:20])
    assert xstate.keys_down() == []
    # Stopped means stopped: nothing runs until resume().
    with pytest.raises(ExecutionStopped):
        executor.execute_sync(plain(A.TYPE, text="more"))
    executor.resume()
    executor.execute_sync(plain(A.KEY, keys=("end",)))
    executor.execute_sync(plain(A.TYPE, text="!"))
    form_app.wait_for(lambda s: s["name"] == typed + "!")


def test_stop_from_another_thread_releases_a_held_mouse_button(form_app: FormApp, xstate: XState) -> None:
    left, top, width, _height = form_app.widget_rect("drag_pad")
    executor = ActionExecutor(SafetySettings(mode="auto"), ExecutorSettings(drag_steps=400))
    try:

        def stop_while_dragging() -> None:
            deadline = time.monotonic() + 30
            while not xstate.buttons_down() and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(0.1)
            executor.stop()

        helper = threading.Thread(target=stop_while_dragging)
        helper.start()
        drag = ResolvedAction(
            Action(A.LEFT_CLICK_DRAG), point=(left + width - 20, top + 70), start_point=(left + 20, top + 70)
        )
        with pytest.raises(ExecutionStopped) as info:
            executor.execute_sync(drag)
        helper.join()
        assert info.value.reason == "user"
        assert not xstate.buttons_down()
        record = form_app.wait_for(lambda s: s["last_drag"] is not None)["last_drag"]
        assert record["end"][0] < left + width - 20  # released part-way
    finally:
        executor.close()


def test_a_stop_between_key_down_and_key_up_releases_the_modifiers(form_app: FormApp, xstate: XState) -> None:
    executor = ActionExecutor(SafetySettings(mode="auto", pyautogui_pause_s=0.4))
    try:
        executor.execute_sync(on(form_app, A.LEFT_CLICK, "name"))

        def stop_when_ctrl_is_down() -> None:
            deadline = time.monotonic() + 30
            while not xstate.keys_down() and time.monotonic() < deadline:
                time.sleep(0.005)
            executor.stop()

        helper = threading.Thread(target=stop_when_ctrl_is_down)
        helper.start()
        with pytest.raises(ExecutionStopped):
            executor.execute_sync(plain(A.KEY, keys=("ctrl", "shift", "k")))
        helper.join()
        assert xstate.keys_down() == []
        time.sleep(0.2)
        assert form_app.state()["last_shortcut"] is None  # the combo never completed
    finally:
        executor.close()


def test_the_fail_safe_corner_stops_a_running_action(
    form_app: FormApp, executor: ActionExecutor, xvfb: XvfbDisplay, xstate: XState
) -> None:
    def corner() -> None:
        time.sleep(0.4)
        xdotool(xvfb, "mousemove", "0", "0")

    helper = threading.Thread(target=corner)
    helper.start()
    try:
        with pytest.raises(ExecutionStopped) as info:
            executor.execute_sync(plain(A.WAIT, time=20))
        assert info.value.reason == "fail-safe"
        assert "corner" in str(info.value)
    finally:
        helper.join()
        xdotool(xvfb, "mousemove", "500", "500")
    executor.resume()
    # Our own moves never trigger it: a click aimed at the corner pixel is nudged off it.
    result = executor.execute_sync(ResolvedAction(Action(A.MOUSE_MOVE), point=(0, 0)))
    assert result.status == "executed" and xstate.pointer()[:2] == (1, 1)


# -- bad input ----------------------------------------------------------------------------
def test_an_action_for_a_monitor_that_is_gone_is_a_clear_error(
    form_app: FormApp, xvfb: XvfbDisplay, xstate: XState
) -> None:
    from Xlib import display as xdisplay
    from Xlib.ext import randr

    target = on(form_app, A.LEFT_CLICK, "submit")  # resolved while monitor 2 was there
    conn = xdisplay.Display(xvfb.name)
    try:
        randr.delete_monitor(conn.screen().root, conn.intern_atom("TEST-2"))
        conn.sync()
        with ActionExecutor(SafetySettings(mode="auto")) as executor:
            with pytest.raises(MonitorGoneError) as info:
                executor.execute_sync(target)
            assert "no connected monitor" in str(info.value) and "screenshot" in str(info.value)
    finally:
        _restore_monitor_2(conn)
        conn.close()
    assert form_app.state()["submissions"] == 0
    with ActionExecutor(SafetySettings(mode="auto")) as executor:  # plugged back in: it works again
        executor.execute_sync(target)
    form_app.wait_for(lambda s: s["submissions"] == 1)


def _restore_monitor_2(conn: Any) -> None:
    """Put monitor 2 back as tests/support/xvfb.py defined it (redefining monitor 1 would clash
    with its output)."""
    set_monitor(conn, 2, MONITORS[1])
    conn.sync()


_NO_DISPLAY_SCRIPT = """
from qwen3vl_agent.actions.model import Action, ActionType, ResolvedAction
from qwen3vl_agent.config import SafetySettings
from qwen3vl_agent.executor import ActionExecutor, DisplayUnavailableError
with ActionExecutor(SafetySettings(mode="auto")) as ex:
    try:
        ex.execute_sync(ResolvedAction(Action(ActionType.LEFT_CLICK), point=(5, 5)))
    except DisplayUnavailableError as exc:
        print("CLEAR ERROR:", exc)
"""


@pytest.mark.parametrize("display", [None, ":987"])
def test_no_display_at_all_is_a_clear_error_not_a_crash(display: str | None, tmp_path: Any) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    if display:
        env["DISPLAY"] = display
        env["XAUTHORITY"] = str(tmp_path / "Xauthority")
        (tmp_path / "Xauthority").touch()
    run = subprocess.run(
        [sys.executable, "-c", _NO_DISPLAY_SCRIPT], env=env, capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stderr
    assert "CLEAR ERROR:" in run.stdout
    assert "Traceback" not in run.stderr
    assert ("DISPLAY is not set" if display is None else display) in run.stdout


async def test_stop_from_the_ui_thread_interrupts_an_awaited_wait(form_app: FormApp) -> None:
    executor = ActionExecutor(SafetySettings(mode="auto"))
    try:
        loop = asyncio.get_running_loop()
        loop.call_later(0.3, executor.stop)  # what the UI's Stop button does
        with pytest.raises(ExecutionStopped) as info:
            await executor.execute(plain(A.WAIT, time=60))
        assert info.value.reason == "user"
        assert executor.stopped == "user"
        executor.resume()
        assert executor.stopped is None
        assert (await executor.execute(plain(A.WAIT, time=0.05))).status == "executed"
    finally:
        executor.close()


def test_every_stop_hotkey_on_the_same_keys_shares_one_listener(xvfb: XvfbDisplay) -> None:
    from qwen3vl_agent.executor.stop import StopHotkey, hotkey_listener_count

    pressed: dict[str, threading.Event] = {name: threading.Event() for name in ("executor", "pool")}
    first = StopHotkey("<ctrl>+<alt>+<esc>", pressed["executor"].set)
    second = StopHotkey("<ctrl>+<alt>+<esc>", pressed["pool"].set)
    before = hotkey_listener_count()
    try:
        first.start()
        second.start()
        assert hotkey_listener_count() == before + 1  # one listener for both
        assert first.running and second.running
        xdotool(xvfb, "key", "ctrl+alt+Escape")
        assert pressed["executor"].wait(10) and pressed["pool"].wait(10)  # one press reaches both
        first.stop()
        assert second.running and hotkey_listener_count() == before + 1
        pressed["pool"].clear()
        xdotool(xvfb, "key", "ctrl+alt+Escape")
        assert pressed["pool"].wait(10)
    finally:
        first.stop()
        second.stop()
    assert hotkey_listener_count() == before  # the last one out removed the listener
    assert not second.running


@pytest.mark.timeout(60)
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")  # pynput's dying thread
def test_a_stop_hotkey_without_a_usable_display_fails_clearly_instead_of_hanging(
    xvfb: XvfbDisplay, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pynput chose X11 earlier in this process (on Xvfb); a later run in a session without X
    (Wayland: DISPLAY unset) or with a display that is gone must get an error, not a listener
    whose `wait()` never returns (CI hung 300 s in the Wayland fill tests this way)."""
    import pynput.keyboard  # noqa: F401  (the X11 backend, picked while DISPLAY is Xvfb's)

    from qwen3vl_agent.executor.stop import (
        StopHotkey,
        StopHotkeyError,
        hotkey_listener_count,
        start_stop_hotkey,
    )

    before = hotkey_listener_count()
    monkeypatch.setenv("DISPLAY", "")
    with pytest.raises(StopHotkeyError, match="needs an X display"):
        StopHotkey("<ctrl>+<alt>+<f9>", lambda: None).start()
    monkeypatch.setenv("DISPLAY", ":87")  # no X server there
    started = time.monotonic()
    with pytest.raises(StopHotkeyError, match="could not be installed"):
        StopHotkey("<ctrl>+<alt>+<f9>", lambda: None).start()
    assert time.monotonic() - started < 10
    monkeypatch.setenv("DISPLAY", "")
    listener, why = start_stop_hotkey("<ctrl>+<alt>+<f9>", lambda: None, "stop() still works")
    assert listener is None and why is not None and "needs an X display" in why  # said, not raised
    assert hotkey_listener_count() == before  # nothing half-installed is left behind
