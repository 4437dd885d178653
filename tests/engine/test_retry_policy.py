"""The retry policy: which engine failures get another try, and how long to wait before it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from qwen3vl_agent.config import EngineSettings
from qwen3vl_agent.engine.retry_policy import RetryPolicy, parse_retry_after, retry_delay, should_retry
from qwen3vl_agent.errors import (
    DeadlineExceededError,
    EngineAuthError,
    EngineBadAnswerError,
    EngineBusyError,
    EngineGatewayError,
    EngineServerError,
    EngineStreamBrokenError,
    EngineTimeoutError,
    EngineUnavailableError,
    RequestRejectedError,
)

POLICY = RetryPolicy(max_attempts=3, backoff_s=0.5, backoff_max_s=8.0, max_retry_after_s=60.0)


@pytest.mark.parametrize(
    ("error", "retried"),
    [
        (EngineServerError("boom", status_code=500), True),
        (EngineGatewayError("down", status_code=503), True),
        (EngineServerError("no such thing", status_code=501), False),
        (EngineBusyError("busy", status_code=429), True),
        (EngineStreamBrokenError("cut"), True),
        (EngineBadAnswerError("garbage"), True),
        (EngineUnavailableError("connection refused"), True),
        (RequestRejectedError("too many images", status_code=400), False),
        (EngineAuthError("bad key", status_code=401), False),
        (EngineTimeoutError("silent"), False),
        (DeadlineExceededError("too late"), False),
        (ValueError("a bug of ours"), False),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, Exception) else str(v),
)
def test_which_failures_are_retried(error: Exception, retried: bool) -> None:
    assert should_retry(error, 1, POLICY) is retried


def test_attempts_are_bounded() -> None:
    error = EngineServerError("boom", status_code=500)
    assert [should_retry(error, n, POLICY) for n in (1, 2, 3, 4)] == [True, True, False, False]
    assert not should_retry(error, 1, RetryPolicy(max_attempts=1))


def test_backoff_doubles_with_jitter_up_to_the_cap() -> None:
    error = EngineServerError("boom", status_code=500)
    low = [retry_delay(error, n, POLICY, 0.0) for n in range(1, 8)]
    high = [retry_delay(error, n, POLICY, 0.999999) for n in range(1, 8)]
    assert low == [0.25, 0.5, 1.0, 2.0, 4.0, 4.0, 4.0]  # half of each step is fixed
    assert high == pytest.approx([0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0])
    assert low[0] < retry_delay(error, 1, POLICY, 0.5) < high[0]  # the rest is random


def test_retry_after_is_honoured_and_a_long_one_is_not_waited_out() -> None:
    busy = EngineBusyError("busy", status_code=429, retry_after_s=7.0)
    assert should_retry(busy, 1, POLICY)
    assert retry_delay(busy, 1, POLICY, 0.0) == 7.0 == retry_delay(busy, 2, POLICY, 0.99)
    too_long = EngineGatewayError("maintenance", status_code=503, retry_after_s=3600.0)
    assert not should_retry(too_long, 1, POLICY)


def test_retry_after_header_in_seconds_and_as_an_http_date() -> None:
    now = datetime(2026, 12, 4, 17, 0, 0, tzinfo=UTC)
    assert parse_retry_after("120", now) == 120.0
    assert parse_retry_after(" 1.5 ", now) == 1.5
    assert parse_retry_after("Fri, 04 Dec 2026 17:00:30 GMT", now) == 30.0
    assert parse_retry_after("Friday, 04-Dec-26 17:01:00 GMT", now) == 60.0  # RFC 850 form
    assert parse_retry_after("Fri, 04 Dec 2026 16:00:00 GMT", now) == 0.0  # in the past: now
    for unusable in (None, "", "soon", "nan", "inf"):
        assert parse_retry_after(unusable, now) is None
    assert parse_retry_after("-5", now) == 0.0
    later = datetime.now(UTC) + timedelta(seconds=90)
    assert 80 < (parse_retry_after(later.strftime("%a, %d %b %Y %H:%M:%S GMT")) or 0) <= 90


def test_the_policy_comes_from_the_engine_settings() -> None:
    settings = EngineSettings(
        max_retries=4, retry_backoff_s=0.1, retry_backoff_max_s=1.0, retry_after_max_s=5
    )
    assert RetryPolicy.from_settings(settings) == RetryPolicy(5, 0.1, 1.0, 5.0)
