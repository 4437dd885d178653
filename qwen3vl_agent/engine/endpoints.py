"""A pool of OpenAI-compatible endpoints: least-outstanding routing, fail-out and probe-back-in.

Requests go to the healthy endpoint with the fewest requests in flight. An endpoint that fails
(connect error, 5xx, a dropped stream) is taken out; a background task probes it every
`probe_interval_s` (GET /health, else GET /v1/models) and puts it back when it answers. The
managed engine's URLs (one per replica) join the pool through `attach_managed`, which follows
each replica's state.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx

from qwen3vl_agent.config import EndpointSettings, EngineSettings
from qwen3vl_agent.engine.http import engine_http_client, probe_timeout
from qwen3vl_agent.engine.replicas import EngineReplicas
from qwen3vl_agent.engine.served_model import served_model
from qwen3vl_agent.engine.status import EngineState, EngineStatus, StatusListener
from qwen3vl_agent.errors import EngineUnavailableError, ModelsUnavailableError

if TYPE_CHECKING:
    from qwen3vl_agent.engine.managed import ManagedEngine

log = logging.getLogger(__name__)


def normalize_base_url(url: str) -> str:
    """`http://host:8000`, `…/v1/` and `…/v1` all become `http://host:8000/v1`."""
    url = url.strip().rstrip("/")
    return url if url.endswith("/v1") else url + "/v1"


@dataclass
class Endpoint:
    """One server the pool can send requests to, with its live routing state."""

    base_url: str
    api_key: str | None = None
    model: str | None = None
    managed: bool = False
    healthy: bool = True
    outstanding: int = 0
    failures: int = 0
    last_error: str | None = None
    out_since: float | None = None
    served: int = field(default=0)

    @property
    def root_url(self) -> str:
        return self.base_url.removesuffix("/v1")

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}


class EndpointPool:
    def __init__(
        self,
        endpoints: list[EndpointSettings],
        settings: EngineSettings,
        *,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        """`http`: the runtime's one engine HTTP client (its owner closes it); without one the
        pool makes its own, which the engine client then shares, and closes it in `close`."""
        self._settings = settings
        self._endpoints: list[Endpoint] = [
            Endpoint(normalize_base_url(e.url), e.api_key, e.model) for e in endpoints
        ]
        self._managed: dict[int, Endpoint] = {}  # id(engine) -> its endpoint
        self._engines: list[ManagedEngine] = []
        self._listeners: dict[int, StatusListener] = {}
        self._probe_task: asyncio.Task[None] | None = None
        self._closed = False  # a close during start's first probes: start makes no probe task after it
        self._http = http
        self._owns_http = http is None

    # ------------------------------------------------------------------ membership

    @property
    def endpoints(self) -> list[Endpoint]:
        return list(self._endpoints)

    @property
    def http(self) -> httpx.AsyncClient:
        """The HTTP client for this pool's servers (requests, probes)."""
        if self._http is None:
            self._http = engine_http_client(self._settings)
        return self._http

    def add_endpoint(
        self, url: str, api_key: str | None = None, model: str | None = None, *, managed: bool = False
    ) -> Endpoint:
        endpoint = Endpoint(normalize_base_url(url), api_key, model, managed=managed)
        self._endpoints.append(endpoint)
        return endpoint

    def attach_managed(self, engine: ManagedEngine | EngineReplicas) -> Endpoint | None:
        """Route to the managed engine (every replica of it); health follows each one's state."""
        engines = list(engine.replicas) if isinstance(engine, EngineReplicas) else [engine]
        for one in engines:
            self._engines.append(one)
            listener = self._listener_for(one)
            self._listeners[id(one)] = listener
            one.add_listener(listener)
            if one.port is not None:
                self._sync_managed(one, one.status)
        return self._managed.get(id(engines[0]))

    def _listener_for(self, engine: ManagedEngine) -> StatusListener:
        # Called from the engine's loop; maybe another thread: only plain attribute updates here.
        return lambda status: self._sync_managed(engine, status)

    def _sync_managed(self, engine: ManagedEngine, status: EngineStatus) -> None:
        if engine.port is None:
            return
        endpoint = self._managed.get(id(engine))
        if endpoint is None:
            endpoint = self.add_endpoint(
                engine.base_url, engine.api_key, engine.served_model_name, managed=True
            )
            self._managed[id(engine)] = endpoint
        endpoint.base_url = engine.base_url  # a restart may have moved it
        endpoint.api_key = engine.api_key
        ready = status.state == EngineState.READY
        if ready and not endpoint.healthy:
            self._mark_ok(endpoint)
        elif not ready:
            endpoint.healthy = False
            endpoint.last_error = status.error or f"engine {status.state.value}"

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Probe every endpoint once (so a dead one starts out of rotation) and start probing."""
        await asyncio.gather(*(self._probe(e) for e in self._endpoints if not e.managed))
        if self._probe_task is None and not self._closed:
            self._probe_task = asyncio.create_task(self._probe_loop(), name="endpoint-probe")

    async def close(self) -> None:
        self._closed = True
        task, self._probe_task = self._probe_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for engine in self._engines:
            listener = self._listeners.pop(id(engine), None)
            if listener is not None:
                engine.remove_listener(listener)
        if self._owns_http and self._http is not None:
            await self._http.aclose()
            self._http = None

    # ------------------------------------------------------------------ routing

    def acquire(self) -> Endpoint:
        """The healthy endpoint with the fewest outstanding requests (counted as one more)."""
        healthy = [e for e in self._endpoints if e.healthy]
        if not healthy:
            raise EngineUnavailableError(self._unavailable_message(), self._unavailable_hint())
        best = min(healthy, key=lambda e: (e.outstanding, e.served))
        best.outstanding += 1
        best.served += 1
        return best

    def release(self, endpoint: Endpoint) -> None:
        endpoint.outstanding = max(0, endpoint.outstanding - 1)

    def mark_failed(self, endpoint: Endpoint, reason: str) -> None:
        """Take an endpoint out of rotation until a probe finds it answering again."""
        if endpoint.healthy:
            log.warning("endpoint %s taken out: %s", endpoint.base_url, reason)
            endpoint.out_since = time.monotonic()
        endpoint.healthy = False
        endpoint.failures += 1
        endpoint.last_error = reason

    def mark_ok(self, endpoint: Endpoint) -> None:
        if not endpoint.healthy:
            self._mark_ok(endpoint)

    def _mark_ok(self, endpoint: Endpoint) -> None:
        log.info("endpoint %s is back", endpoint.base_url)
        endpoint.healthy = True
        endpoint.last_error = None
        endpoint.out_since = None

    def _unavailable_message(self) -> str:
        if not self._endpoints:
            if self._engines:
                return f"The engine is not running ({self._engines[0].state.value})"
            return "No inference endpoint is configured"
        reasons = "; ".join(f"{e.base_url}: {e.last_error or 'down'}" for e in self._endpoints)
        return f"No inference engine is reachable ({reasons})"

    def _unavailable_hint(self) -> str:
        if self._engines:
            return f"see the engine log {self._engines[0].log_path}"
        return "start the engine or check engine.endpoints"

    # ------------------------------------------------------------------ probing

    async def probe_now(self) -> None:
        """Probe every out-of-rotation endpoint once (the background task does this periodically)."""
        ready = {id(e) for e in self._endpoints if not e.managed}
        ready |= {
            id(self._managed[id(g)])
            for g in self._engines
            if g.state == EngineState.READY and id(g) in self._managed
        }
        await asyncio.gather(*(self._probe(e) for e in self._endpoints if not e.healthy and id(e) in ready))

    async def _probe_loop(self) -> None:
        while True:
            await asyncio.sleep(self._settings.probe_interval_s)
            try:
                await self.probe_now()
            except Exception:  # the probe loop must outlive any single failure
                log.exception("endpoint probe failed")

    async def _probe(self, endpoint: Endpoint) -> None:
        ok, detail = await self.check(endpoint)
        if ok:
            self.mark_ok(endpoint)
        elif endpoint.healthy:
            self.mark_failed(endpoint, detail)
        else:
            endpoint.last_error = detail

    async def check(self, endpoint: Endpoint) -> tuple[bool, str]:
        """(answers?, detail): GET /health; where there is none, GET /v1/models."""
        http, timeout = self.http, probe_timeout(self._settings)
        try:
            resp = await http.get(f"{endpoint.root_url}/health", headers=endpoint.headers(), timeout=timeout)
            if resp.status_code == 200:
                return True, "ok"
            if resp.status_code not in (404, 405):
                return False, f"/health answered HTTP {resp.status_code}"
            url = f"{endpoint.base_url}/models"
            resp = await http.get(url, headers=endpoint.headers(), timeout=timeout)
            if resp.status_code != 200:
                return False, f"/v1/models answered HTTP {resp.status_code}"
            if endpoint.model is None:
                try:
                    endpoint.model = served_model(url, resp)
                except ModelsUnavailableError as exc:
                    if exc.cause is not None:  # 200, but not /v1/models JSON
                        return False, exc.cause.message
            return True, "ok"
        except httpx.HTTPError as exc:
            return False, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__

    def snapshot(self) -> list[dict[str, Any]]:
        """A plain view of the pool for status displays."""
        return [
            {
                "url": e.base_url,
                "healthy": e.healthy,
                "outstanding": e.outstanding,
                "managed": e.managed,
                "last_error": e.last_error,
            }
            for e in self._endpoints
        ]
