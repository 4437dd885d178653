"""The engine client: `InferenceRequest` -> streaming `/v1/chat/completions` -> `InferenceResult`.

Requests stream (SSE, with `stream_options.include_usage`), which gives time-to-first-token; a
request with `stream=False` (OCR pages: nobody reads them token by token) gets one JSON answer,
which spares the server's front end its per-token work. Either way a cancelled caller closes the
HTTP connection: the server sees the disconnect and aborts the generation. The exchange runs under
`run_cancel_once`, so the connection is closed even when the caller is cancelled twice (a second
cancel used to interrupt httpx's clean-up and leave it open).
Retries are bounded and only for transient faults that happened before any text arrived (connect
errors, HTTP 502/503/504, a stream that broke before its first token); a 4xx is never retried and
HTTP 400 becomes `RequestRejectedError` carrying the server's message.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import random
import time
from collections.abc import AsyncGenerator
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any, cast

import httpx

from qwen3vl_agent.config import EngineSettings
from qwen3vl_agent.engine.cancel_once import run_cancel_once
from qwen3vl_agent.engine.endpoints import Endpoint, EndpointPool, first_model
from qwen3vl_agent.engine.retry_policy import RetryPolicy, parse_retry_after, retry_delay, should_retry
from qwen3vl_agent.errors import (
    DeadlineExceededError,
    EngineAuthError,
    EngineBadAnswerError,
    EngineBusyError,
    EngineError,
    EngineFaultError,
    EngineGatewayError,
    EngineHTTPError,
    EngineServerError,
    EngineStreamBrokenError,
    EngineTimeoutError,
    EngineUnavailableError,
    RequestRejectedError,
)
from qwen3vl_agent.inference.request import (
    DeltaCallback,
    ImagePart,
    InferenceRequest,
    InferenceResult,
    Message,
    PreparedImage,
    Timings,
    Usage,
)

log = logging.getLogger(__name__)

GATEWAY_STATUS = {502, 503, 504}  # the engine behind is away: out of rotation until a probe says back


def image_data_url(image: PreparedImage) -> str:
    return f"data:{image.mime};base64,{base64.b64encode(image.data).decode('ascii')}"


def message_json(message: Message) -> dict[str, Any]:
    if isinstance(message.content, str):
        return {"role": message.role, "content": message.content}
    parts: list[dict[str, Any]] = []
    for part in message.content:
        if isinstance(part, ImagePart):
            parts.append({"type": "image_url", "image_url": {"url": image_data_url(part.image)}})
        else:
            parts.append({"type": "text", "text": part.text})
    return {"role": message.role, "content": parts}


def build_payload(request: InferenceRequest, model: str) -> dict[str, Any]:
    """The chat-completions body vLLM accepts for this request (always streamed)."""
    sp = request.sampling
    body: dict[str, Any] = {
        "model": request.model or model,
        "messages": [message_json(m) for m in request.messages],
        "stream": request.stream,
        "max_tokens": sp.max_tokens,
        "temperature": sp.temperature,
        "top_p": sp.top_p,
        "top_k": sp.top_k,
        "presence_penalty": sp.presence_penalty,
    }
    if request.stream:
        body["stream_options"] = {"include_usage": True}
    if sp.seed is not None:
        body["seed"] = sp.seed
    if sp.stop:
        body["stop"] = list(sp.stop)
    if sp.ignore_eos:
        body["ignore_eos"] = True
    if request.json_schema is not None:
        name = str(request.json_schema.get("title") or "output")
        safe = "".join(c if c.isalnum() or c in "_-" else "_" for c in name)[:64]
        body["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": safe, "schema": request.json_schema},
        }
    if request.tools:
        # The tools are rendered into the prompt by the chat template; the app parses Qwen's
        # <tool_call> text itself, so the server needs no tool parser ("auto" would demand one).
        body["tools"] = request.tools
        body["tool_choice"] = "none"
    if request.mm_processor_kwargs:
        body["mm_processor_kwargs"] = request.mm_processor_kwargs
    return body


@dataclass
class _StreamState:
    text: list[str] = field(default_factory=list)
    tool_calls: dict[int, dict[str, str]] = field(default_factory=dict)
    finish_reason: str | None = None
    usage: Usage = field(default_factory=Usage)
    ttft_s: float | None = None
    delivered: bool = False  # some text already went to the caller: no retry from here on
    model: str | None = None


def _server_message(text: str, status: int) -> str:
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


class OpenAIEngineClient:
    """`EngineClient` over an `EndpointPool` of OpenAI-compatible servers (vLLM)."""

    def __init__(self, pool: EndpointPool, settings: EngineSettings) -> None:
        self._pool = pool
        self._settings = settings
        self._retry = RetryPolicy.from_settings(settings)
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(
                settings.request_timeout_s,
                connect=settings.connect_timeout_s,
            ),
            limits=httpx.Limits(max_connections=256, max_keepalive_connections=64),
        )

    @property
    def pool(self) -> EndpointPool:
        return self._pool

    async def aclose(self) -> None:
        await self._http.aclose()

    async def complete(
        self, request: InferenceRequest, on_delta: DeltaCallback | None = None
    ) -> InferenceResult:
        """Run the request; stream text deltas to `on_delta`; raise `EngineError`s.

        `request.deadline_s` (seconds from this call) bounds the whole call, retries included.
        Cancelling the awaiting task closes the HTTP stream, so the server aborts the request.
        """
        if request.deadline_s is None:
            return await self._complete(request, on_delta)
        try:
            async with asyncio.timeout(request.deadline_s):
                return await self._complete(request, on_delta)
        except TimeoutError:
            raise DeadlineExceededError(
                f"The engine did not finish the request within its deadline of {request.deadline_s:g} s",
                "the engine is overloaded or stalled; try again or raise the deadline",
            ) from None

    async def _complete(self, request: InferenceRequest, on_delta: DeltaCallback | None) -> InferenceResult:
        """Try endpoints until one answers, as `retry_policy` allows; raise the last failure."""
        last: EngineError | None = None
        attempts = 0
        while True:
            try:
                endpoint = self._pool.acquire()
            except EngineUnavailableError:
                if last is not None:  # a retry found every endpoint out of rotation
                    raise EngineUnavailableError(
                        f"The engine is unreachable: {last.message}",
                        "start the engine or check engine.endpoints",
                    ) from None
                raise
            attempts += 1
            state = _StreamState()
            try:
                return await run_cancel_once(self._run_once(endpoint, request, on_delta, state))
            except (EngineFaultError, _ConnectFailed) as exc:
                last = exc
                retry = not state.delivered and should_retry(exc, attempts, self._retry)
                self._after_failure(endpoint, exc, state, last_try=not retry)
                if not retry:
                    raise _reported(exc, attempts) from exc
                log.info("engine fault on %s (attempt %d): %s", endpoint.base_url, attempts, exc)
            finally:
                self._pool.release(endpoint)
            await asyncio.sleep(retry_delay(last, attempts, self._retry, random.random()))

    def _after_failure(
        self, endpoint: Endpoint, exc: EngineError, state: _StreamState, last_try: bool
    ) -> None:
        """Take a failing endpoint out of rotation where the fault says it is away.

        With another endpoint to go to it goes out at once; when it is the only one it is retried
        first (a glitch) and goes out only when the retries are spent."""
        if not isinstance(exc, _ConnectFailed | EngineGatewayError | EngineStreamBrokenError):
            return
        if state.delivered:  # broke off mid-answer: its engine likely crashed
            self._pool.mark_failed(endpoint, f"stream broke: {exc.message}")
            return
        others = any(e.healthy and e is not endpoint for e in self._pool.endpoints)
        if others or last_try:
            self._pool.mark_failed(endpoint, exc.message)

    async def _endpoint_model(self, endpoint: Endpoint) -> str:
        """The model name to send: the endpoint's configured one, else what its `/v1/models`
        serves (asked once and remembered), else the settings' name."""
        if endpoint.model is None and not endpoint.managed:
            try:
                resp = await self._http.get(f"{endpoint.base_url}/models", headers=endpoint.headers())
                if resp.status_code == 200:
                    endpoint.model = first_model(resp.json())
            except (httpx.HTTPError, ValueError) as exc:
                log.info("could not ask %s for its model: %s", endpoint.base_url, exc)
        return endpoint.model or self._settings.served_model_name or self._settings.model

    async def _run_once(
        self,
        endpoint: Endpoint,
        request: InferenceRequest,
        on_delta: DeltaCallback | None,
        state: _StreamState,
    ) -> InferenceResult:
        model = request.model or await self._endpoint_model(endpoint)
        body = json.dumps(build_payload(request, model), ensure_ascii=False).encode("utf-8")
        accept = "text/event-stream" if request.stream else "application/json"
        headers = {"Content-Type": "application/json", "Accept": accept, **endpoint.headers()}
        started = time.perf_counter()
        url = f"{endpoint.base_url}/chat/completions"
        try:
            async with self._http.stream("POST", url, content=body, headers=headers) as resp:
                if resp.status_code != 200:
                    await resp.aread()
                    self._raise_for_status(endpoint, resp)
                if not request.stream:
                    self._consume(whole_answer_event(await resp.aread()), state, started, on_delta)
                    state.ttft_s = None  # a whole answer has no first token to time
                else:
                    # closed here, not by the garbage collector, when _consume or on_delta raises
                    async with aclosing(_sse_events(resp)) as events:
                        async for event in events:
                            self._consume(event, state, started, on_delta)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise _ConnectFailed(f"cannot connect to {endpoint.base_url} ({_describe(exc)})") from exc
        except httpx.ReadTimeout as exc:
            raise EngineTimeoutError(
                f"The engine at {endpoint.base_url} stopped answering "
                f"(no data for {self._settings.request_timeout_s:g} s)",
                "it may be overloaded or stalled; see its log",
            ) from exc
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
            if not state.delivered:
                raise EngineStreamBrokenError(
                    f"the connection to {endpoint.base_url} broke before the answer began ({_describe(exc)})",
                    "the engine may have crashed; see its log",
                ) from exc
            raise EngineStreamBrokenError(
                "The engine connection broke off in the middle of the answer",
                "the engine may have crashed; try again",
            ) from exc
        if state.finish_reason is None:
            if not state.delivered:
                raise EngineStreamBrokenError(
                    f"{endpoint.base_url} closed the stream without an answer", "see the engine log"
                )
            raise EngineStreamBrokenError(
                "The engine connection broke off in the middle of the answer",
                "the engine may have crashed; try again",
            )
        elapsed = time.perf_counter() - started
        self._pool.mark_ok(endpoint)
        return InferenceResult(
            text="".join(state.text) + _render_tool_calls(state.tool_calls),
            finish_reason=state.finish_reason,
            usage=state.usage,
            timings=Timings(service_s=elapsed, ttft_s=state.ttft_s, total_s=elapsed),
            endpoint=endpoint.base_url,
            model=state.model or model,
        )

    def _raise_for_status(self, endpoint: Endpoint, resp: httpx.Response) -> None:
        raise http_error(endpoint.base_url, resp.status_code, resp.text, resp.headers.get("Retry-After"))

    def _consume(
        self, event: dict[str, Any], state: _StreamState, started: float, on_delta: DeltaCallback | None
    ) -> None:
        if "error" in event:
            err = event["error"]
            message = err.get("message", err) if isinstance(err, dict) else err
            code = err.get("code") if isinstance(err, dict) else None
            body = json.dumps(event)[:2000]
            if code == 400:
                raise RequestRejectedError(
                    f"The engine rejected the request: {message}", status_code=400, body=body
                )
            raise EngineServerError(
                f"The engine failed while answering: {message}",
                "see the engine log",
                status_code=code if isinstance(code, int) else None,
                body=body,
            )
        state.model = event.get("model") or state.model
        usage = event.get("usage")
        if usage:
            state.usage = Usage(
                int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
            )
        for choice in event.get("choices") or []:
            delta = choice.get("delta") or {}
            text = delta.get("content")
            if text:
                if state.ttft_s is None:
                    state.ttft_s = time.perf_counter() - started
                state.text.append(text)
                state.delivered = True
                if on_delta is not None:
                    on_delta(text)
            for call in delta.get("tool_calls") or []:
                slot = state.tool_calls.setdefault(int(call.get("index", 0)), {"name": "", "arguments": ""})
                fn = call.get("function") or {}
                slot["name"] += fn.get("name") or ""
                slot["arguments"] += fn.get("arguments") or ""
                state.delivered = True
            if choice.get("finish_reason"):
                state.finish_reason = choice["finish_reason"]

    async def list_models(self) -> list[dict[str, Any]]:
        """The models served by the first reachable endpoint (`/v1/models` `data`)."""
        last: Exception | None = None
        for endpoint in [e for e in self._pool.endpoints if e.healthy] or self._pool.endpoints:
            try:
                resp = await self._http.get(f"{endpoint.base_url}/models", headers=endpoint.headers())
            except httpx.HTTPError as exc:
                last = exc
                continue
            if resp.status_code != 200:
                last = EngineError(f"{endpoint.base_url}/models answered HTTP {resp.status_code}")
                continue
            try:
                return [dict(m) for m in resp.json().get("data") or []]
            except (ValueError, AttributeError, TypeError):  # 200, but not /v1/models JSON
                last = EngineError(
                    f"{endpoint.base_url}/models did not answer like an OpenAI-compatible server"
                )
        raise EngineUnavailableError(
            f"No engine answered /v1/models ({_describe(last) if last else 'no endpoint'})",
            "start the engine or check engine.endpoints",
        )

    async def health(self) -> dict[str, bool]:
        """Whether each endpoint answers right now (url -> ok)."""
        checks = await asyncio.gather(*(self._pool.check(e) for e in self._pool.endpoints))
        return {e.base_url: ok for e, (ok, _) in zip(self._pool.endpoints, checks, strict=True)}


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
            body=body[:2000].decode("utf-8", "replace"),
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


