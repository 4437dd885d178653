"""Errors the user may see.

Every failure that can reach a person is a `UserFacingError`: it carries a one-line message
that says what happened and, where there is one, what to do. The CLI and the UI print
`str(error)` and never a traceback.
"""

from __future__ import annotations

import copy


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


class EngineUnavailableError(EngineError):
    """No engine can take requests right now (not installed, not started, all endpoints down,
    restarting): nothing answered. Waiting for it is reasonable (the agent loop does)."""


class EngineConnectError(EngineUnavailableError):
    """No connection to an endpoint could be made (refused, timed out, no route): `detail` is the
    transport's own reason, e.g. "ConnectError: All connection attempts failed"."""

    def __init__(self, message: str, hint: str | None = None, *, detail: str = "", timed_out: bool = False):
        super().__init__(message, hint)
        self.detail = detail
        self.timed_out = timed_out


class ModelsUnavailableError(EngineUnavailableError):
    """No endpoint answered `/v1/models`; `cause` is the last endpoint's typed failure."""

    def __init__(self, message: str, hint: str | None = None, *, cause: EngineError | None = None):
        super().__init__(message, hint)
        self.cause = cause


class EngineStartError(EngineError):
    """The managed engine could not be started; the message names the reason found in its log."""


class EngineFaultError(EngineError):
    """The engine was reached but gave no usable answer: an HTTP error, a broken stream, garbage
    or silence. Unlike an absent engine this is not waited out: it is retried a few times
    (engine/retry_policy.py), then the request fails. `attempts` counts the tries so far."""

    def __init__(
        self,
        message: str,
        hint: str | None = None,
        *,
        status_code: int | None = None,
        body: str | None = None,
        retry_after_s: float | None = None,
        attempts: int = 1,
    ) -> None:
        super().__init__(message, hint)
        self.status_code = status_code
        self.body = body
        self.retry_after_s = retry_after_s
        self.attempts = attempts

    def after_attempts(self, attempts: int) -> EngineFaultError:
        """The same failure, reported after `attempts` tries ("failed N times: ...")."""
        message = self.message if attempts <= 1 else f"The engine failed {attempts} times: {self.message}"
        again = copy.copy(self)
        again.args = (message,)
        again.message, again.attempts = message, attempts
        return again


class EngineHTTPError(EngineFaultError):
    """The engine answered with an HTTP error status (`status_code`, the response `body`)."""


class EngineServerError(EngineHTTPError):
    """HTTP 5xx: the server failed on a request it accepted."""


class EngineGatewayError(EngineServerError, EngineUnavailableError):
    """HTTP 502/503/504: a proxy or the server itself says the engine behind it is unavailable
    (restarting, overloaded, down): both a server error and an absent engine."""


class EngineBusyError(EngineHTTPError):
    """HTTP 429: the server asks to come back later (`retry_after_s` when it said when)."""


class EngineAuthError(EngineHTTPError):
    """HTTP 401/403: the API key was refused; retrying cannot help."""


class RequestRejectedError(EngineHTTPError):
    """The engine refused a request as invalid (HTTP 4xx): retrying would not help."""


class EngineStreamBrokenError(EngineFaultError):
    """The connection broke, or the stream ended, before the answer was complete."""


class EngineBadAnswerError(EngineFaultError):
    """The engine's answer does not follow the protocol (not JSON, not SSE, no choices)."""


class EngineTimeoutError(EngineFaultError):
    """The engine accepted the request and then sent nothing for longer than the read timeout."""


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
