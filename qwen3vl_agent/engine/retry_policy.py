"""When to try an engine request again, and how long to wait first: one policy for every caller.

Why one place: a server that answers HTTP 500 to everything was asked 75 times in 150 s (the
agent loop retried every engine error every 2 s, forever), while the client retried only
502/503/504, with a fixed doubling and no jitter, ignoring `Retry-After`. The engine client asks
these two pure functions before it tries again, and the agent loop asks the same ones before it
repeats a step whose answer failed (a stream dropped mid-answer cannot be retried by the client:
the caller has seen part of it). Attempts count across both, so a step costs at most
`max_attempts` requests, then fails with the last error's reason.

- Retried: a server error (HTTP 5xx but 501/505), 429 busy, a broken stream, an answer that is
  not the protocol (garbage), and a connection that could not be made.
- Never retried: a request the server refused (4xx: it fails the same way again), a refused
  key, silence past a read timeout or a deadline (the caller waited as long as it will), a
  cancel. An engine that is not reachable at all is the caller's business (the agent loop waits
  for it, `--engine-wait`); the policy only bounds the tries of one request.
- The wait: the server's `Retry-After` (delta-seconds or an HTTP date) when it sent one; else
  exponential backoff with "equal jitter" (half of the step fixed, half random), so clients
  that failed together do not come back together, and none comes back at once. A `Retry-After`
  longer than `max_retry_after_s` is not waited out: the request fails now, with its reason.
"""

from __future__ import annotations

import email.utils
import math
from dataclasses import dataclass
from datetime import UTC, datetime

from qwen3vl_agent.config import EngineSettings
from qwen3vl_agent.errors import (
    EngineAuthError,
    EngineBadAnswerError,
    EngineBusyError,
    EngineServerError,
    EngineStreamBrokenError,
    EngineUnavailableError,
)

NOT_RETRIED_5XX = {501, 505}  # "not implemented", "HTTP version not supported": the same again


@dataclass(frozen=True)
class RetryPolicy:
    """How many tries a request gets in all, and the backoff between them."""

    max_attempts: int = 3
    backoff_s: float = 0.5  # the first wait; doubles per attempt
    backoff_max_s: float = 8.0
    max_retry_after_s: float = 60.0

    @classmethod
    def from_settings(cls, engine: EngineSettings) -> RetryPolicy:
        return cls(
            max_attempts=max(0, engine.max_retries) + 1,
            backoff_s=engine.retry_backoff_s,
            backoff_max_s=engine.retry_backoff_max_s,
            max_retry_after_s=engine.retry_after_max_s,
        )


def should_retry(error: BaseException, attempts: int, policy: RetryPolicy) -> bool:
    """Whether a request that failed with `error` after `attempts` tries gets another one."""
    if attempts >= policy.max_attempts or isinstance(error, EngineAuthError):
        return False
    retry_after = getattr(error, "retry_after_s", None)
    if retry_after is not None and retry_after > policy.max_retry_after_s:
        return False
    if isinstance(error, EngineServerError):
        return error.status_code not in NOT_RETRIED_5XX
    return isinstance(
        error, EngineBusyError | EngineStreamBrokenError | EngineBadAnswerError | EngineUnavailableError
    )


def retry_delay(error: BaseException, attempts: int, policy: RetryPolicy, jitter: float) -> float:
    """Seconds to wait before try `attempts + 1`; `jitter` is a random number in [0, 1)."""
    retry_after = getattr(error, "retry_after_s", None)
    if retry_after is not None:
        return max(0.0, float(retry_after))
    step = min(policy.backoff_max_s, policy.backoff_s * 2 ** max(0, attempts - 1))
    return step / 2 + step / 2 * min(max(jitter, 0.0), 1.0)


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """A `Retry-After` header in seconds from `now`: delta-seconds or an HTTP date (RFC 9110).

    None when absent or unreadable (then the backoff applies); a date in the past is 0.
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # an HTTP date is GMT by definition
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