async def _sse_events(resp: httpx.Response) -> AsyncGenerator[dict[str, Any], None]:
    """JSON payloads of an SSE stream's `data:` lines, up to `[DONE]`.

    Close it with `aclosing`: it closes httpx's line iterator in turn, so when the consumer stops
    early (an error event, an `on_delta` that raises) no generator of the chain is left for the
    garbage collector to close later, perhaps outside its event loop."""
    # httpx types aiter_lines() as AsyncIterator; it is an async generator (it has aclose)
    lines_gen = cast("AsyncGenerator[str, None]", resp.aiter_lines())
    async with aclosing(lines_gen) as lines:
        async for line in lines:
            if not line.startswith("data:"):
                continue
            data = line[5:].strip()
            if data == "[DONE]":
                return
            if not data:
                continue
            try:
                event = json.loads(data)
            except json.JSONDecodeError as exc:
                raise EngineBadAnswerError(
                    f"The engine sent malformed stream data: {data[:200]!r}", body=data[:2000]
                ) from exc
            if not isinstance(event, dict):
                raise EngineBadAnswerError(
                    f"The engine sent a stream event that is not an object: {data[:200]!r}", body=data[:2000]
                )
            yield event


def _render_tool_calls(calls: dict[int, dict[str, str]]) -> str:
    """Tool calls parsed by the server, written back in Qwen's `<tool_call>` text form."""
    out = []
    for index in sorted(calls):
        call = calls[index]
        try:
            args: Any = json.loads(call["arguments"]) if call["arguments"] else {}
        except json.JSONDecodeError:
            args = call["arguments"]
        out.append("<tool_call>\n" + json.dumps({"name": call["name"], "arguments": args}) + "\n</tool_call>")
    return ("\n" if out else "") + "\n".join(out)


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class _ConnectFailed(EngineUnavailableError):
    """No connection to one endpoint (refused, timed out): worth a retry, maybe elsewhere."""


