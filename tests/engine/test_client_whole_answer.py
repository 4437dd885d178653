"""Whole (non-streamed) answers: what OCR pages ask for, against the real tiny vLLM engine.

A request with `stream=False` must give exactly what the streamed one gives (text, usage,
finish reason), reach a delta listener once, and still be aborted on the server when the caller
is cancelled.
"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from qwen3vl_agent.engine.client import build_payload, whole_answer_event
from qwen3vl_agent.errors import EngineError
from tests.support.engine_pause import cancel_mid_generation
from tests.support.engine_requests import engine_client, image_request


def test_payload_asks_for_a_whole_answer_without_stream_options() -> None:
    streamed = build_payload(image_request(), "m")
    whole = build_payload(replace(image_request(), stream=False), "m")
    assert streamed["stream"] is True and streamed["stream_options"] == {"include_usage": True}
    assert whole["stream"] is False and "stream_options" not in whole


def test_a_whole_answer_reads_as_one_event_with_tool_calls_and_usage() -> None:
    body = {
        "model": "m",
        "choices": [
            {
                "message": {
                    "role": "assistant",
                    "content": "ok",
                    "tool_calls": [
                        {"type": "function", "function": {"name": "a", "arguments": "{}"}},
                        {"type": "function", "function": {"name": "b", "arguments": '{"x": 1}'}},
                    ],
                },
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 2},
    }
    event = whole_answer_event(json.dumps(body).encode())
    choice = event["choices"][0]
    assert choice["delta"]["content"] == "ok" and choice["finish_reason"] == "stop"
    assert [c["index"] for c in choice["delta"]["tool_calls"]] == [0, 1]  # two calls stay two
    assert event["usage"] == {"prompt_tokens": 5, "completion_tokens": 2}


def test_a_broken_whole_answer_is_a_clear_engine_error() -> None:
    with pytest.raises(EngineError, match="not JSON"):
        whole_answer_event(b"<html>proxy error</html>")
    with pytest.raises(EngineError, match="not a JSON object"):
        whole_answer_event(b"[1, 2]")
    assert "error" in whole_answer_event(b'{"object": "error", "message": "boom", "code": 500}')


@pytest.mark.engine
async def test_a_whole_answer_equals_the_streamed_one(tiny_engine) -> None:
    deltas: list[str] = []
    async with engine_client([tiny_engine.endpoint_settings()]) as client:
        streamed = await client.complete(image_request(max_tokens=24, ignore_eos=True))
        whole = await client.complete(
            replace(image_request(max_tokens=24, ignore_eos=True), stream=False), deltas.append
        )
    assert whole.text == streamed.text  # greedy: the same tokens either way
    assert whole.usage == streamed.usage and whole.usage.completion_tokens == 24
    assert whole.finish_reason == streamed.finish_reason == "length"
    assert deltas == [whole.text]  # a listener gets the answer once
    assert whole.timings.ttft_s is None and streamed.timings.ttft_s is not None


@pytest.mark.engine
async def test_cancelling_a_whole_answer_aborts_the_generation_on_the_server(tiny_engine) -> None:
    """No text arrives before the end of a whole answer, but the cancel need not wait for any:
    `cancel_mid_generation` steps the stopped engine core until the API server has received the
    request's first tokens, cancels with the core stopped and fails unless the server aborts
    the request (see `_cancel_mid_generation` in test_client_real.py)."""
    async with engine_client([tiny_engine.endpoint_settings()]) as client:
        request = replace(
            image_request(max_tokens=3800, ignore_eos=True), stream=False
        )  # max_model_len allows
        outcome = await cancel_mid_generation(tiny_engine, lambda: client.complete(request), 3800)
    assert outcome.tokens_at_cancel > 0
