"""Which model a server serves (the first its `GET /v1/models` lists), as each caller asks it:
the engine client for a bare endpoint, the pool's probe, the runtime, the bench baseline.

The answers a real vLLM never gives (no /health, a /v1/models that is not JSON, an empty list,
HTTP 500) come from a loopback HTTP server that answers scripted bodies; the normal answer is
checked against it too, and against the real tiny engine in test_client_real.py.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from qwen3vl_agent.bench.baseline import resolve_model
from qwen3vl_agent.config import EndpointSettings, EngineSettings, Settings
from qwen3vl_agent.engine.endpoints import Endpoint
from qwen3vl_agent.engine.ports import find_free_port
from qwen3vl_agent.errors import EngineError, EngineUnavailableError
from qwen3vl_agent.runtime import _model_name
from tests.support.engine_requests import engine_client

LISTED = {"object": "list", "data": [{"id": "served-x", "object": "model"}, {"id": "other"}]}


@dataclass
class Script:
    health: int = 404  # no /health: the probe falls back to /v1/models
    models_status: int = 200
    models_body: str = json.dumps(LISTED)


@pytest.fixture
def server() -> Iterator[tuple[str, Script]]:
    script = Script()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            if self.path.rstrip("/") == "/health":
                status, body = script.health, "{}"
            elif self.path.rstrip("/") == "/v1/models":
                status, body = script.models_status, script.models_body
            else:
                status, body = 404, "{}"
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/v1", script
    finally:
        httpd.shutdown()
        httpd.server_close()


# -- the bench baseline -----------------------------------------------------------------------
def test_the_baseline_takes_the_first_listed_model(server: tuple[str, Script]) -> None:
    assert resolve_model(server[0], None) == "served-x"


@pytest.mark.parametrize(
    ("status", "body"), [(200, json.dumps({"data": []})), (200, "ok"), (500, "{}"), (401, "{}")]
)
def test_the_baseline_says_when_no_model_can_be_known(
    server: tuple[str, Script], status: int, body: str
) -> None:
    url, script = server
    script.models_status, script.models_body = status, body
    with pytest.raises(EngineError) as info:
        resolve_model(url, None)
    assert url in info.value.message


def test_the_baseline_says_when_nothing_answers() -> None:
    url = f"http://127.0.0.1:{find_free_port()}/v1"
    with pytest.raises(EngineError) as info:
        resolve_model(url, None, timeout_s=2)
    assert url in info.value.message


# -- the pool's probe ---------------------------------------------------------------------------
async def test_the_probe_without_health_asks_the_models_and_learns_the_model(
    server: tuple[str, Script],
) -> None:
    url, script = server
    async with engine_client([EndpointSettings(url=url)]) as client:
        endpoint = client.pool.endpoints[0]
        assert await client.pool.check(endpoint) == (True, "ok")
        assert endpoint.model == "served-x"
        script.models_body = json.dumps({"data": [{"id": "later"}]})
        assert await client.pool.check(endpoint) == (True, "ok")
        assert endpoint.model == "served-x"  # asked once, remembered


async def test_the_probe_answers_without_a_listed_model_and_fails_on_errors(
    server: tuple[str, Script],
) -> None:
    url, script = server
    script.models_body = json.dumps({"data": []})
    async with engine_client([EndpointSettings(url=url)]) as client:
        endpoint = client.pool.endpoints[0]
        assert await client.pool.check(endpoint) == (True, "ok")  # it answers: healthy
        assert endpoint.model is None
        script.models_body = "ok"
        ok, _detail = await client.pool.check(endpoint)
        assert not ok  # 200, but not /v1/models JSON
        script.models_status = 500
        assert await client.pool.check(endpoint) == (False, "/v1/models answered HTTP 500")


# -- the engine client --------------------------------------------------------------------------
async def test_the_client_sends_the_listed_model_else_the_settings_name(server: tuple[str, Script]) -> None:
    url, script = server
    async with engine_client([EndpointSettings(url=url)]) as client:
        bare = Endpoint(url)
        assert await client._endpoint_model(bare) == "served-x"
        assert bare.model == "served-x"
        for status, body in [(200, json.dumps({"data": []})), (200, "ok"), (500, "{}")]:
            script.models_status, script.models_body = status, body
            assert await client._endpoint_model(Endpoint(url)) == EngineSettings().served_name()


# -- the runtime --------------------------------------------------------------------------------
async def test_the_runtime_takes_the_listed_model_or_says_there_is_none(server: tuple[str, Script]) -> None:
    url, script = server
    settings = Settings()
    settings.engine.endpoints = [EndpointSettings(url=url)]
    settings.engine.served_model_name = None
    async with engine_client([EndpointSettings(url=url)]) as client:
        assert await _model_name(settings, client, None) == "served-x"
        script.models_body = json.dumps({"data": []})
        with pytest.raises(EngineUnavailableError, match="serves no model"):
            await _model_name(settings, client, None)