def _reported(exc: EngineError, attempts: int) -> EngineError:
    """The error the caller gets after `attempts` tries."""
    if isinstance(exc, _ConnectFailed):
        return EngineUnavailableError(
            f"The engine failed {attempts} times: {exc.message}" if attempts > 1 else exc.message,
            "check that the engine is running; see its log",
        )
    if isinstance(exc, EngineFaultError):
        return exc.after_attempts(attempts)
    return exc


def http_error(url: str, status: int, body: str, retry_after: str | None = None) -> EngineHTTPError:
    """The typed error for an HTTP error answer from `url` (`status`, the response `body`)."""
    message = _server_message(body, status)
    kind: type[EngineHTTPError] = EngineHTTPError
    text, hint = f"The engine answered HTTP {status}: {message}", "see the engine log"
    hint_or_none: str | None = hint
    if status in GATEWAY_STATUS:
        kind, text = EngineGatewayError, f"{url} answered HTTP {status}: {message}"
    elif status in (400, 422):
        kind, text, hint_or_none = RequestRejectedError, f"The engine rejected the request: {message}", None
    elif status in (401, 403):
        kind, text = EngineAuthError, f"The engine at {url} refused the API key (HTTP {status})"
        hint_or_none = "check engine.api_key / the endpoint's api_key"
    elif status == 404:
        kind, hint_or_none = RequestRejectedError, None
        text = f"The engine does not know this model or route: {message}"
    elif status == 429:
        kind, text, hint_or_none = (
            EngineBusyError,
            f"The engine is busy (HTTP 429): {message}",
            "try again later",
        )
    elif status >= 500:
        kind, text = EngineServerError, f"The engine failed (HTTP {status}): {message}"
    return kind(
        text, hint_or_none, status_code=status, body=body[:2000], retry_after_s=parse_retry_after(retry_after)
    )
