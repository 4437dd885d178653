"""Errors of the action executor: each says what happened and what the user can do."""

from __future__ import annotations

from qwen3vl_agent.errors import UserFacingError


class ExecutorError(UserFacingError):
    """An action could not be executed."""


class ExecutionStopped(ExecutorError):
    """The user stopped the executor (hotkey, fail-safe corner, Stop button); nothing more runs.

    `reason` is "hotkey", "fail-safe", "user" or what the caller passed to `stop()`.
    """

    def __init__(self, reason: str, detail: str | None = None) -> None:
        what = {
            "hotkey": "the stop hotkey was pressed",
            "fail-safe": "the mouse was moved into a screen corner (fail-safe)",
            "user": "stop was requested",
        }.get(reason, reason)
        message = f"Execution stopped: {what}" + (f" ({detail})" if detail else "")
        super().__init__(message, "held keys and buttons were released; resume the executor to go on")
        self.reason = reason


class UnknownKeyError(ExecutorError):
    """A `key` action names a key this executor does not know; nothing was pressed."""


class DisplayUnavailableError(ExecutorError):
    """There is no display to act on (no DISPLAY, the X server is gone, Wayland without X)."""


class MonitorGoneError(ExecutorError):
    """The action's point is on no connected monitor (unplugged, or the layout changed)."""


class ClipboardError(ExecutorError):
    """Unicode text cannot be typed because no clipboard tool works here."""
