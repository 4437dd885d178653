"""A scripted policy behind a real OpenAI-compatible HTTP server, for agent tests and benchmarks.

It answers `/v1/chat/completions` (streaming SSE and plain JSON), `/v1/models` and `/health`
exactly as Qwen3-VL does for computer use:

    Thought: ...
    Action: ...
    <tool_call>
    {"name": "computer_use", "arguments": {"action": "left_click", "coordinate": [x, y]}}
    </tool_call>

with coordinates on the 0..1000 grid of the captured monitor. What it says is decided by a
`planner(context) -> str`; `form_planner` computes every click from the test form's REAL widget
geometry (as the form app reports it) and the values listed in the task, so a whole form-filling
run can succeed end to end. The server runs on the stdlib `http.server` in a thread (no aiohttp
here), counts requests, and can be stopped and started again on the same port (the "engine goes
away" test). Set `fault` to make it misbehave the way real servers do (HTTP errors with or
without `Retry-After`, a stream dropped mid-answer, silence, garbage) for some or all chat
requests; a real server cannot be made to do that on demand.

Forwarding (`forward_to=URL`): for a benchmark through a REAL model whose answers are garbage
(dummy weights), every chat request is first sent, as it came (model renamed, `max_tokens` set,
`ignore_eos` so the engine decodes that many tokens, no streaming), to the real engine and its
answer awaited; only then does the planner answer. The engine's answer is dropped; the time it
took is kept per request (`forward_times`), and a failed forward is counted (`forward_errors`)
and answered as an HTTP 502, the way a gateway in front of a broken engine would.

Fixture: `policy_server` (function scope) yields a stopped-at-teardown `PolicyServer` whose
planner a test sets (`server.planner = ...`).
"""

from __future__ import annotations

import base64
import io
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

import pytest

MODEL_NAME = "scripted-policy"


@dataclass
class PolicyContext:
    """What the planner knows about one request."""

    body: dict[str, Any]
    task: str  # the text after "Task: " in the first user message
    values: dict[str, str]  # the row values listed in the task
    step: int  # model answers already given in this run (from the conversation)
    image_sizes: list[tuple[int, int]]
    prompt_tokens: int  # estimate: text/4 + one token per 32x32 block of every image
    last_feedback: str | None


Planner = Callable[[PolicyContext], str]


def tool_call(arguments: dict[str, Any], thought: str = "", action: str = "") -> str:
    """An answer in Qwen3-VL's format."""
    call = json.dumps({"name": "computer_use", "arguments": arguments}, ensure_ascii=False)
    head = ""
    if thought:
        head += f"Thought: {thought}\n"
    if action:
        head += f"Action: {action}\n"
    return f"{head}<tool_call>\n{call}\n</tool_call>"


def to_grid(point: tuple[float, float], monitor: tuple[int, int, int, int], grid: int = 1000) -> list[int]:
    """A global screen point -> the model's relative grid of the captured monitor (l, t, w, h)."""
    left, top, width, height = monitor
    return [round((point[0] - left) / width * grid), round((point[1] - top) / height * grid)]


def _texts(content: Any) -> list[str]:
    if isinstance(content, str):
        return [content]
    return [p.get("text", "") for p in content or [] if isinstance(p, dict) and p.get("type") == "text"]


def _image_size(url: str) -> tuple[int, int]:
    from PIL import Image

    data = base64.b64decode(url.split(",", 1)[1])
    with Image.open(io.BytesIO(data)) as img:
        return img.size


