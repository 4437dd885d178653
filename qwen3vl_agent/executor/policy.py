"""The hard policy layer: what no safety mode may do, checked before the first input event.

Dry-run, confirm and auto all pass through `ActionPolicy.check` (the executor calls it after
planning, before the mode is even looked at), so a refused action is refused everywhere: dry-run
reports it as refused, confirm never asks about it, auto never plays it. Rules:

- session-level key combos (lock, log out, switch VT, kill X, open a terminal or a run dialog,
  magic SysRq, power/sleep keys) per platform, matched on the normalised combo: modifier order,
  aliases (win/super/cmd/meta) and left/right variants do not matter, and a combo that CONTAINS a
  denied one (ctrl+alt+shift+delete) is denied too. Settings add combos (`denied_key_combos`);
  removing a built-in one needs the explicit `allow_dangerous_keys`.
- caps: characters per `type` action and per run, keys per combo, input primitives per action.
- scope: a point outside the run's scope (monitor, window or region) is refused.

A refusal is a `PolicyRefusal` carrying its rule, so callers branch on the type and the rule.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass

from qwen3vl_agent.actions.model import ActionType, ResolvedAction
from qwen3vl_agent.config import SafetySettings
from qwen3vl_agent.executor.errors import ExecutorError, UnknownKeyError
from qwen3vl_agent.executor.keys import _split_tokens, parse_combo
from qwen3vl_agent.executor.plan import Plan, Sleep
from qwen3vl_agent.executor.scope import RunScope

# Combos written in the model's language, normalised per platform when the policy is built.
_VT_SWITCH = tuple(f"ctrl+alt+f{i}" for i in range(1, 13))
DENIED_COMBOS: dict[str, tuple[str, ...]] = {
    "linux": (
        "ctrl+alt+delete",  # log out / reboot dialog
        "ctrl+alt+backspace",  # kills the X server where enabled
        *_VT_SWITCH,  # switch virtual terminal
        "super+l",  # lock (GNOME, Windows)
        "ctrl+alt+l",  # lock (KDE, Xfce)
        "ctrl+alt+t",  # open a terminal
        "alt+f2",  # run dialog
        "super+r",  # run dialog (KDE krunner, Windows)
        "ctrl+alt+end",  # log out (some desktops)
        "alt+printscreen",  # magic SysRq: alt+sysrq+b reboots
    ),
    "win32": (
        "ctrl+alt+delete",
        "super+l",
        "super+r",
        "super+x",  # power-user menu (shut down, terminal)
        "ctrl+shift+esc",  # task manager
        "ctrl+alt+end",  # ctrl+alt+delete inside a remote session
    ),
    "darwin": (
        "ctrl+cmd+q",  # lock
        "cmd+shift+q",  # log out
        "cmd+option+esc",  # force quit
        "cmd+space",  # Spotlight: run anything
    ),
}
# Keys that switch the machine off, put it to sleep or end the session, whatever the modifiers.
DENIED_KEY_NAMES = frozenset(
    {
        "power", "poweroff", "powerdown", "sleep", "suspend", "hibernate", "standby", "wakeup",
        "logoff", "logout", "screensaver", "lock", "eject", "sysrq", "terminate_server",
    }
)  # fmt: skip

_GENERIC = {
    "ctrlleft": "ctrl",
    "ctrlright": "ctrl",
    "altleft": "alt",
    "altright": "alt",
    "option": "alt",
    "shiftleft": "shift",
    "shiftright": "shift",
    "win": "super",
    "winleft": "super",
    "winright": "super",
    "command": "super",
}


def _platform_key(platform: str) -> str:
    if platform.startswith("win"):
        return "win32"
    return "darwin" if platform == "darwin" else "linux"


def _key_name(token: str) -> str:
    cleaned = token.strip().lower().replace("-", "_").replace(" ", "_")
    cleaned = cleaned.removeprefix("xf86").removeprefix("xf86_").removeprefix("_")
    return cleaned.replace("_", "")


def normalized_combo(keys: Iterable[str], platform: str = sys.platform) -> frozenset[str]:
    """The set of keys a combo presses, with aliases and left/right variants made one name."""
    combo = parse_combo(tuple(keys), platform)
    return frozenset(_GENERIC.get(k, k) for k in combo.keys)


def check_combo_setting(text: str) -> str:
    """Validate one settings entry: a combo such as "ctrl+alt+t", or a denied key name ("sleep")."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("a key combination such as 'ctrl+alt+t' is needed")
    if _key_name(text) in DENIED_KEY_NAMES:
        return text.strip()
    try:
        normalized_combo(_split_tokens([text.strip()]), "linux")
    except UnknownKeyError as exc:
        raise ValueError(f"{text!r} is not a key combination: {exc.message}") from None
    return text.strip()


class PolicyRefusal(ExecutorError):
    """An action the hard policy refuses in every mode; nothing was sent to the desktop.

    `rule`: "denied-key", "too-many-keys", "type-too-long", "run-type-budget", "too-many-primitives",
    "outside-scope", "no-focus" or "scope-lost".
    """

    def __init__(self, rule: str, message: str, hint: str | None = None) -> None:
        super().__init__(message, hint)
        self.rule = rule


