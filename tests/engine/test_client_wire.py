"""The endpoints path against a server that speaks SSE the way the spec allows, and fails the way
HTTP servers do: every answer comes back as text or as one typed error carrying its data.

The scripted policy server plays the server (a real vLLM writes one `data:` line per event and
cannot be made to answer 429 or 503 on demand).
"""

from __future__ import annotations

import asyncio

import httpx
import pytest

from qwen3vl_agent.config import EndpointSettings, EngineSettings, Settings
from qwen3vl_agent.engine.client import OpenAIEngineClient
from qwen3vl_agent.engine.endpoints import EndpointPool
from qwen3vl_agent.errors import (
    EngineAuthError,
    EngineBusyError,
    EngineError,
    EngineGatewayError,
    EngineHTTPError,
    EngineServerError,
    ModelsUnavailableError,
    RequestRejectedError,
)
from qwen3vl_agent.runtime import build_runtime
from tests.support.engine_requests import engine_client, image_request
from tests.support.policy_server import Fault, PolicyServer, terminate_planner, tool_call


async def test_multi_line_sse_events_with_comments_and_fields_are_read_whole(
    policy_server: PolicyServer,
) -> None:
    """Each event's JSON spread over many `data:` lines, CRLF line ends, comments, `id:`,
    `retry:` and `event: message` fields: the per-line reader this replaced broke on these."""
    answer = tool_call({"action": "left_click", "coordinate": [500, 250]}, "Click it.", "click")
    policy_server.planner = lambda ctx: answer
    policy_server.sse_style = "spec"
    deltas: list[str] = []
    async with engine_client([EndpointSettings(url=policy_server.url, model="m")]) as client:
        result = await client.complete(image_request(), deltas.append)
    assert result.text == answer == "".join(deltas)
    assert result.finish_reason == "stop" and result.usage.completion_tokens > 0


async def test_an_error_event_is_a_typed_server_error(policy_server: PolicyServer) -> None:
    policy_server.fault = Fault("error-event", status=500)
    endpoint = EndpointSettings(url=policy_server.url, model="m")
    async with engine_client([endpoint], max_retries=1, retry_backoff_s=0.01) as client:
        with pytest.raises(EngineServerError, match="scripted error event") as info:
            await client.complete(image_request())
    assert info.value.status_code == 500 and info.value.attempts == 2


@pytest.mark.parametrize(
    ("status", "kind", "requests"),
    [
        (400, RequestRejectedError, 1),
        (401, EngineAuthError, 1),
        (403, EngineAuthError, 1),
        (404, RequestRejectedError, 1),
        (418, EngineHTTPError, 1),
        (422, RequestRejectedError, 1),
        (429, EngineBusyError, 3),
        (500, EngineServerError, 3),
        (501, EngineServerError, 1),
        (502, EngineGatewayError, 3),
        (503, EngineGatewayError, 3),
        (504, EngineGatewayError, 3),
    ],
)
async def test_each_http_error_class_is_its_own_type_with_status_and_body(
    policy_server: PolicyServer, status: int, kind: type[EngineHTTPError], requests: int
) -> None:
    policy_server.fault = Fault("status", status=status)
    endpoint = EndpointSettings(url=policy_server.url, model="m")
    async with engine_client([endpoint], max_retries=2, retry_backoff_s=0.01) as client:
        with pytest.raises(EngineError) as info:
            await client.complete(image_request())
    error = info.value
    assert type(error) is kind  # exactly: callers branch on it
    assert isinstance(error, EngineHTTPError)
    assert error.status_code == status and f"scripted HTTP {status}" in (error.body or "")
    assert policy_server.chat_requests == requests == error.attempts


async def test_list_models_failures_carry_their_typed_cause(policy_server: PolicyServer) -> None:
    """What the settings page's connection test branches on (not on message text)."""
    policy_server.stop()
    async with engine_client([EndpointSettings(url=policy_server.url)]) as client:
        with pytest.raises(ModelsUnavailableError) as info:
            await client.list_models()
    assert type(info.value.cause).__name__ == "EngineConnectError"
    assert info.value.cause is not None and "ConnectError" in getattr(info.value.cause, "detail", "")


async def test_one_injected_http_client_carries_probes_and_requests(policy_server: PolicyServer) -> None:
    policy_server.planner = terminate_planner
    seen: list[str] = []

    async def record(request: httpx.Request) -> None:
        seen.append(request.url.path)

    settings = EngineSettings(mode="endpoints", probe_interval_s=60)
    async with httpx.AsyncClient(event_hooks={"request": [record]}) as http:
        pool = EndpointPool([EndpointSettings(url=policy_server.url, model="m")], settings, http=http)
        await pool.start()
        client = OpenAIEngineClient(pool, settings)
        await client.complete(image_request())
        await client.aclose()
        await pool.close()
        assert not http.is_closed  # its owner closes it, not the pool or the client
    assert seen == ["/health", "/v1/chat/completions"]


async def test_a_pool_closed_during_its_first_probes_starts_no_probe_loop(
    policy_server: PolicyServer,
) -> None:
    """A window closed while the engine is still being probed: the probe loop started after the
    close would never run, and its coroutine was reported "never awaited" at exit."""
    settings = EngineSettings(mode="endpoints", probe_interval_s=60)
    pool: EndpointPool | None = None

    async def close_mid_probe(request: httpx.Request) -> None:
        assert pool is not None
        await pool.close()

    async with httpx.AsyncClient(event_hooks={"request": [close_mid_probe]}) as http:
        pool = EndpointPool([EndpointSettings(url=policy_server.url, model="m")], settings, http=http)
        await pool.start()
        assert [t for t in asyncio.all_tasks() if t.get_name() == "endpoint-probe"] == []


async def test_the_runtime_shares_one_http_client_and_closes_it(policy_server: PolicyServer) -> None:
    policy_server.planner = terminate_planner
    settings = Settings(**policy_server.settings_overrides(), cache={"enabled": False})
    runtime = await build_runtime(settings)
    try:
        assert runtime.http is not None and runtime.pool.http is runtime.http
        result = await runtime.service.submit(image_request())
        assert "terminate" in result.text
    finally:
        await runtime.close()
    assert runtime.http.is_closed
