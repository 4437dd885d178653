"""The endpoint page's "Test connection": ask a server for its models with the app's own client.

It goes through `EndpointPool` + `OpenAIEngineClient.list_models` (the code that serves real
requests), so the test sees what the app will see: the same URL normalisation, auth header and
typed errors, which `_explain` turns into advice for this endpoint. Runs as a coroutine on the Qt loop (qasync); httpx never blocks the thread.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from qwen3vl_agent.config import EndpointSettings, EngineSettings
from qwen3vl_agent.engine.client import OpenAIEngineClient
from qwen3vl_agent.engine.endpoints import EndpointPool, normalize_base_url
from qwen3vl_agent.errors import (
    EngineAuthError,
    EngineBadAnswerError,
    EngineConnectError,
    EngineHTTPError,
    EngineTimeoutError,
    ModelsUnavailableError,
    UserFacingError,
)

TEST_TIMEOUT_S = 15.0


@dataclass(frozen=True)
class ConnectionResult:
    ok: bool
    message: str
    models: list[str] = field(default_factory=list)


def _explain(error: UserFacingError, url: str, timeout_s: float) -> str:
    """What the client's typed failure means for this endpoint, in one line."""
    cause = error.cause if isinstance(error, ModelsUnavailableError) and error.cause is not None else error
    if isinstance(cause, EngineAuthError):
        return f"{url} refused the API key (HTTP {cause.status_code}): check the key"
    if isinstance(cause, EngineHTTPError) and cause.status_code == 404:
        return f"{url} has no /v1/models (HTTP 404): check the URL"
    if isinstance(cause, EngineHTTPError):
        return f"{url}/models answered HTTP {cause.status_code}"
    if (isinstance(cause, EngineConnectError) and cause.timed_out) or isinstance(cause, EngineTimeoutError):
        detail = cause.detail if isinstance(cause, EngineConnectError) else cause.message
        return f"{url} did not answer within {timeout_s:g} s ({detail})"
    if isinstance(cause, EngineBadAnswerError):
        return f"{url}/models did not answer like an OpenAI-compatible server"
    if isinstance(cause, EngineConnectError):
        return (
            f"Cannot connect to {url} ({cause.detail}): is the server running, and are host and port right?"
        )
    return f"{url}: {cause.message}"


async def probe_endpoint(
    endpoint: EndpointSettings, engine: EngineSettings, timeout_s: float = TEST_TIMEOUT_S
) -> ConnectionResult:
    """Which models `endpoint` serves, or why it cannot be used, in one line."""
    settings = engine.model_copy(
        update={
            "endpoints": [endpoint],
            "request_timeout_s": timeout_s,
            "connect_timeout_s": min(engine.connect_timeout_s, timeout_s),
            "max_retries": 0,
        }
    )
    pool = EndpointPool([endpoint], settings)
    client = OpenAIEngineClient(pool, settings)
    try:
        models = await client.list_models()
    except UserFacingError as exc:
        return ConnectionResult(False, _explain(exc, normalize_base_url(endpoint.url), timeout_s))
    finally:
        await client.aclose()
        await pool.close()
    names = [str(m.get("id")) for m in models if m.get("id")]
    url = normalize_base_url(endpoint.url)
    if not names:
        return ConnectionResult(False, f"{url} answers but serves no model")
    if endpoint.model and endpoint.model not in names:
        return ConnectionResult(
            False,
            f"{url} answers, but does not serve the model {endpoint.model!r} "
            f"(it serves: {', '.join(names)}); fix the model name or leave it empty",
            names,
        )
    return ConnectionResult(True, f"Connected: {url} serves {', '.join(names)}", names)