def build_context(body: dict[str, Any]) -> PolicyContext:
    messages = body.get("messages") or []
    users = [m for m in messages if m.get("role") == "user"]
    first_text = "\n".join(_texts(users[0].get("content"))) if users else ""
    task = first_text.split("Task: ", 1)[1] if "Task: " in first_text else first_text
    task = task.split("\n\nEarlier steps", 1)[0]
    values: dict[str, str] = {}
    if "Use exactly these values:" in task:
        for line in task.split("Use exactly these values:", 1)[1].splitlines():
            m = re.match(r"^- ([^:]+): (.*)$", line)
            if m:
                values[m.group(1)] = m.group(2)
    earlier = len(re.findall(r"^Step \d+:", first_text, re.MULTILINE))
    skipped = re.search(r"\((\d+) earlier steps not listed\)", first_text)
    step = earlier + (int(skipped.group(1)) if skipped else 0)
    step += sum(1 for m in messages if m.get("role") == "assistant")
    sizes: list[tuple[int, int]] = []
    chars = 0
    for m in messages:
        content = m.get("content")
        chars += sum(len(t) for t in _texts(content))
        if isinstance(content, list):
            for part in content:
                if isinstance(part, dict) and part.get("type") == "image_url":
                    sizes.append(_image_size(part["image_url"]["url"]))
    tokens = chars // 4 + sum((w // 32) * (h // 32) for w, h in sizes)
    last_texts = _texts(users[-1].get("content")) if users else []
    feedback = next((t for t in last_texts if t.startswith("Feedback:")), None)
    return PolicyContext(body, task, values, step, sizes, tokens, feedback)


# ------------------------------------------------------------------------------------- planners
def terminate_planner(ctx: PolicyContext) -> str:
    return tool_call({"action": "terminate", "status": "success"}, "Nothing to do.", "finish")


def form_planner(
    widget_rect: Callable[[str], tuple[int, int, int, int]],
    monitor: tuple[int, int, int, int],
    *,
    grid: int = 1000,
    text_fields: tuple[str, ...] = ("name", "city", "password"),
    submit: bool = True,
) -> Planner:
    """Fill the test form from the task's values: click each field, select all, type; tick the
    checkbox when `subscribe` is yes; pick `country` from the dropdown by typing; Submit; terminate."""

    def center(name: str) -> list[int]:
        left, top, width, height = widget_rect(name)
        return to_grid((left + width / 2, top + height / 2), monitor, grid)

    def box(name: str) -> list[int]:
        """A checkbox's indicator (its widget spans the row; only box and label toggle it)."""
        left, top, _width, height = widget_rect(name)
        return to_grid((left + 9, top + height / 2), monitor, grid)

    def plan(values: dict[str, str]) -> list[tuple[str, str, dict[str, Any]]]:
        steps: list[tuple[str, str, dict[str, Any]]] = []
        for name in text_fields:
            if name in values:
                steps.append(
                    (
                        f"The {name} field is empty.",
                        f"click the {name} field",
                        {"action": "left_click", "coordinate": center(name)},
                    )
                )
                steps.append(
                    ("Select what is there.", "select all", {"action": "key", "keys": ["ctrl", "a"]})
                )
                steps.append(
                    (f"Type the {name}.", f"type {values[name]!r}", {"action": "type", "text": values[name]})
                )
        if "country" in values:
            steps.append(
                (
                    "Open the country list.",
                    "click the country dropdown",
                    {"action": "left_click", "coordinate": center("country")},
                )
            )
            steps.append(
                (
                    "Find the country.",
                    f"type {values['country']!r}",
                    {"action": "type", "text": values["country"]},
                )
            )
            steps.append(("Choose it.", "press enter", {"action": "key", "keys": ["enter"]}))
        if values.get("subscribe", "").strip().lower() in ("yes", "true", "1", "y", "x"):
            steps.append(
                (
                    "Tick the newsletter box.",
                    "click the checkbox",
                    {"action": "left_click", "coordinate": box("subscribe")},
                )
            )
        if submit:
            steps.append(
                (
                    "All fields are filled.",
                    "click Submit",
                    {"action": "left_click", "coordinate": center("submit")},
                )
            )
        steps.append(("The form was submitted.", "done", {"action": "terminate", "status": "success"}))
        return steps

    def planner(ctx: PolicyContext) -> str:
        steps = plan(ctx.values)
        thought, action, args = steps[min(ctx.step, len(steps) - 1)]
        return tool_call(args, thought, action)

    return planner


