"""The one HTTP client that talks to engines: requests, endpoint probes and the start-up health wait.

One `httpx.AsyncClient` per runtime (built here, closed by its owner) means one connection pool
to each server, one place for timeouts and limits, and one object a test can swap for a client
with its own transport. Calls that need a shorter bound (probes, the health wait) pass their own
`timeout=` per request; everything else gets `engine.request_timeout_s` between bytes.
"""

from __future__ import annotations

import httpx

from qwen3vl_agent.config import EngineSettings

PROBE_TIMEOUT_S = 5.0  # a /health or /v1/models probe


def engine_http_client(settings: EngineSettings) -> httpx.AsyncClient:
    """A client for the engines of `settings`; the caller owns it (`await client.aclose()`)."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(settings.request_timeout_s, connect=settings.connect_timeout_s),
        limits=httpx.Limits(max_connections=256, max_keepalive_connections=64),
    )


def probe_timeout(settings: EngineSettings, read_s: float = PROBE_TIMEOUT_S) -> httpx.Timeout:
    """The bound of one probe: short, whatever a request may take."""
    return httpx.Timeout(read_s, connect=min(settings.connect_timeout_s, read_s))
