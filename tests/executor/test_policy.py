"""The hard policy layer (pure: no display needed): denied combos, caps and scope hold in every mode.

What reaches the X server is checked on Xvfb in tests/agents/test_agent_hard_limits.py; here the
rules themselves, through the real executor in dry-run and confirm mode (which never touch the
display), and through `ActionPolicy` for the platforms this machine is not.
"""

from __future__ import annotations

import pytest

from qwen3vl_agent.actions.model import Action, ActionType, ResolvedAction
from qwen3vl_agent.config import SafetySettings, Settings, load_settings
from qwen3vl_agent.errors import ConfigError
from qwen3vl_agent.executor import ActionExecutor
from qwen3vl_agent.executor.plan import PlanConfig, plan_action
from qwen3vl_agent.executor.plan_text import plan_steps, visible_text
from qwen3vl_agent.executor.policy import ActionPolicy, PolicyRefusal
from qwen3vl_agent.executor.scope import AreaScope
from qwen3vl_agent.screen.geometry import Rect


def key(*keys: str) -> ResolvedAction:
    return ResolvedAction(Action(ActionType.KEY, keys=keys))


def typed(text: str) -> ResolvedAction:
    return ResolvedAction(Action(ActionType.TYPE, text=text))


def check(policy: ActionPolicy, resolved: ResolvedAction) -> None:
    """As the executor does: the action's own rules, then its plan's."""
    policy.check_action(resolved)
    policy.check_plan(resolved, plan_action(resolved, PlanConfig(platform=policy.platform)))


@pytest.mark.parametrize(
    "keys",
    [
        ("ctrl", "alt", "delete"),
        ("alt", "ctrl", "del"),  # order and aliases do not matter
        ("Control_L", "Alt_R", "Delete"),  # left/right variants neither
        ("ctrl+alt+backspace",),
        ("ctrl", "alt", "F1"),
        ("ctrl+alt+f12",),
        ("ctrl", "alt", "shift", "delete"),  # a combo that contains a denied one
        ("super", "l"),
        ("win", "L"),
        ("meta", "l"),
        ("cmd", "l"),  # cmd is the super key off macOS
        ("ctrl", "alt", "l"),
        ("ctrl", "alt", "t"),
        ("alt", "f2"),
        ("super", "r"),
        ("alt", "printscreen", "b"),  # magic SysRq reboot
        ("XF86PowerOff",),
        ("XF86Sleep",),
        ("ctrl", "XF86LogOff"),
    ],
)
def test_session_level_combos_are_denied_on_linux(keys: tuple[str, ...]) -> None:
    with pytest.raises(PolicyRefusal) as info:
        check(ActionPolicy(platform="linux"), key(*keys))
    assert info.value.rule == "denied-key"


@pytest.mark.parametrize(
    ("platform", "keys"),
    [
        ("darwin", ("cmd", "shift", "q")),
        ("darwin", ("ctrl", "cmd", "q")),
        ("darwin", ("command", "option", "escape")),
        ("darwin", ("cmd", "space")),
        ("win32", ("win", "l")),
        ("win32", ("ctrl", "shift", "esc")),
        ("win32", ("super", "x")),
        ("win32", ("ctrl", "alt", "del")),
    ],
)
def test_each_platform_has_its_own_list(platform: str, keys: tuple[str, ...]) -> None:
    with pytest.raises(PolicyRefusal):
        check(ActionPolicy(platform=platform), key(*keys))


@pytest.mark.parametrize(
    "keys",
    [
        ("ctrl", "c"),
        ("ctrl", "shift", "k"),
        ("alt", "s"),
        ("f5",),
        ("ctrl", "enter"),
        ("enter",),
        ("tab",),
        ("alt", "f4"),
        ("ctrl", "a"),
        ("shift", "tab"),
        ("alt", "f1"),
        ("printscreen",),
        ("ctrl", "alt", "left"),
    ],
)
def test_ordinary_combos_pass(keys: tuple[str, ...]) -> None:
    check(ActionPolicy(platform="linux"), key(*keys))  # alt+f4 is risky (confirm asks), not denied


def test_settings_add_combos_and_only_an_explicit_setting_removes_one() -> None:
    added = ActionPolicy(SafetySettings(denied_key_combos=["ctrl+shift+k", "f5"]), platform="linux")
    for keys in (("ctrl", "shift", "k"), ("shiftleft", "ctrlright", "K"), ("f5",)):
        with pytest.raises(PolicyRefusal):
            check(added, key(*keys))
    allowed = ActionPolicy(SafetySettings(allow_dangerous_keys=["alt+f2", "sleep"]), platform="linux")
    check(allowed, key("alt", "f2"))
    allowed.check_action(key("XF86Sleep"))  # allowed by the policy (keys.py has no name for it yet)
    with pytest.raises(PolicyRefusal):  # only what was named
        check(allowed, key("ctrl", "alt", "t"))


def test_bad_settings_are_a_clear_config_error() -> None:
    with pytest.raises(ConfigError, match=r"denied_key_combos.*not a key combination"):
        load_settings(safety={"denied_key_combos": ["ctrl+warp"]})
    with pytest.raises(ConfigError, match="max_type_chars_per_run"):
        load_settings(safety={"max_type_chars_per_action": 100, "max_type_chars_per_run": 50})
    with pytest.raises(ConfigError, match="max_keys_per_combo"):
        load_settings(safety={"max_keys_per_combo": 0})
    with pytest.raises(ConfigError, match="drag_steps"):
        load_settings(executor={"drag_steps": 100_000})