@dataclass(frozen=True)
class DeniedCombo:
    keys: frozenset[str]
    text: str


class ActionPolicy:
    """The hard rules for one executor; `begin_run` starts a run's budget and scope."""

    def __init__(self, safety: SafetySettings | None = None, platform: str = sys.platform) -> None:
        self.safety = safety or SafetySettings()
        self.platform = platform
        allowed_names = {_key_name(a) for a in self.safety.allow_dangerous_keys}
        allowed = {
            normalized_combo(_split_tokens([a]), platform)
            for a in self.safety.allow_dangerous_keys
            if _key_name(a) not in DENIED_KEY_NAMES
        }
        entries = [*DENIED_COMBOS[_platform_key(platform)], *self.safety.denied_key_combos]
        denied: list[DeniedCombo] = []
        for text in entries:
            if _key_name(text) in DENIED_KEY_NAMES:
                continue  # a key name, handled below
            keys = normalized_combo(_split_tokens([text]), platform)
            if keys not in allowed:
                denied.append(DeniedCombo(keys, text))
        self.denied = tuple(denied)
        self.denied_names = frozenset(
            (DENIED_KEY_NAMES - allowed_names)
            | {_key_name(t) for t in self.safety.denied_key_combos if _key_name(t) in DENIED_KEY_NAMES}
        )
        self.scope: RunScope | None = None
        self.typed_chars = 0

    def begin_run(self, scope: RunScope | None = None) -> None:
        """A new run: its typing budget starts at zero and its points must lie in `scope`."""
        self.typed_chars = 0
        self.scope = scope

    # -- the checks ------------------------------------------------------------------------
    def check(self, resolved: ResolvedAction, plan: Plan) -> None:
        """Raise `PolicyRefusal` for an action no mode may play (pure but for a live scope)."""
        self.check_action(resolved)
        self.check_plan(resolved, plan)

    def check_action(self, resolved: ResolvedAction) -> None:
        """The rules on the action itself (keys, text): before planning, so a power key is
        refused as denied rather than as unknown."""
        action = resolved.action
        if action.action is ActionType.KEY:
            self._check_keys(action.keys)
        elif action.action is ActionType.TYPE:
            self._check_text(action.text or "")

    def check_plan(self, resolved: ResolvedAction, plan: Plan) -> None:
        """The rules on the planned input: how many events, and where."""
        action = resolved.action
        events = sum(1 for p in plan.primitives if not isinstance(p, Sleep))
        cap = self.safety.max_primitives_per_action
        if events > cap:
            raise PolicyRefusal(
                "too-many-primitives",
                f"{action.describe()[:80]} needs {events} input events; the limit per action is {cap}",
                "split it into smaller actions",
            )
        self.check_scope(resolved)

    def check_scope(self, resolved: ResolvedAction) -> None:
        """The scope must still be there, and every point of the action inside it (read live)."""
        if self.scope is None:
            return
        points = [p for p in (resolved.start_point, resolved.point) if p is not None]
        problem = self.scope.problem(points)  # one look at the desktop for all the checks
        if problem is None:
            return
        lost, point, why = problem
        if lost:
            raise PolicyRefusal(
                "scope-lost", f"{resolved.action.describe()[:80]} was not done: {why}", "the run pauses"
            )
        raise PolicyRefusal(
            "outside-scope",
            f"{resolved.action.describe()} would act at {point}, {why}",
            f"act only inside {self.scope.label}",
        )

    def _check_keys(self, keys: tuple[str, ...]) -> None:
        try:
            tokens = _split_tokens(keys)
        except UnknownKeyError:
            return  # the planner refuses it with its own message
        for token in tokens:
            if _key_name(token) in self.denied_names:
                raise PolicyRefusal(
                    "denied-key", f"the key {token!r} is never pressed by the agent (power/session key)"
                )
        try:
            pressed = normalized_combo(tokens, self.platform)
        except UnknownKeyError:
            return
        for denied in self.denied:
            if denied.keys <= pressed:
                raise PolicyRefusal(
                    "denied-key",
                    f"{'+'.join(keys)} is a session-level shortcut ({denied.text}) the agent never presses",
                    "it could lock, log out, switch the terminal or start programs; "
                    "settings: safety.allow_dangerous_keys",
                )
        cap = self.safety.max_keys_per_combo
        if len(pressed) > cap:
            raise PolicyRefusal(
                "too-many-keys", f"{'+'.join(keys)} holds {len(pressed)} keys at once; the limit is {cap}"
            )

    def _check_text(self, text: str) -> None:
        n, cap = len(text), self.safety.max_type_chars_per_action
        if n > cap:
            raise PolicyRefusal(
                "type-too-long",
                f"the type action has {n} characters; the limit per action is {cap}",
                "type long text in several smaller actions, only what the task needs",
            )
        budget = self.safety.max_type_chars_per_run
        if self.typed_chars + n > budget:
            raise PolicyRefusal(
                "run-type-budget",
                f"this run already typed {self.typed_chars} characters; {n} more would pass "
                f"the limit of {budget} per run",
            )

    def accepted(self, resolved: ResolvedAction) -> None:
        """Count an action that passed (played, approved or reported by dry-run)."""
        if resolved.action.action is ActionType.TYPE:
            self.typed_chars += len(resolved.action.text or "")
