"""Errors the user may see.

Every failure that can reach a person is a `UserFacingError`: it carries a one-line message
that says what happened and, where there is one, what to do. The CLI and the UI print
`str(error)` and never a traceback.
"""

from __future__ import annotations


class UserFacingError(Exception):
    """A failure with a message fit for the user; `hint` says what to do about it."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class ConfigError(UserFacingError):
    """The configuration file or an override is invalid."""


class StorageError(UserFacingError):
    """The database cannot be opened, is locked or is corrupt."""


class ImageError(UserFacingError):
    """An input image cannot be used (corrupt, truncated, empty, not an image, too large)."""


class EngineError(UserFacingError):
    """The inference engine is unavailable, failed, or answered with an error."""


class EngineServerError(EngineError):
    """The engine answered a request with a server error (HTTP 5xx): a later try may succeed."""

    def __init__(self, message: str, hint: str | None = None, *, status_code: int | None = None) -> None:
        super().__init__(message, hint)
        self.status_code = status_code


class EngineUnavailableError(EngineError):
    """No engine can take requests right now (not installed, not started, all endpoints down)."""


class EngineStartError(EngineError):
    """The managed engine could not be started; the message names the reason found in its log."""


class RequestRejectedError(EngineError):
    """The engine refused a request as invalid (HTTP 4xx): retrying would not help."""


class DeadlineExceededError(EngineError):
    """A request did not finish before its deadline."""


class QueueFullError(UserFacingError):
    """The request queue is at its bound: the caller should retry later instead of piling up."""


class RequestCancelledError(UserFacingError):
    """The request was cancelled before it finished."""


class CaptureError(UserFacingError):
    """The screen cannot be captured: no display, a monitor that is gone, an empty grab."""


class ActionParseError(UserFacingError):
    """A model's tool call cannot be trusted; the message is written to be shown back to the model."""
