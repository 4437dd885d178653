"""The team server's allow-list proxy, for real: Debian's nginx + njs runs the repository's own
`packaging/server/proxy/nginx.conf` and `auth.js` (only the two ports and the upstream address
are pointed at this test's loopback), with a self-signed certificate made here, in front of a
loopback stand-in for vLLM that answers EVERY path with 200 (so anything the proxy lets through
would show). The stand-in is a fake because what is under test is the proxy, and a vLLM answering
`/invocations` and `/pause` cannot be had here without the GPU image."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from qwen3vl_agent.config import EndpointSettings
from qwen3vl_agent.errors import EngineError
from tests.support.engine_requests import engine_client, image_request

PROXY = Path(__file__).resolve().parents[2] / "packaging" / "server" / "proxy"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
NJS = Path("/usr/lib/nginx/modules/ngx_http_js_module.so")

pytestmark = pytest.mark.skipif(
    not (Path(NGINX).exists() and NJS.exists()),
    reason="needs nginx and its njs module (scripts/install-system-deps.sh: nginx libnginx-mod-http-js)",
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Upstream:
    """Stands in for vLLM on loopback: records what reached it; a streamed chat completion sends
    its first event, then holds the rest until the test has seen that event (`release`)."""

    port: int = 0
    seen: list[tuple[str, str, str | None]] = field(default_factory=list)  # method, path, Authorization
    release: threading.Event = field(default_factory=threading.Event)
    released_by_client: bool | None = None
    disconnected: threading.Event = field(default_factory=threading.Event)  # a held stream's client left
    _httpd: ThreadingHTTPServer | None = None

    def start(self) -> Upstream:
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                upstream.seen.append((self.command, self.path, self.headers.get("Authorization")))
                request = json.loads(body or b"{}")
                if self.path == "/v1/chat/completions" and request.get("stream"):
                    if request["messages"][0]["content"] == "hold until the client leaves":
                        self._hold()
                    else:
                        self._stream()
                    return
                data = json.dumps({"path": self.path, "object": "list", "data": []}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _stream(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()

                def event(text: str) -> None:
                    payload = f"data: {text}\n\n".encode()
                    self.wfile.write(f"{len(payload):x}\r\n".encode() + payload + b"\r\n")
                    self.wfile.flush()

                event(json.dumps({"choices": [{"index": 0, "delta": {"content": "first"}}]}))
                # a buffering proxy holds "first" back: the client never sees it, never releases
                upstream.released_by_client = upstream.release.wait(timeout=10)
                event(
                    json.dumps(
                        {"choices": [{"index": 0, "delta": {"content": "second"}, "finish_reason": "stop"}]}
                    )
                )
                event("[DONE]")
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()

            def _hold(self) -> None:
                """Like vLLM generating a long answer: one event, then wait for the connection to
                close (EOF), which is what makes vLLM abort the request when a client cancels."""
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                payload = b'data: {"choices": [{"index": 0, "delta": {"content": "x"}}]}\n\n'
                self.wfile.write(f"{len(payload):x}\r\n".encode() + payload + b"\r\n")
                self.wfile.flush()
                self.connection.settimeout(10)
                with contextlib.suppress(OSError):
                    if self.connection.recv(1) == b"":
                        upstream.disconnected.set()
                self.close_connection = True

            do_GET = _answer
            do_POST = _answer

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()

    def paths(self) -> set[str]:
        return {path for _, path, _ in self.seen}


@dataclass
class Proxy:
    url: str
    metrics_url: str
    key: str
    key_file: Path
    cert: Path
    tls: ssl.SSLContext
    upstream: Upstream

    def client(self, key: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.url, verify=self.tls, headers=headers, timeout=15)

    def raw(self, request_line: str) -> int:
        """Status of a request sent byte for byte (httpx would normalise the path first)."""
        host, port = self.url.removeprefix("https://").split(":")
        with (
            socket.create_connection((host, int(port)), timeout=10) as sock,
            self.tls.wrap_socket(sock, server_hostname=host) as tls,
        ):
            tls.sendall(
                f"{request_line}\r\nHost: {host}\r\nAuthorization: Bearer {self.key}\r\n"
                "Connection: close\r\n\r\n".encode()
            )
            head = tls.recv(64).decode()
        return int(head.split()[1])


def _self_signed(folder: Path) -> None:
    folder.mkdir()
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
            "-keyout", str(folder / "tls.key"), "-out", str(folder / "tls.crt"),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip


def _pointed_here(conf: str, https_port: int, metrics_port: int, upstream_port: int) -> str:
    """The repository's config with only its addresses changed (each must be there exactly once)."""
    for old, new in (
        ("listen 8443 ssl;", f"listen 127.0.0.1:{https_port} ssl;"),
        ("listen 9090;", f"listen 127.0.0.1:{metrics_port};"),
        ("server 127.0.0.1:8000;", f"server 127.0.0.1:{upstream_port};"),
    ):
        assert conf.count(old) == 1, f"nginx.conf no longer has exactly one {old!r}"
        conf = conf.replace(old, new)
    return conf


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    root = tmp_path_factory.mktemp("proxy")
    upstream = Upstream().start()
    conf_dir, prefix = root / "conf", root / "prefix"
    conf_dir.mkdir()
    prefix.mkdir()
    shutil.copy(PROXY / "auth.js", conf_dir / "auth.js")
    https_port, metrics_port = _free_port(), _free_port()
    (conf_dir / "nginx.conf").write_text(
        _pointed_here((PROXY / "nginx.conf").read_text(), https_port, metrics_port, upstream.port)
    )
    _self_signed(conf_dir / "tls")
    key = os.urandom(24).hex()
    key_file = root / "api-key"
    key_file.write_text(key + "\n")
    key_file.chmod(0o600)
    globals_ = "daemon off;" + (" user root;" if os.geteuid() == 0 else "")  # workers read the key file
    log = (root / "nginx.log").open("w")
    nginx = subprocess.Popen(
        [NGINX, "-p", f"{prefix}/", "-c", str(conf_dir / "nginx.conf"), "-e", "stderr", "-g", globals_],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "QWEN3VL_PROXY_KEY_FILE": str(key_file)},
    )
    tls = ssl.create_default_context(cafile=str(conf_dir / "tls" / "tls.crt"))
    try:
        deadline = time.monotonic() + 15
        while True:
            assert nginx.poll() is None, (root / "nginx.log").read_text()
            try:
                socket.create_connection(("127.0.0.1", https_port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, (root / "nginx.log").read_text()
                time.sleep(0.05)
        yield Proxy(
            f"https://127.0.0.1:{https_port}",
            f"http://127.0.0.1:{metrics_port}",
            key,
            key_file,
            conf_dir / "tls" / "tls.crt",
            tls,
            upstream,
        )
    finally:
        nginx.terminate()
        nginx.wait(timeout=10)
        log.close()
        upstream.stop()


def test_the_key_is_required_and_checked(proxy: Proxy) -> None:
    with proxy.client() as anonymous, proxy.client("not-the-key-" + "0" * 20) as wrong:
        for client in (anonymous, wrong):
            for method, path in (("GET", "/v1/models"), ("GET", "/health"), ("POST", "/v1/chat/completions")):
                resp = client.request(method, path, json={} if method == "POST" else None)
                assert resp.status_code == 401, (method, path, resp.text)
                assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    assert proxy.upstream.seen == []
    with proxy.client(proxy.key) as client:
        resp = client.get("/v1/models")
    assert resp.status_code == 200 and resp.json()["path"] == "/v1/models"
    # vLLM checks the same key on /v1: the proxy hands the client's header on
    assert proxy.upstream.seen[-1] == ("GET", "/v1/models", f"Bearer {proxy.key}")


def test_only_the_allowed_paths_and_methods_reach_vllm(proxy: Proxy) -> None:
    before = len(proxy.upstream.seen)
    with proxy.client(proxy.key) as client:
        for method, path in (
            ("POST", "/invocations"),
            ("POST", "/pause"),
            ("POST", "/resume"),
            ("POST", "/tokenize"),
            ("POST", "/v1/completions"),
            ("POST", "/v1/models"),  # an allowed path, not its method
            ("GET", "/v1/chat/completions"),
            ("GET", "/docs"),
            ("GET", "/v1/models/extra"),
        ):
            resp = client.request(method, path, json={} if method == "POST" else None)
            assert resp.status_code == 403, (method, path, resp.status_code, resp.text)
        for path in ("/health", "/metrics"):
            assert client.get(path).status_code == 200, path
    # spellings that name a forbidden path through an allowed one
    assert proxy.raw("POST /v1/models/../../invocations HTTP/1.1") == 403
    assert proxy.raw("POST /v1/%2e%2e/pause HTTP/1.1") == 403
    assert proxy.raw("GET //v1//models HTTP/1.1") == 200  # normalised to the allowed path ...
    assert proxy.upstream.seen[-1][1] == "/v1/models"  # ... and passed on in its literal form
    reached = {path for _, path, _ in proxy.upstream.seen[before:]}
    assert reached == {"/health", "/metrics", "/v1/models"}


def test_a_streamed_answer_passes_event_by_event(proxy: Proxy) -> None:
    body = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    events: list[str] = []
    with proxy.client(proxy.key) as client, client.stream("POST", "/v1/chat/completions", json=body) as resp:
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/event-stream")
        for line in resp.iter_lines():
            if not line.startswith("data: "):
                continue
            events.append(line.removeprefix("data: "))
            if len(events) == 1:
                proxy.upstream.release.set()  # the first event is here while vLLM holds the rest
    assert proxy.upstream.released_by_client is True, "the proxy held the first event back"
    contents = [json.loads(e)["choices"][0]["delta"]["content"] for e in events[:-1]]
    assert contents == ["first", "second"] and events[-1] == "[DONE]"


def test_a_client_that_leaves_mid_answer_closes_the_upstream_connection(proxy: Proxy) -> None:
    """The app's Stop closes its connection; vLLM stops generating only when its own connection
    closes: the proxy must pass the departure on, not finish the answer for nobody."""
    body = {
        "model": "m",
        "stream": True,
        "messages": [{"role": "user", "content": "hold until the client leaves"}],
    }
    with proxy.client(proxy.key) as client, client.stream("POST", "/v1/chat/completions", json=body) as resp:
        assert resp.status_code == 200
        first = next(line for line in resp.iter_lines() if line.startswith("data: "))
        assert json.loads(first.removeprefix("data: "))["choices"][0]["delta"]["content"] == "x"
    # leaving the block closed the client's connection in the middle of the answer
    assert proxy.upstream.disconnected.wait(timeout=10), "the proxy kept the upstream request open"


def test_the_metrics_port_serves_health_and_metrics_only(proxy: Proxy) -> None:
    with httpx.Client(base_url=proxy.metrics_url, timeout=10) as client:
        assert client.get("/health").status_code == 200
        assert client.get("/metrics").status_code == 200
        for method, path in (("POST", "/invocations"), ("GET", "/v1/models"), ("POST", "/metrics")):
            assert client.request(method, path).status_code in (403, 404), (method, path)


def test_a_rotated_or_missing_key_file_takes_effect_at_once(proxy: Proxy) -> None:
    new_key = os.urandom(24).hex()
    try:
        proxy.key_file.write_text(new_key)
        with proxy.client(proxy.key) as old, proxy.client(new_key) as new:
            assert old.get("/v1/models").status_code == 401
            assert new.get("/v1/models").status_code == 200
        proxy.key_file.unlink()  # fail closed: no key file, nobody gets in
        with proxy.client(new_key) as new:
            assert new.get("/v1/models").status_code == 401
        proxy.key_file.write_text("short")
        with proxy.client("short") as weak:
            assert weak.get("/v1/models").status_code == 401
    finally:
        proxy.key_file.write_text(proxy.key)


async def test_the_app_talks_through_the_proxy_with_its_certificate(
    proxy: Proxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs/team-server.md: a self-signed certificate is trusted through SSL_CERT_FILE, never
    silently; the app's own client (health probe, streamed chat) works through the proxy."""
    proxy.upstream.release.set()  # the stand-in streams its whole answer at once here
    endpoint = EndpointSettings(url=f"{proxy.url}/v1", api_key=proxy.key, model="m")
    async with engine_client([endpoint], max_retries=0) as client:
        with pytest.raises(EngineError):  # the system's CAs do not know this certificate
            await client.complete(image_request())
    monkeypatch.setenv("SSL_CERT_FILE", str(proxy.cert))
    async with engine_client([endpoint], max_retries=0) as client:
        assert client.pool.endpoints[0].healthy
        deltas: list[str] = []
        result = await client.complete(image_request(), deltas.append)
    assert result.text == "firstsecond" and deltas == ["first", "second"]