def test_typing_caps_per_action_and_per_run() -> None:
    policy = ActionPolicy(SafetySettings(), platform="linux")
    check(policy, typed("x" * 2000))
    with pytest.raises(PolicyRefusal, match="50000 characters; the limit per action is 2000") as info:
        check(policy, typed("y" * 50_000))
    assert info.value.rule == "type-too-long"

    small = ActionPolicy(SafetySettings(max_type_chars_per_action=10, max_type_chars_per_run=15), "linux")
    small.begin_run()
    for text, ok in (("a" * 10, True), ("b" * 6, False), ("c" * 5, True), ("d", False)):
        if ok:
            check(small, typed(text))
            small.accepted(typed(text))
        else:
            with pytest.raises(PolicyRefusal) as info:
                check(small, typed(text))
            assert info.value.rule == "run-type-budget"
    small.begin_run()  # a new run, a new budget
    check(small, typed("e" * 10))


def test_primitive_and_key_caps() -> None:
    policy = ActionPolicy(SafetySettings(max_primitives_per_action=50, max_keys_per_combo=4), "linux")
    with pytest.raises(PolicyRefusal) as info:
        check(policy, key("ctrl", "alt", "shift", "a", "b"))
    assert info.value.rule == "too-many-keys"
    drag = ResolvedAction(Action(ActionType.LEFT_CLICK_DRAG), point=(300, 0), start_point=(0, 0))
    plan = plan_action(drag, PlanConfig(drag_steps=100, platform="linux"))
    with pytest.raises(PolicyRefusal) as info:
        policy.check(drag, plan)
    assert info.value.rule == "too-many-primitives"
    wait = ResolvedAction(Action(ActionType.WAIT, time=10))  # 200 slices of waiting, no input event
    policy.check(wait, plan_action(wait, PlanConfig(platform="linux")))


@pytest.mark.parametrize("mode", ["dry-run", "confirm", "auto"])
def test_every_mode_refuses_before_anything_and_confirm_never_asks(mode: str) -> None:
    asked: list[object] = []
    with ActionExecutor(SafetySettings(mode=mode), confirm=asked.append) as executor:  # type: ignore[arg-type]
        executor.begin_run(AreaScope("monitor 1", Rect(0, 0, 100, 100)))
        for refused in (
            key("ctrl", "alt", "backspace"),
            typed("z" * 2001),
            ResolvedAction(Action(ActionType.LEFT_CLICK, coordinate=(1, 1)), point=(150, 10)),
            ResolvedAction(Action(ActionType.LEFT_CLICK_DRAG), point=(50, 50), start_point=(-5, 50)),
        ):
            with pytest.raises(PolicyRefusal):
                executor.execute_sync(refused)  # auto mode would need a display past this point
    assert asked == []


def test_a_point_inside_the_scope_passes_in_dry_run() -> None:
    with ActionExecutor(SafetySettings(mode="dry-run")) as executor:
        executor.begin_run(AreaScope("monitor 1", Rect(0, 0, 100, 100)))
        inside = ResolvedAction(Action(ActionType.LEFT_CLICK, coordinate=(1, 1)), point=(99, 99))
        assert executor.execute_sync(inside).status == "dry-run"


def test_the_plan_shows_every_character_and_key() -> None:
    hostile = 'hello<span style="font-size:1px;color:white">\nrm -rf ~\n</span>\x1b[2K\u202eevil\u200b\t'
    shown = visible_text(hostile)
    assert "⏎\nrm -rf ~⏎\n" in shown and "␛[2K" in shown and "⟨U+202E⟩" in shown and "⟨U+200B⟩" in shown
    assert shown.endswith("⇥") and "\x1b" not in shown and "\u202e" not in shown
    [line] = plan_steps(plan_action(typed(hostile), PlanConfig(platform="linux")))
    assert line.startswith(f"paste (clipboard) {len(hostile)} character(s): «") and shown in line
    combo = plan_steps(plan_action(key("ctrl", "shift", "k"), PlanConfig(platform="linux")))
    assert combo == ("press the keys ctrl + shift + k together (3 key(s))",)
    click = ResolvedAction(Action(ActionType.DOUBLE_CLICK, coordinate=(1, 1)), point=(5, 6))
    assert plan_steps(plan_action(click, PlanConfig(platform="linux"))) == (
        "move the pointer to (5, 6)",
        "left click ×2",
    )


def test_defaults_are_documented_values() -> None:
    s = Settings().safety
    assert (s.max_type_chars_per_action, s.max_type_chars_per_run, s.max_refusals_in_a_row) == (
        2000,
        50_000,
        3,
    )


def test_the_typing_caps_count_a_secret_as_it_will_be_typed() -> None:
    """`{password}` is 10 characters in the model's action; the value typed for it is 40."""
    from qwen3vl_agent.executor.secrets import Secrets

    safety = SafetySettings(max_type_chars_per_action=30, max_type_chars_per_run=60)
    with ActionExecutor(safety, mode="dry-run") as executor:
        executor.use_secrets(Secrets({"password": "s" * 40}))
        executor.policy.begin_run()
        with pytest.raises(PolicyRefusal) as info:
            executor.execute_sync(typed("{password}"))
        assert info.value.rule == "type-too-long" and "40 characters" in str(info.value)
        assert "s" * 40 not in str(info.value)
        executor.use_secrets(Secrets({"password": "s" * 25}))
        result = executor.execute_sync(typed("{password}"))  # 25: passes, and is counted as 25
        shown = " ".join(result.primitives)  # the dry-run's plan shows the placeholder, not the value
        assert result.status == "dry-run" and "{pas" in shown and "sss" not in shown
        assert executor.policy.typed_chars == 25
