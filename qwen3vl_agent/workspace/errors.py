"""Errors of agent workspaces: each says what failed, with the log lines that say why."""

from __future__ import annotations

from qwen3vl_agent.errors import UserFacingError


class WorkspaceError(UserFacingError):
    """A workspace (its own X display with the target app) could not be started or used."""


class WorkspaceStartError(WorkspaceError):
    """The X server or window manager of a workspace did not start."""

    def __init__(self, message: str, hint: str | None = None, *, log_tail: str = "") -> None:
        super().__init__(message + (f": {log_tail.splitlines()[-1]}" if log_tail.strip() else ""), hint)
        self.log_tail = log_tail


class LaunchError(WorkspaceError):
    """The app given with --launch exited, or showed no window in time."""

    def __init__(
        self,
        message: str,
        hint: str | None = None,
        *,
        command: str = "",
        exit_code: int | None = None,
        log_tail: str = "",
    ) -> None:
        super().__init__(message, hint)
        self.command = command
        self.exit_code = exit_code
        self.log_tail = log_tail
