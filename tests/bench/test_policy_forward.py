"""The scripted policy server's forward mode (issue 17, row D): every chat request goes to a real
engine first (model renamed, max_tokens set, ignore_eos, no streaming), then the planner answers.

The "engine" here is a second PolicyServer (a real HTTP server with an API key); the GPU run
forwards to vLLM. A refused connection (the engine stopped) is a real fault, made for real.
"""

from __future__ import annotations

import json

import httpx

from tests.support.policy_server import PolicyServer, tool_call


def _chat(url: str, stream: bool) -> httpx.Response:
    body = {
        "model": "scripted-policy",
        "stream": stream,
        "stream_options": {"include_usage": True} if stream else None,
        "max_tokens": 512,
        "temperature": 0.0,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "Task: click"}]}],
    }
    if not stream:
        body.pop("stream_options")
    return httpx.post(url + "/chat/completions", json=body, timeout=30)


def _planner(_ctx: object) -> str:
    return tool_call({"action": "left_click", "coordinate": [10, 20]}, "t", "a")


def test_every_request_reaches_the_engine_first_then_the_planner_answers() -> None:
    engine = PolicyServer(api_key="engine-key").start()
    front = PolicyServer(
        forward_to=engine.url,
        forward_model="qwen3vl4b",
        forward_api_key="engine-key",
        forward_max_tokens=7,
        planner=_planner,
    ).start()
    try:
        plain = _chat(front.url, stream=False)
        streamed = _chat(front.url, stream=True)
    finally:
        front.stop()
        engine.stop()
    assert plain.status_code == 200
    assert plain.json()["choices"][0]["message"]["content"] == _planner(None)
    assert streamed.status_code == 200
    text = "".join(
        json.loads(line[6:])["choices"][0]["delta"].get("content", "")
        for line in streamed.text.splitlines()
        if line.startswith("data: {") and json.loads(line[6:])["choices"]
    )
    assert text == _planner(None)
    assert engine.unauthorized == 0
    assert engine.chat_requests == 2
    for ctx in engine.contexts:
        assert ctx.body["model"] == "qwen3vl4b"
        assert ctx.body["max_tokens"] == 7
        assert ctx.body["ignore_eos"] is True
        assert ctx.body["stream"] is False
        assert "stream_options" not in ctx.body
        assert ctx.body["messages"][0]["content"][0]["text"] == "Task: click"
    assert len(front.forward_times) == 2
    assert front.forward_errors == 0


def test_an_engine_that_is_gone_makes_a_502_and_is_counted() -> None:
    engine = PolicyServer().start()
    url = engine.url
    engine.stop()  # its port now refuses connections
    front = PolicyServer(forward_to=url, forward_timeout_s=5.0, planner=_planner).start()
    try:
        response = _chat(front.url, stream=False)
    finally:
        front.stop()
    assert response.status_code == 502
    assert "forward failed" in response.json()["error"]["message"]
    assert front.forward_errors == 1
    assert front.forward_times == []


def test_a_wrong_key_is_a_failed_forward_not_an_answer() -> None:
    engine = PolicyServer(api_key="right").start()
    front = PolicyServer(forward_to=engine.url, forward_api_key="wrong", planner=_planner).start()
    try:
        response = _chat(front.url, stream=False)
    finally:
        front.stop()
        engine.stop()
    assert response.status_code == 502
    assert engine.unauthorized == 1
    assert front.forward_errors == 1


def test_several_engines_share_the_requests() -> None:
    """Replicas: comma-separated URLs; sequential requests find both idle and still use both."""
    first, second = PolicyServer().start(), PolicyServer().start()
    front = PolicyServer(forward_to=f"{first.url},{second.url}", planner=_planner).start()
    try:
        for _ in range(4):
            assert _chat(front.url, stream=False).status_code == 200
    finally:
        front.stop()
        first.stop()
        second.stop()
    assert first.chat_requests + second.chat_requests == 4
    assert first.chat_requests >= 1 and second.chat_requests >= 1
