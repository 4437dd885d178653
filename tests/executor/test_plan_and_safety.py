"""Planning into primitives and the risk rules (pure: no display needed)."""

from __future__ import annotations

import asyncio

import pytest

from qwen3vl_agent.actions.model import Action, ActionType, ResolvedAction
from qwen3vl_agent.config import SafetySettings
from qwen3vl_agent.executor import ActionContext, ActionExecutor, RiskAssessor, SafetyMode, UnknownKeyError
from qwen3vl_agent.executor.errors import ExecutorError
from qwen3vl_agent.executor.plan import (
    ButtonDown,
    ButtonUp,
    KeyDown,
    KeyUp,
    MoveTo,
    PasteText,
    PlanConfig,
    Scroll,
    Sleep,
    WriteText,
    plan_action,
    wheel_clicks,
)
from qwen3vl_agent.executor.safety import needs_confirmation

CFG = PlanConfig(platform="linux")


def resolved(kind: ActionType, point: tuple[int, int] | None = None, **kw: object) -> ResolvedAction:
    return ResolvedAction(Action(kind, **kw), point=point)  # type: ignore[arg-type]


def test_clicks_move_then_press_and_release_the_right_button_the_right_number_of_times() -> None:
    assert plan_action(resolved(ActionType.LEFT_CLICK, (10, 20)), CFG).primitives == (
        MoveTo(10, 20),
        ButtonDown("left"),
        ButtonUp("left"),
    )
    triple = plan_action(resolved(ActionType.TRIPLE_CLICK, (1, 2)), CFG).primitives
    assert triple.count(ButtonDown("left")) == 3 and triple.count(ButtonUp("left")) == 3
    assert plan_action(resolved(ActionType.RIGHT_CLICK, (1, 2)), CFG).primitives[1] == ButtonDown("right")
    assert plan_action(resolved(ActionType.MIDDLE_CLICK, (1, 2)), CFG).primitives[1] == ButtonDown("middle")


def test_a_click_without_a_point_is_refused() -> None:
    with pytest.raises(ExecutorError, match="no screen point"):
        plan_action(resolved(ActionType.LEFT_CLICK), CFG)


def test_a_drag_presses_moves_in_steps_and_releases() -> None:
    action = ResolvedAction(Action(ActionType.LEFT_CLICK_DRAG), point=(100, 0), start_point=(0, 0))
    prims = plan_action(action, PlanConfig(drag_steps=4, platform="linux")).primitives
    assert prims == (
        MoveTo(0, 0),
        ButtonDown("left"),
        MoveTo(25, 0),
        MoveTo(50, 0),
        MoveTo(75, 0),
        MoveTo(100, 0),
        ButtonUp("left"),
    )


def test_key_combos_press_in_order_and_release_in_reverse() -> None:
    prims = plan_action(resolved(ActionType.KEY, keys=("ctrl", "shift", "k")), CFG).primitives
    assert prims == (
        KeyDown("ctrl"),
        KeyDown("shift"),
        KeyDown("k"),
        KeyUp("k"),
        KeyUp("shift"),
        KeyUp("ctrl"),
    )


def test_unknown_keys_fail_at_planning_before_any_event() -> None:
    with pytest.raises(UnknownKeyError):
        plan_action(resolved(ActionType.KEY, keys=("ctrl", "warp")), CFG)


def test_ascii_is_typed_in_small_pieces_and_unicode_goes_through_the_clipboard() -> None:
    ascii_prims = plan_action(
        resolved(ActionType.TYPE, text="Hello world"), PlanConfig(type_chunk_chars=4)
    ).primitives
    assert ascii_prims == (WriteText("Hell"), WriteText("o wo"), WriteText("rld"))
    uni = plan_action(resolved(ActionType.TYPE, text="Zürich"), CFG)
    assert uni.primitives == (PasteText("Zürich"),) and uni.uses_clipboard
    long_uni = plan_action(resolved(ActionType.TYPE, text="東" * 150), PlanConfig(paste_chunk_chars=64))
    assert [len(p.text) for p in long_uni.primitives if isinstance(p, PasteText)] == [64, 64, 22]


@pytest.mark.parametrize(
    ("pixels", "clicks"),
    [(0, 0), (5, 1), (-5, -1), (100, 1), (-250, -2), (-260, -3), (10**9, 50), (-(10**9), -50)],
)
def test_scroll_pixels_become_wheel_clicks(pixels: int, clicks: int) -> None:
    assert wheel_clicks(pixels, CFG) == clicks


def test_scroll_moves_to_its_coordinate_first_and_splits_clicks() -> None:
    prims = plan_action(
        resolved(ActionType.SCROLL, (5, 6), pixels=-700), PlanConfig(scroll_chunk_clicks=3)
    ).primitives
    assert prims == (MoveTo(5, 6), Scroll(-3), Scroll(-3), Scroll(-1))
    h = plan_action(resolved(ActionType.HSCROLL, pixels=200), CFG).primitives
    assert h == (Scroll(2, horizontal=True),)


def test_waits_are_sliced_and_capped() -> None:
    prims = plan_action(resolved(ActionType.WAIT, time=0.12), PlanConfig(wait_slice_s=0.05)).primitives
    assert [type(p) for p in prims] == [Sleep, Sleep, Sleep]
    assert sum(p.seconds for p in prims if isinstance(p, Sleep)) == pytest.approx(0.12)
    capped = plan_action(resolved(ActionType.WAIT, time=1e6), PlanConfig(max_wait_s=1.0, wait_slice_s=0.5))
    assert len(capped.primitives) == 2 and capped.notes
    with pytest.raises(ExecutorError):
        plan_action(resolved(ActionType.WAIT, time=float("nan")), CFG)


