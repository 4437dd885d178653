"""What comes off the wire from an OpenAI-compatible server: stream events, or one typed error.

Transport: `httpx` (the app's HTTP client everywhere) + `httpx-sse`, rather than the `openai`
SDK. Why: the client must close the very connection of a cancelled request at once (that is
how vLLM learns to abort the generation; `cancel_once.py`), read vLLM's extra fields as plain
JSON, and stream into the queue's callbacks; with httpx it owns that connection directly, where
the SDK would add its own retries, timeouts and response types to switch off and map back, and
pull in a second dependency tree. `httpx-sse` parses the stream per event as the WHATWG spec
says (multi-line `data:` joined with newlines, comments and `id:`/`retry:` ignored, `event:`
names kept), which the old per-`data:`-line reader did not: servers other than vLLM send
spec-legal multi-line events.

Every failure becomes one `EngineError` subclass carrying its data (`status_code`, `body`,
`retry_after_s`), so callers branch on types, not on message text.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Any

import httpx
from httpx_sse import EventSource, SSEError

from qwen3vl_agent.engine.retry_policy import parse_retry_after
from qwen3vl_agent.errors import (
    EngineAuthError,
    EngineBadAnswerError,
    EngineBusyError,
    EngineConnectError,
    EngineError,
    EngineGatewayError,
    EngineHTTPError,
    EngineServerError,
    EngineStreamBrokenError,
    EngineTimeoutError,
    RequestRejectedError,
)

GATEWAY_STATUS = {502, 503, 504}  # the engine behind is away: out of rotation until a probe says back
BODY_KEPT = 2000  # characters of an error body kept on the exception


def server_message(text: str, status: int) -> str:
    """The server's own words for an error answer: its JSON `error.message`/`detail`, or the text."""
    try:
        body = json.loads(text)
    except ValueError:
        return text[:500] or httpx.codes.get_reason_phrase(status)
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict):
            return str(err.get("message") or err.get("detail") or err)[:1000]
        if isinstance(body.get("detail"), str):
            return str(body["detail"])[:1000]
        return str(err)[:1000]
    return str(body)[:1000]


def http_error(url: str, status: int, body: str, retry_after: str | None = None) -> EngineHTTPError:
    """The typed error for an HTTP error answer from `url` (`status`, the response `body`)."""
    message = server_message(body, status)
    kind: type[EngineHTTPError] = EngineHTTPError
    text = f"The engine answered HTTP {status}: {message}"
    hint: str | None = "see the engine log"
    if status in GATEWAY_STATUS:
        kind, text = EngineGatewayError, f"{url} answered HTTP {status}: {message}"
    elif status in (400, 422):
        kind, text, hint = RequestRejectedError, f"The engine rejected the request: {message}", None
    elif status in (401, 403):
        kind, text = EngineAuthError, f"The engine at {url} refused the API key (HTTP {status})"
        hint = "check engine.api_key / the endpoint's api_key"
    elif status == 404:
        kind, hint = RequestRejectedError, None
        text = f"The engine does not know this model or route: {message}"
    elif status == 429:
        kind, text, hint = EngineBusyError, f"The engine is busy (HTTP 429): {message}", "try again later"
    elif status >= 500:
        kind, text = EngineServerError, f"The engine failed (HTTP {status}): {message}"
    return kind(
        text, hint, status_code=status, body=body[:BODY_KEPT], retry_after_s=parse_retry_after(retry_after)
    )


def transport_error(url: str, exc: httpx.HTTPError) -> EngineError:
    """The typed error for a request to `url` that got no HTTP answer (or lost it)."""
    detail = describe(exc)
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
        return EngineConnectError(
            f"cannot connect to {url} ({detail})",
            "check that the engine is running; see its log",
            detail=detail,
            timed_out=isinstance(exc, httpx.ConnectTimeout),
        )
    if isinstance(exc, httpx.TimeoutException):
        return EngineTimeoutError(
            f"{url} did not answer in time ({detail})", "it may be overloaded or stalled"
        )
    return EngineStreamBrokenError(f"the connection to {url} broke ({detail})", "see the engine log")


def whole_answer_event(body: bytes) -> dict[str, Any]:
    """A non-streamed chat completion as one stream event, so one parser serves both.

    Asked for where nobody reads tokens as they come (OCR pages): the server then skips its
    per-token SSE work, ~0.15 ms of its front end's CPU per output token (docs/benchmarks.md).
    """
    try:
        answer = json.loads(body)
    except ValueError as exc:
        raise EngineBadAnswerError(
            f"The engine's answer is not JSON ({len(body)} bytes)",
            "see the engine log",
            body=body[:BODY_KEPT].decode("utf-8", "replace"),
        ) from exc
    if not isinstance(answer, dict):
        raise EngineBadAnswerError("The engine's answer is not a JSON object", "see the engine log")
    if "error" in answer or answer.get("object") == "error":
        return {"error": answer.get("error", answer)}
    choices = []
    for choice in answer.get("choices") or []:
        message = dict(choice.get("message") or {})
        message["tool_calls"] = [
            {**call, "index": call.get("index", i)} for i, call in enumerate(message.get("tool_calls") or [])
        ]
        choices.append({"delta": message, "finish_reason": choice.get("finish_reason")})
    return {"model": answer.get("model"), "usage": answer.get("usage"), "choices": choices}


async def stream_events(resp: httpx.Response) -> AsyncGenerator[dict[str, Any], None]:
    """The JSON payloads of a chat-completions stream, event by event, up to `[DONE]`.

    An `event: error` event's payload comes as `{"error": ...}`. A server that ignored
    `stream: true` and sent one JSON answer is read as that answer. Close it with `aclosing`:
    it closes httpx-sse's line reader in turn, so when the consumer stops early (an error
    event, an `on_delta` that raises) no generator of the chain is left for the garbage
    collector to close later, perhaps outside its event loop."""
    if resp.headers.get("content-type", "").partition(";")[0].strip() == "application/json":
        yield whole_answer_event(await resp.aread())
        return
    try:
        async with aclosing(EventSource(resp).aiter_sse()) as events:
            async for sse in events:
                data = sse.data.strip()
                if data == "[DONE]":
                    return
                if not data:
                    continue
                try:
                    event = json.loads(data)
                except json.JSONDecodeError as exc:
                    raise EngineBadAnswerError(
                        f"The engine sent malformed stream data: {data[:200]!r}", body=data[:BODY_KEPT]
                    ) from exc
                if not isinstance(event, dict):
                    raise EngineBadAnswerError(
                        f"The engine sent a stream event that is not an object: {data[:200]!r}",
                        body=data[:BODY_KEPT],
                    )
                yield {"error": event.get("error", event)} if sse.event == "error" else event
    except SSEError as exc:
        raise EngineBadAnswerError(f"The engine did not answer with an event stream ({exc})") from exc


def describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
