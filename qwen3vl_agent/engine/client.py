"""The engine client: `InferenceRequest` -> streaming `/v1/chat/completions` -> `InferenceResult`.

Requests stream (SSE, with `stream_options.include_usage`), which gives time-to-first-token; a
request with `stream=False` (OCR pages: nobody reads them token by token) gets one JSON answer,
which spares the server's front end its per-token work. Either way a cancelled caller closes the
HTTP connection: the server sees the disconnect and aborts the generation. The exchange runs under
`run_cancel_once`, so the connection is closed even when the caller is cancelled twice (a second
cancel used to interrupt httpx's clean-up and leave it open).
Tries follow `retry_policy` (server errors, 429, broken streams, garbage, refused connections; at
most `engine.max_retries` more, with backoff or the server's `Retry-After`), and only while no
text has reached the caller. Every failure is a typed `EngineError` (`wire.py` says which, and
why the transport is httpx + httpx-sse). The HTTP client is the pool's: one per runtime.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import random
import time
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

import httpx

from qwen3vl_agent.config import EngineSettings
from qwen3vl_agent.engine.cancel_once import run_cancel_once
from qwen3vl_agent.engine.endpoints import Endpoint, EndpointPool
from qwen3vl_agent.engine.retry_policy import RetryPolicy, retry_delay, should_retry
from qwen3vl_agent.engine.served_model import listed_models, served_model
from qwen3vl_agent.engine.wire import describe, http_error, stream_events, transport_error, whole_answer_event
from qwen3vl_agent.errors import (
    DeadlineExceededError,
    EngineConnectError,
    EngineError,
    EngineFaultError,
    EngineGatewayError,
    EngineServerError,
    EngineStreamBrokenError,
    EngineTimeoutError,
    EngineUnavailableError,
    ModelsUnavailableError,
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


class OpenAIEngineClient:
    """`EngineClient` over an `EndpointPool` of OpenAI-compatible servers (vLLM)."""

    def __init__(self, pool: EndpointPool, settings: EngineSettings) -> None:
        self._pool = pool
        self._settings = settings
        self._retry = RetryPolicy.from_settings(settings)
        self._http = pool.http  # one HTTP client for requests and probes (its owner closes it)

    @property
    def pool(self) -> EndpointPool:
        return self._pool

    async def aclose(self) -> None:
        """Nothing of its own to close: the HTTP client belongs to the pool or the runtime."""

    async def complete(
        self, request: InferenceRequest, on_delta: DeltaCallback | None = None
    ) -> InferenceResult:
        """Run the request; stream text deltas to `on_delta`; raise `EngineError`s.

        `request.deadline_s` counts from submission, as everywhere: called directly, this call is
        the submission, and it bounds the whole call, retries included. Through the request
        queue the queue enforces it (from when it accepted the request) and hands it none.
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
            except (EngineFaultError, EngineConnectError) as exc:
                last = exc
                retry = not state.delivered and should_retry(exc, attempts, self._retry)
                self._after_failure(endpoint, exc, state, last_try=not retry)
                if not retry:
                    if isinstance(exc, EngineStreamBrokenError) and not await accepts_connections(endpoint):
                        # the connection broke because the engine went away (crashed, stopped,
                        # restarting): that is an absent engine, waited for, not a misbehaving one
                        exc = EngineConnectError(
                            f"the engine at {endpoint.base_url} went away during the request ({exc.message})",
                            "check that the engine is running; see its log",
                            detail="connection refused after the connection broke",
                        )
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
        if not isinstance(exc, EngineConnectError | EngineGatewayError | EngineStreamBrokenError):
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
            url = f"{endpoint.base_url}/models"
            try:
                endpoint.model = served_model(url, await self._http.get(url, headers=endpoint.headers()))
            except (httpx.HTTPError, ModelsUnavailableError) as exc:
                log.info("could not ask %s for its model: %s", endpoint.base_url, exc)
        return endpoint.model or self._settings.served_name()

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
                    raise http_error(
                        endpoint.base_url, resp.status_code, resp.text, resp.headers.get("Retry-After")
                    )
                if not request.stream:
                    self._consume(whole_answer_event(await resp.aread()), state, started, on_delta)
                    state.ttft_s = None  # a whole answer has no first token to time
                else:
                    # closed here, not by the garbage collector, when _consume or on_delta raises
                    async with aclosing(stream_events(resp)) as events:
                        async for event in events:
                            self._consume(event, state, started, on_delta)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise transport_error(endpoint.base_url, exc) from exc
        except httpx.TimeoutException as exc:
            raise EngineTimeoutError(
                f"The engine at {endpoint.base_url} stopped answering "
                f"(no data for {self._settings.request_timeout_s:g} s)",
                "it may be overloaded or stalled; see its log",
            ) from exc
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
            if not state.delivered:
                raise EngineStreamBrokenError(
                    f"the connection to {endpoint.base_url} broke before the answer began ({describe(exc)})",
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
        """The models served by the first endpoint that answers `/v1/models` (its `data`).

        Raises `ModelsUnavailableError` whose `cause` is the last endpoint's typed failure
        (`EngineConnectError`, `EngineAuthError`, `EngineBadAnswerError`, ...)."""
        last: EngineError | None = None
        for endpoint in [e for e in self._pool.endpoints if e.healthy] or self._pool.endpoints:
            url = f"{endpoint.base_url}/models"
            try:
                resp = await self._http.get(url, headers=endpoint.headers())
            except httpx.HTTPError as exc:
                last = transport_error(endpoint.base_url, exc)
                continue
            try:
                return listed_models(url, resp)
            except EngineError as exc:
                last = exc
        raise ModelsUnavailableError(
            f"No engine answered /v1/models ({last.message if last else 'no endpoint'})",
            "start the engine or check engine.endpoints",
            cause=last,
        )

    async def health(self) -> dict[str, bool]:
        """Whether each endpoint answers right now (url -> ok)."""
        checks = await asyncio.gather(*(self._pool.check(e) for e in self._pool.endpoints))
        return {e.base_url: ok for e, (ok, _) in zip(self._pool.endpoints, checks, strict=True)}


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


async def accepts_connections(endpoint: Endpoint, timeout_s: float = 2.0) -> bool:
    """Whether the endpoint's host still accepts a TCP connection.

    Tells "the engine went away" (the port now refuses: a crash, a stop, a restart) from "the
    engine is there but misbehaves" (it accepts and drops, or breaks its streams) after a
    connection broke: the first is waited for, the second is bounded by the retry policy. A
    timeout counts as reachable, so a slow host is not mistaken for a gone one.
    """
    url = httpx.URL(endpoint.base_url)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(url.host, port), timeout_s)
    except TimeoutError:
        return True
    except OSError:
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


def _reported(exc: EngineError, attempts: int) -> EngineError:
    """The error the caller gets after `attempts` tries."""
    if isinstance(exc, EngineConnectError):
        return EngineConnectError(
            f"The engine failed {attempts} times: {exc.message}" if attempts > 1 else exc.message,
            exc.hint,
            detail=exc.detail,
            timed_out=exc.timed_out,
        )
    if isinstance(exc, EngineFaultError):
        return exc.after_attempts(attempts)
    return exc
