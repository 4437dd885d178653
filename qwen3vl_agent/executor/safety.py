"""Safety modes and the risk rules that decide which actions need a human's yes.

Modes: `dry-run` (nothing moves; the executor reports what it would do), `confirm` (a
callback approves each action, or only the risky ones with `confirm_only_risky`), `auto`.

What is risky (`RiskAssessor`): a click whose target's nearby text (OCR'd text or a label the
caller passes in `ActionContext`) says Submit/Send/Delete/Pay/Buy/Remove/...; Enter pressed on
such a target; typing into a password field (when the caller can tell); key combos that close
or quit (alt+f4, ctrl+q, ctrl+w, cmd+q, ...). The executor cannot see the screen, so the
context comes from the caller (the agent loop has the screenshot and OCR).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum

from qwen3vl_agent.actions.model import CLICK_ACTIONS, Action, ActionType, ResolvedAction
from qwen3vl_agent.executor.errors import UnknownKeyError
from qwen3vl_agent.executor.keys import parse_combo


class SafetyMode(StrEnum):
    DRY_RUN = "dry-run"
    CONFIRM = "confirm"
    AUTO = "auto"


# Words on a target that make a click irreversible or costly (English, German, French, Spanish).
DEFAULT_RISKY_WORDS: tuple[str, ...] = (
    "submit", "send", "delete", "pay", "buy", "remove", "purchase", "order", "checkout", "check out",
    "confirm", "transfer", "erase", "uninstall", "format", "publish", "post", "sign", "unsubscribe",
    "absenden", "senden", "löschen", "entfernen", "bezahlen", "kaufen", "bestellen",
    "envoyer", "supprimer", "payer", "acheter", "commander",
    "enviar", "eliminar", "borrar", "pagar", "comprar",
)  # fmt: skip
DEFAULT_PASSWORD_WORDS: tuple[str, ...] = (
    "password",
    "passwort",
    "kennwort",
    "mot de passe",
    "contraseña",
    "passcode",
    "pin",
)
# Combos that close a window, quit an app, log out or destroy data.
DEFAULT_CLOSING_COMBOS: tuple[tuple[str, ...], ...] = (
    ("alt", "f4"), ("ctrl", "f4"), ("ctrl", "q"), ("ctrl", "w"), ("ctrl", "shift", "w"), ("ctrl", "shift", "q"),
    ("cmd", "q"), ("cmd", "w"), ("cmd", "shift", "q"), ("cmd", "option", "esc"),
    ("ctrl", "alt", "delete"), ("ctrl", "alt", "backspace"), ("shift", "delete"),
)  # fmt: skip


@dataclass(frozen=True)
class ActionContext:
    """What the caller knows about the action's target (all optional)."""

    target_text: str | None = None  # OCR'd text near the target, or the target's label
    is_password_field: bool | None = None  # None = unknown
    window_title: str | None = None


@dataclass(frozen=True)
class RiskAssessment:
    risky: bool
    reasons: tuple[str, ...] = ()

    @staticmethod
    def safe() -> RiskAssessment:
        return RiskAssessment(False, ())


def _word_pattern(words: Iterable[str]) -> re.Pattern[str]:
    alternatives = "|".join(re.escape(w) for w in sorted(set(words), key=len, reverse=True))
    return re.compile(rf"(?<!\w)({alternatives})(?!\w)", re.IGNORECASE)


class RiskAssessor:
    """Decides whether an action is risky, from the action and the optional context text."""

    def __init__(
        self,
        risky_words: Iterable[str] = DEFAULT_RISKY_WORDS,
        password_words: Iterable[str] = DEFAULT_PASSWORD_WORDS,
        closing_combos: Iterable[Iterable[str]] = DEFAULT_CLOSING_COMBOS,
        platform: str = sys.platform,
    ) -> None:
        self._risky = _word_pattern(risky_words)
        self._password = _word_pattern(password_words)
        self._platform = platform
        self._closing = {frozenset(parse_combo(tuple(c), platform).keys) for c in closing_combos}

    def _risky_words(self, context: ActionContext | None) -> list[str]:
        if context is None or not context.target_text:
            return []
        return sorted({m.group(1).lower() for m in self._risky.finditer(context.target_text)})

    def _password_target(self, context: ActionContext | None) -> bool:
        if context is None:
            return False
        if context.is_password_field is not None:
            return context.is_password_field
        return bool(context.target_text and self._password.search(context.target_text))

    def assess(self, action: Action, context: ActionContext | None = None) -> RiskAssessment:
        reasons: list[str] = []
        kind = action.action
        if kind in CLICK_ACTIONS:
            words = self._risky_words(context)
            if words:
                reasons.append(f"clicks a target that says {', '.join(words)}")
        elif kind is ActionType.KEY:
            try:
                combo = parse_combo(action.keys, self._platform)
            except UnknownKeyError:
                return RiskAssessment.safe()  # refused later anyway, before anything is pressed
            if frozenset(combo.keys) in self._closing:
                reasons.append(f"{combo} may close a window or quit an application")
            if "enter" in combo.keys:
                words = self._risky_words(context)
                if words:
                    reasons.append(f"presses Enter on a target that says {', '.join(words)}")
        elif kind is ActionType.TYPE:
            if self._password_target(context):
                reasons.append("types into a password field")
            if action.text and action.text.endswith("\n") and self._risky_words(context):
                reasons.append("types Enter into a form that may be submitted")
        return RiskAssessment(bool(reasons), tuple(reasons))


@dataclass(frozen=True)
class ConfirmationRequest:
    """What a confirm callback is asked to approve."""

    action: ResolvedAction
    description: str
    risk: RiskAssessment
    plan: tuple[str, ...]
    context: ActionContext | None = None
    steps: tuple[str, ...] = ()  # the plan for a person: every character and key visible (plan_text)


ConfirmCallback = Callable[[ConfirmationRequest], bool | Awaitable[bool]]


def needs_confirmation(mode: SafetyMode, only_risky: bool, action: Action, risk: RiskAssessment) -> bool:
    """Confirm mode asks for every action that does something (or only risky ones)."""
    if mode is not SafetyMode.CONFIRM or action.is_final:
        return False
    return risk.risky if only_risky else True