# ---------------------------------------------------------------------------------------- faults
@dataclass
class Fault:
    """How chat requests are answered instead of by the planner, for the first `times` of them
    (None: every one); afterwards the planner answers again.

    status: an HTTP error `status` (with `retry_after` as the `Retry-After` header when given);
    drop-mid-answer: a 200 stream with part of an answer, then the connection is cut;
    silence: the request is accepted and nothing is sent for `silence_s`;
    garbage: a 200 "stream" of text that is not SSE, then the end of the body;
    error-event: a 200 stream whose only event is `event: error` (a `status` code in its data).
    """

    kind: Literal["status", "drop-mid-answer", "silence", "garbage", "error-event"]
    status: int = 500
    retry_after: str | None = None
    silence_s: float = 120.0
    times: int | None = None


# ---------------------------------------------------------------------------------------- server
@dataclass
class PolicyServer:
    """The HTTP server; `planner` may be replaced at any time (tests change behaviour mid-run)."""

    planner: Planner = terminate_planner
    host: str = "127.0.0.1"
    port: int = 0
    delay_s: float = 0.0  # pretend thinking time per answer
    api_key: str | None = None  # when set, /v1 requests without `Authorization: Bearer <key>` get 401
    unauthorized: int = 0  # requests refused for a missing or wrong key
    requests: int = 0
    chat_requests: int = 0
    contexts: list[PolicyContext] = field(default_factory=list)
    fault: Fault | None = None
    # "vllm": one `data:` line per event, as vLLM writes them; "spec": every event spread over
    # several `data:` lines, with comments, `id:`/`retry:`/`event:` fields and CRLF line ends, as
    # the SSE spec allows and other OpenAI-compatible servers do
    sse_style: Literal["vllm", "spec"] = "vllm"
    faulted: int = 0  # chat requests answered by `fault`
    chat_times: list[float] = field(default_factory=list)  # time.monotonic() of each chat request
    # a real engine's base URL (".../v1"), or several comma-separated (replicas: each request goes
    # to the one with the fewest in flight); see the module docstring
    forward_to: str | None = None
    forward_model: str = "default"
    forward_api_key: str | None = None
    forward_max_tokens: int = 64
    forward_timeout_s: float = 300.0
    forward_times: list[float] = field(default_factory=list)  # seconds each forwarded request took
    forward_errors: int = 0
    _forward_client: Any = None  # one httpx.Client (thread-safe, pooled) while started
    _forward_in_flight: dict[str, int] = field(default_factory=dict)
    _forward_turn: int = 0
    _released: threading.Event = field(default_factory=threading.Event)  # ends a silence at stop()
    _httpd: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    @property
    def running(self) -> bool:
        return self._httpd is not None

    def start(self) -> PolicyServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def _json(self, code: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _refused(self) -> bool:
                """vLLM's `--api-key` behaviour: 401 on `/v1/...` without the right bearer key."""
                if server.api_key is None or not self.path.startswith("/v1"):
                    return False
                if self.headers.get("Authorization") == f"Bearer {server.api_key}":
                    return False
                with server._lock:
                    server.unauthorized += 1
                self._json(401, {"error": "Unauthorized"})
                return True

            def do_GET(self) -> None:
                with server._lock:
                    server.requests += 1
                if self._refused():
                    return
                if self.path.rstrip("/") in ("/health", "/v1/health"):
                    self._json(200, {"status": "ok"})
                elif self.path.rstrip("/") == "/v1/models":
                    self._json(
                        200,
                        {
                            "object": "list",
                            "data": [
                                {
                                    "id": MODEL_NAME,
                                    "object": "model",
                                    "owned_by": "tests",
                                    "max_model_len": 32768,
                                }
                            ],
                        },
                    )
                else:
                    self._json(404, {"error": {"message": f"no route {self.path}"}})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                with server._lock:
                    server.requests += 1
                if self._refused():
                    return
                if self.path.rstrip("/") != "/v1/chat/completions":
                    self._json(404, {"error": {"message": f"no route {self.path}"}})
                    return
                ctx = build_context(body)
                with server._lock:
                    server.chat_requests += 1
                    server.chat_times.append(time.monotonic())
                    server.contexts.append(ctx)
                    fault = server.fault
                    if fault is not None and (fault.times is None or server.faulted < fault.times):
                        server.faulted += 1
                    else:
                        fault = None
                if fault is not None:
                    self._misbehave(fault)
                    return
                if server.forward_to is not None:
                    problem = server._forward(body)
                    if problem is not None:
                        self.close_connection = True
                        self._json(502, {"error": {"message": f"forward failed: {problem}", "code": 502}})
                        return
                text = server.planner(ctx)
                if server.delay_s:
                    time.sleep(server.delay_s)
                usage = {
                    "prompt_tokens": ctx.prompt_tokens,
                    "completion_tokens": max(1, len(text) // 4),
                    "total_tokens": ctx.prompt_tokens + max(1, len(text) // 4),
                }
                ident = f"chatcmpl-{server.chat_requests}"
                if not body.get("stream"):
                    self._json(
                        200,
                        {
                            "id": ident,
                            "object": "chat.completion",
                            "created": int(time.time()),
                            "model": MODEL_NAME,
                            "usage": usage,
                            "choices": [
                                {
                                    "index": 0,
                                    "finish_reason": "stop",
                                    "message": {"role": "assistant", "content": text},
                                }
                            ],
                        },
                    )
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.send_header("Connection", "close")
                self.end_headers()
                chunks = [text[i : i + 24] for i in range(0, len(text), 24)] or [""]
                for i, piece in enumerate(chunks):
                    delta: dict[str, Any] = {"content": piece}
                    if i == 0:
                        delta["role"] = "assistant"
                    self._event(
                        {
                            "id": ident,
                            "object": "chat.completion.chunk",
                            "model": MODEL_NAME,
                            "choices": [{"index": 0, "delta": delta, "finish_reason": None}],
                        }
                    )
                self._event(
                    {
                        "id": ident,
                        "object": "chat.completion.chunk",
                        "model": MODEL_NAME,
                        "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                    }
                )
                if (body.get("stream_options") or {}).get("include_usage"):
                    self._event(
                        {
                            "id": ident,
                            "object": "chat.completion.chunk",
                            "model": MODEL_NAME,
                            "choices": [],
                            "usage": usage,
                        }
                    )
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()
                self.close_connection = True

            def _misbehave(self, fault: Fault) -> None:
                self.close_connection = True
                if fault.kind == "status":
                    data = json.dumps(
                        {"error": {"message": f"scripted HTTP {fault.status}", "code": fault.status}}
                    ).encode()
                    self.send_response(fault.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    if fault.retry_after is not None:
                        self.send_header("Retry-After", fault.retry_after)
                    self.end_headers()
                    self.wfile.write(data)
                    return
                if fault.kind == "silence":
                    server._released.wait(fault.silence_s)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                if fault.kind == "garbage":
                    self.wfile.write(b"<html><body>502 upstream hiccup</body></html>\n")
                    return
                if fault.kind == "error-event":
                    error = {"message": "scripted error event", "code": fault.status}
                    self.wfile.write(b"event: error\ndata: " + json.dumps(error).encode() + b"\n\n")
                    return
                piece = {"content": "Thought: I will click the", "role": "assistant"}
                self._event(
                    {
                        "id": "chatcmpl-dropped",
                        "object": "chat.completion.chunk",
                        "model": MODEL_NAME,
                        "choices": [{"index": 0, "delta": piece, "finish_reason": None}],
                    }
                )
                # the connection closes here, with no finish reason and no [DONE]: the answer is cut

            def _event(self, payload: dict[str, Any]) -> None:
                if server.sse_style == "vllm":
                    self.wfile.write(b"data: " + json.dumps(payload).encode() + b"\n\n")
                else:
                    lines = json.dumps(payload, indent=1).splitlines()  # valid JSON once rejoined by \n
                    self.wfile.write(b": keep-alive comment\r\nid: 7\r\nretry: 3000\r\nevent: message\r\n")
                    self.wfile.write(
                        b"".join(b"data: " + line.encode() + b"\r\n" for line in lines) + b"\r\n"
                    )
                self.wfile.flush()

        self._released.clear()
        if self.forward_to is not None and self._forward_client is None:
            import httpx

            self._forward_client = httpx.Client(limits=httpx.Limits(max_connections=256))
        httpd = ThreadingHTTPServer((self.host, self.port), Handler)
        httpd.daemon_threads = True
        self.port = httpd.server_address[1]
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, name="policy-server", daemon=True)
        self._thread.start()
        return self

    def _forward(self, body: dict[str, Any]) -> str | None:
        """Send the request to the real engine and wait for its whole answer; None when it answered."""
        import httpx

        assert self.forward_to is not None
        payload = dict(body)
        payload.update(
            model=self.forward_model,
            max_tokens=self.forward_max_tokens,
            ignore_eos=True,
            stream=False,
        )
        for key in ("stream_options", "max_completion_tokens", "stop"):
            payload.pop(key, None)
        headers = {"Authorization": f"Bearer {self.forward_api_key}"} if self.forward_api_key else {}
        urls = [u.strip().rstrip("/") for u in self.forward_to.split(",") if u.strip()]
        with self._lock:
            self._forward_turn += 1  # ties go round: idle replicas take turns
            turn = self._forward_turn % len(urls)
            url = min(urls[turn:] + urls[:turn], key=lambda u: self._forward_in_flight.get(u, 0))
            self._forward_in_flight[url] = self._forward_in_flight.get(url, 0) + 1
        t0 = time.perf_counter()
        try:
            client = self._forward_client or httpx
            response = client.post(
                url + "/chat/completions",
                json=payload,
                headers=headers,
                timeout=self.forward_timeout_s,
            )
            if response.status_code >= 400:
                raise ValueError(f"HTTP {response.status_code}: {response.text[:300]}")
            response.json()
        except (httpx.HTTPError, ValueError) as exc:
            with self._lock:
                self.forward_errors += 1
            return f"{type(exc).__name__}: {exc}"[:300]
        finally:
            with self._lock:
                self._forward_in_flight[url] -= 1
        with self._lock:
            self.forward_times.append(time.perf_counter() - t0)
        return None

    def stop(self) -> None:
        """Stop answering (connections are refused) until `start()` again on the same port."""
        self._released.set()
        httpd, self._httpd = self._httpd, None
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        client, self._forward_client = self._forward_client, None
        if client is not None:
            client.close()

    def settings_overrides(self) -> dict[str, Any]:
        """`Settings(**...)` pointing the app at this server (endpoints mode)."""
        return {
            "engine": {
                "mode": "endpoints",
                "endpoints": [{"url": self.url, "model": MODEL_NAME}],
                "max_retries": 0,
                "connect_timeout_s": 2.0,
                "request_timeout_s": 30.0,
            }
        }

    def env(self) -> dict[str, str]:
        """Environment variables doing the same for a CLI subprocess."""
        return {
            "QWEN3VL_AGENT_ENGINE__MODE": "endpoints",
            "QWEN3VL_AGENT_ENGINE__ENDPOINTS": json.dumps([{"url": self.url, "model": MODEL_NAME}]),
            "QWEN3VL_AGENT_ENGINE__MAX_RETRIES": "0",
            "QWEN3VL_AGENT_ENGINE__CONNECT_TIMEOUT_S": "2",
        }


@pytest.fixture
def policy_server() -> Iterator[PolicyServer]:
    server = PolicyServer().start()
    try:
        yield server
    finally:
        server.stop()