def test_final_actions_are_no_ops() -> None:
    assert plan_action(resolved(ActionType.TERMINATE, status="success"), CFG).primitives == ()
    assert plan_action(resolved(ActionType.ANSWER, text="42"), CFG).primitives == ()


# -- risk ---------------------------------------------------------------------------------
RISK = RiskAssessor(platform="linux")


@pytest.mark.parametrize(
    "text", ["Submit", "Send message", "DELETE account", "Pay now", "Buy", "Remove item", "Jetzt kaufen"]
)
def test_clicks_on_targets_that_say_risky_words_are_risky(text: str) -> None:
    risk = RISK.assess(Action(ActionType.LEFT_CLICK, coordinate=(1, 1)), ActionContext(target_text=text))
    assert risk.risky and risk.reasons


@pytest.mark.parametrize("text", [None, "Name", "City", "Sender address field", "Payment history"])
def test_ordinary_targets_are_not_risky(text: str | None) -> None:
    context = ActionContext(target_text=text) if text is not None else None
    assert not RISK.assess(Action(ActionType.LEFT_CLICK, coordinate=(1, 1)), context).risky


@pytest.mark.parametrize(
    "keys", [("alt", "f4"), ("ctrl", "q"), ("ctrl", "w"), ("cmd", "q"), ("Ctrl+Shift+W",)]
)
def test_combos_that_close_or_quit_are_risky(keys: tuple[str, ...]) -> None:
    assert RISK.assess(Action(ActionType.KEY, keys=keys)).risky


@pytest.mark.parametrize("keys", [("ctrl", "c"), ("ctrl", "v"), ("enter",), ("tab",)])
def test_ordinary_combos_are_not_risky(keys: tuple[str, ...]) -> None:
    assert not RISK.assess(Action(ActionType.KEY, keys=keys)).risky


def test_enter_on_a_risky_target_and_typing_into_passwords_are_risky() -> None:
    assert RISK.assess(Action(ActionType.KEY, keys=("enter",)), ActionContext(target_text="Pay")).risky
    typing = Action(ActionType.TYPE, text="hunter2")
    assert RISK.assess(typing, ActionContext(is_password_field=True)).risky
    assert RISK.assess(typing, ActionContext(target_text="Password:")).risky
    assert not RISK.assess(typing, ActionContext(target_text="City")).risky
    assert not RISK.assess(typing, ActionContext(target_text="Password:", is_password_field=False)).risky


def test_confirm_mode_asks_for_everything_or_only_for_risky_actions() -> None:
    click = Action(ActionType.LEFT_CLICK, coordinate=(1, 1))
    safe, risky = RISK.assess(click), RISK.assess(click, ActionContext(target_text="Delete"))
    assert needs_confirmation(SafetyMode.CONFIRM, False, click, safe)
    assert not needs_confirmation(SafetyMode.CONFIRM, True, click, safe)
    assert needs_confirmation(SafetyMode.CONFIRM, True, click, risky)
    assert not needs_confirmation(SafetyMode.AUTO, False, click, risky)
    assert not needs_confirmation(
        SafetyMode.CONFIRM, False, Action(ActionType.TERMINATE, status="success"), safe
    )


def test_dry_run_reports_the_plan_without_a_display(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dry-run never touches the display: it works with no DISPLAY at all."""
    monkeypatch.delenv("DISPLAY", raising=False)
    with ActionExecutor(SafetySettings(mode="dry-run")) as executor:
        result = executor.execute_sync(resolved(ActionType.LEFT_CLICK, (10, 20)))
        assert result.status == "dry-run"
        assert result.primitives == ("move to (10, 20)", "left button down", "left button up")
        assert asyncio.run(executor.execute(resolved(ActionType.KEY, keys=("ctrl", "s")))).status == "dry-run"
        with pytest.raises(UnknownKeyError):  # refused in dry-run too
            executor.execute_sync(resolved(ActionType.KEY, keys=("ctrl", "warp")))


def test_confirm_mode_without_a_callback_is_a_clear_error() -> None:
    with (
        ActionExecutor(SafetySettings(mode="confirm")) as executor,
        pytest.raises(ExecutorError, match="callback"),
    ):
        executor.execute_sync(resolved(ActionType.LEFT_CLICK, (10, 20)))


def test_results_serialise_for_trajectories() -> None:
    import json

    with ActionExecutor(SafetySettings(mode="dry-run")) as executor:
        result = executor.execute_sync(
            resolved(ActionType.LEFT_CLICK, (10, 20)), ActionContext(target_text="Pay")
        )
    data = json.loads(json.dumps(result.to_json()))
    assert data["status"] == "dry-run" and data["point"] == [10, 20]
    assert data["action"] == {"action": "left_click"} and data["risk"]["risky"] is True


def test_the_executor_follows_the_apps_settings() -> None:
    from qwen3vl_agent.config import load_settings

    settings = load_settings(safety={"mode": "dry-run", "pyautogui_pause_s": 0.0}, executor={"drag_steps": 3})
    with ActionExecutor.from_settings(settings) as executor:
        assert executor.mode is SafetyMode.DRY_RUN and executor.pause_s == 0.0
        drag = ResolvedAction(Action(ActionType.LEFT_CLICK_DRAG), point=(30, 0), start_point=(0, 0))
        assert executor.execute_sync(drag).primitives.count("move to (10, 0)") == 1
