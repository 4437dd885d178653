"""Engine faults the client must turn into clear errors without hanging.

Where the real tiny engine cannot produce a fault on demand (a server that stalls forever, a
stream cut at an exact point, a gateway answering 503), a few lines of asyncio on loopback play
a misbehaving OpenAI-compatible server; each test says which fault it simulates.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import pytest

from qwen3vl_agent.config import EndpointSettings
from qwen3vl_agent.engine.ports import find_free_port
from qwen3vl_agent.errors import (
    DeadlineExceededError,
    EngineAuthError,
    EngineError,
    EngineFaultError,
    EngineServerError,
    EngineStreamBrokenError,
    EngineUnavailableError,
    RequestRejectedError,
)
from tests.support.engine_requests import engine_client, image_request
from tests.support.policy_server import Fault, PolicyServer

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class FakeServer:
    def __init__(self) -> None:
        self.chat_requests = 0
        self.url = ""
        self.server: asyncio.Server


async def _read_request(reader: asyncio.StreamReader) -> tuple[str, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    length = 0
    for line in lines[1:]:
        if line.lower().startswith("content-length:"):
            length = int(line.split(":", 1)[1])
    body = await reader.readexactly(length) if length else b""
    return lines[0], body


@asynccontextmanager
async def fake_server(on_chat: Handler) -> AsyncIterator[FakeServer]:
    """A loopback HTTP/1.1 server: /health answers 200, /v1/chat/completions runs `on_chat`."""
    state = FakeServer()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                request_line, _ = await _read_request(reader)
                if "/chat/completions" in request_line:
                    state.chat_requests += 1
                    await on_chat(reader, writer)
                    return
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    state.url = f"http://127.0.0.1:{port}/v1"
    state.server = server
    try:
        yield state
    finally:
        server.close()


def _sse_head() -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"


def _chunk(payload: dict) -> bytes:
    data = f"data: {json.dumps(payload)}\n\n".encode()
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def _delta(text: str) -> dict:
    return {"model": "fake", "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]}


async def test_engine_not_running_gives_engine_unavailable() -> None:
    url = f"http://127.0.0.1:{find_free_port()}/v1"  # nothing listens here: connection refused
    async with engine_client([EndpointSettings(url=url, model="m")], max_retries=1) as client:
        with pytest.raises(EngineUnavailableError) as info:
            await client.complete(image_request())
        assert not client.pool.endpoints[0].healthy
    assert "unreachable" in str(info.value) or "reachable" in str(info.value)


async def test_a_models_answer_that_is_not_openai_json_is_a_clear_error() -> None:
    async def never(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise AssertionError("no chat request expected")

    async with fake_server(never) as server, engine_client([EndpointSettings(url=server.url)]) as client:
        with pytest.raises(EngineUnavailableError, match="did not answer like an OpenAI-compatible server"):
            await client.list_models()  # the fake answers 200 "ok" on /v1/models


async def test_stalled_engine_beyond_the_deadline_raises_deadline_exceeded() -> None:
    stalled = asyncio.Event()

    async def stall(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        stalled.set()  # simulates an engine that accepted the request and never answers
        await asyncio.sleep(3600)

    async with fake_server(stall) as server, engine_client([EndpointSettings(url=server.url)]) as client:
        request = image_request(deadline_s=1.0)
        with pytest.raises(DeadlineExceededError):
            await client.complete(request)
    assert stalled.is_set() and server.chat_requests == 1


async def test_engine_silent_longer_than_the_read_timeout_is_an_engine_error() -> None:
    async def stall(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(_sse_head() + _chunk(_delta("Hel")))
        await writer.drain()
        await asyncio.sleep(3600)  # simulates an engine that stalls mid-answer

    async with (
        fake_server(stall) as server,
        engine_client([EndpointSettings(url=server.url)], request_timeout_s=1.0) as client,
    ):
        with pytest.raises(EngineError, match="stopped answering"):
            await client.complete(image_request())
    assert server.chat_requests == 1


async def test_dying_mid_stream_fails_cleanly_and_is_not_retried() -> None:
    async def die(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(_sse_head() + _chunk(_delta("Hel")) + _chunk(_delta("lo")))
        await writer.drain()
        writer.transport.abort()  # simulates the engine process dying mid-stream

    deltas: list[str] = []
    async with fake_server(die) as server, engine_client([EndpointSettings(url=server.url)]) as client:
        with pytest.raises(EngineError, match="middle of the answer"):
            await client.complete(image_request(), deltas.append)
    assert "".join(deltas) == "Hello"
    assert server.chat_requests == 1  # text already reached the caller: a retry would repeat it


async def test_dying_before_the_first_token_is_retried_then_reported() -> None:
    async def die(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(_sse_head())
        await writer.drain()
        writer.transport.abort()  # simulates a crash right after the request was accepted

    async with (
        fake_server(die) as server,
        engine_client([EndpointSettings(url=server.url)], max_retries=2) as client,
    ):
        # accepted, then dropped, every time: a misbehaving server, not an absent one (issue 12)
        with pytest.raises(EngineStreamBrokenError, match="failed 3 times"):
            await client.complete(image_request())
    assert server.chat_requests == 3


async def test_an_engine_that_goes_away_during_the_request_is_unavailable_not_faulty() -> None:
    """The engine is stopped (or crashes) while a request is in flight: its port then refuses.
    That is an absent engine, which the agent loop waits for, not a misbehaving one whose
    failures end the step; the dropped-every-time server above stays a fault."""
    closed: list[asyncio.Server] = []

    async def go_away(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        closed[0].close()  # stops listening, as a stopped engine's port does
        await closed[0].wait_closed()
        writer.transport.abort()

    async with fake_server(go_away) as server:
        closed.append(server.server)
        async with engine_client([EndpointSettings(url=server.url)], max_retries=0) as client:
            with pytest.raises(EngineUnavailableError, match="went away during the request"):
                await client.complete(image_request())
    assert server.chat_requests == 1


async def test_gateway_503_is_retried_and_a_400_is_not() -> None:
    async def gateway(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        body = b'{"error": {"message": "upstream down"}}'
        writer.write(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        await writer.drain()

    async def reject(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        body = b'{"error": {"message": "At most 2 image(s) may be provided in one prompt.", "code": 400}}'
        writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        await writer.drain()

    async with (
        fake_server(gateway) as server,
        engine_client([EndpointSettings(url=server.url)], max_retries=2) as client,
    ):
        with pytest.raises(EngineUnavailableError, match="503"):
            await client.complete(image_request())
    assert server.chat_requests == 3
    async with (
        fake_server(reject) as server,
        engine_client([EndpointSettings(url=server.url)], max_retries=2) as client,
    ):
        with pytest.raises(RequestRejectedError, match="At most 2 image"):
            await client.complete(image_request())
        assert client.pool.endpoints[0].healthy
    assert server.chat_requests == 1


async def test_error_event_inside_the_stream_is_an_engine_error() -> None:
    async def error_event(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(_sse_head() + _chunk({"error": {"message": "engine core died", "code": 500}}))
        writer.write(b"0\r\n\r\n")
        await writer.drain()

    async with (
        fake_server(error_event) as server,
        engine_client([EndpointSettings(url=server.url)]) as client,
    ):
        with pytest.raises(EngineError, match="engine core died"):
            await client.complete(image_request())


async def _stream_until_the_client_leaves(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, gone: asyncio.Event
) -> None:
    """An endless answer (simulates a long generation); `gone` is set when the client closes."""
    writer.write(_sse_head())

    async def pump() -> None:
        i = 0
        while True:
            writer.write(_chunk(_delta(f"t{i} ")))
            i += 1
            await asyncio.sleep(0.005)

    pumping = asyncio.create_task(pump())
    try:
        await reader.read()  # returns at the client's FIN
    except ConnectionError:
        pass  # or its RST (closed with unread data)
    finally:
        pumping.cancel()
        gone.set()


@pytest.mark.parametrize("steps_between", [0, 1, 2, 3, 5])
async def test_a_second_cancel_during_the_clean_up_still_closes_the_connection(steps_between: int) -> None:
    """Simulates a caller cancelled twice (Stop pressed while a deadline fires). The real engine
    shows the same fault only as a generation that is not aborted (tests/engine/test_client_real.py);
    this loopback server sees the closed socket itself, for each spacing of the two cancels. Before
    the fix, a second cancel one loop step after the first left the connection open and ACTIVE."""
    gone = asyncio.Event()

    async def endless(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _stream_until_the_client_leaves(reader, writer, gone)

    first_text = asyncio.Event()
    async with fake_server(endless) as server, engine_client([EndpointSettings(url=server.url)]) as client:
        task = asyncio.create_task(client.complete(image_request(), lambda _: first_text.set()))
        await first_text.wait()
        task.cancel()
        for _ in range(steps_between):
            await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # generous bound: the connection otherwise stays open until the client itself is closed
        await asyncio.wait_for(gone.wait(), 30)
    assert server.chat_requests == 1


async def test_a_raising_delta_callback_closes_the_stream_and_reaches_the_caller() -> None:
    """The caller's `on_delta` fails mid-answer: the error reaches the caller, the request is not
    retried, and the connection is closed at once (the server stops generating)."""
    gone = asyncio.Event()

    async def endless(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _stream_until_the_client_leaves(reader, writer, gone)

    def fail(_: str) -> None:
        raise ValueError("the caller's callback failed")

    async with fake_server(endless) as server, engine_client([EndpointSettings(url=server.url)]) as client:
        with pytest.raises(ValueError, match="callback failed"):
            await client.complete(image_request(), fail)
        await asyncio.wait_for(gone.wait(), 30)
    assert server.chat_requests == 1


# ------------------------------------------------------------- the scripted server's faults (issue 12)


async def test_http_500_on_every_request_is_retried_a_few_times_then_reported(
    policy_server: PolicyServer,
) -> None:
    policy_server.fault = Fault("status", status=500)
    endpoint = EndpointSettings(url=policy_server.url, model="m")
    async with engine_client([endpoint], max_retries=2, retry_backoff_s=0.2) as client:
        with pytest.raises(EngineServerError, match="failed 3 times") as info:
            await client.complete(image_request())
        assert client.pool.endpoints[0].healthy  # it answers: not taken out of rotation
    assert policy_server.chat_requests == 3
    assert info.value.status_code == 500 and "scripted HTTP 500" in (info.value.body or "")
    assert info.value.attempts == 3
    gaps = [b - a for a, b in itertools.pairwise(policy_server.chat_times)]
    assert all(gap >= 0.09 for gap in gaps)  # backed off: at least half of each 0.2 s, 0.4 s step


@pytest.mark.parametrize("retry_after", ["2", "date"])
async def test_retry_after_is_waited_before_the_next_try(
    policy_server: PolicyServer, retry_after: str
) -> None:
    if retry_after == "date":  # an HTTP date 5 s ahead: whole seconds, and setting up takes a moment
        when = datetime.now(UTC) + timedelta(seconds=5)
        retry_after = when.strftime("%a, %d %b %Y %H:%M:%S GMT")
    policy_server.fault = Fault("status", status=429, retry_after=retry_after, times=1)
    endpoint = EndpointSettings(url=policy_server.url, model="m")
    async with engine_client([endpoint], max_retries=2, retry_backoff_s=0.01) as client:
        result = await client.complete(image_request())
    assert "<tool_call>" in result.text and policy_server.chat_requests == 2
    first, second = policy_server.chat_times
    assert second - first >= 1.9  # not the 0.01 s backoff: the server's word


async def test_a_refused_key_and_an_unknown_route_are_not_retried(policy_server: PolicyServer) -> None:
    endpoint = EndpointSettings(url=policy_server.url, model="m")
    for status, kind in ((401, EngineAuthError), (404, RequestRejectedError)):
        policy_server.fault = Fault("status", status=status)
        before = policy_server.chat_requests
        async with engine_client([endpoint], max_retries=2) as client:
            with pytest.raises(kind) as info:
                await client.complete(image_request())
        assert info.value.status_code == status and policy_server.chat_requests - before == 1


async def test_a_stream_dropped_mid_answer_is_reported_not_retried(policy_server: PolicyServer) -> None:
    """Text already reached the caller: the client cannot retry (the agent loop may, see
    tests/agents/test_agent_engine_faults.py)."""
    policy_server.fault = Fault("drop-mid-answer")
    deltas: list[str] = []
    endpoint = EndpointSettings(url=policy_server.url, model="m")
    async with engine_client([endpoint], max_retries=2) as client:
        with pytest.raises(EngineStreamBrokenError, match="middle of the answer"):
            await client.complete(image_request(), deltas.append)
    assert deltas == ["Thought: I will click the"] and policy_server.chat_requests == 1


async def test_garbage_instead_of_a_stream_is_retried_then_reported(policy_server: PolicyServer) -> None:
    policy_server.fault = Fault("garbage")
    endpoint = EndpointSettings(url=policy_server.url, model="m")
    async with engine_client([endpoint], max_retries=1, retry_backoff_s=0.01) as client:
        with pytest.raises(EngineFaultError, match="failed 2 times"):
            await client.complete(image_request())
    assert policy_server.chat_requests == 2
