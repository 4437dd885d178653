"""Which models a server serves: its `GET /v1/models` answer, read in one place.

`listed_models` reads one answer (raising the typed failure of `wire`: `http_error` for an
HTTP error, `EngineBadAnswerError` for a body that is not /v1/models JSON). `first_model` is the
one rule for which of them a request names when nothing else says: the first listed. Every
caller that asks a server which model it serves (the engine client for a bare endpoint, the
pool's probe, the runtime, the bench baseline) goes through `first_model`, directly or through
`served_model`, and gets `ModelsUnavailableError` when none can be known.
"""

from __future__ import annotations

from typing import Any

import httpx

from qwen3vl_agent.engine.wire import http_error
from qwen3vl_agent.errors import EngineBadAnswerError, EngineError, ModelsUnavailableError

ASK_HINT = "check the endpoint's URL and API key"


def listed_models(url: str, resp: httpx.Response) -> list[dict[str, Any]]:
    """The `data` of the answer `resp` to `GET url` (a server's /v1/models)."""
    if resp.status_code != 200:
        raise http_error(url, resp.status_code, resp.text, resp.headers.get("Retry-After"))
    try:
        return [dict(m) for m in resp.json().get("data") or []]
    except (ValueError, AttributeError, TypeError):  # 200, but not /v1/models JSON
        raise EngineBadAnswerError(
            f"{url} did not answer like an OpenAI-compatible server", body=resp.text[:2000]
        ) from None


def first_model(models: list[dict[str, Any]], server: str) -> str:
    """The model `server` serves: the first of its listed `models`."""
    name = models[0].get("id") if models else None
    if not name:
        raise ModelsUnavailableError(f"{server} serves no model", "check the server's --model")
    return str(name)


def served_model(url: str, resp: httpx.Response, hint: str = ASK_HINT) -> str:
    """The model a server serves, from its answer `resp` to `GET url` (/v1/models); raises
    `ModelsUnavailableError`, its `cause` the typed failure of the answer (None: none listed)."""
    try:
        models = listed_models(url, resp)
    except EngineError as exc:
        raise ModelsUnavailableError(
            f"Cannot ask {url} which model it serves: {exc.message}", hint, cause=exc
        ) from exc
    return first_model(models, url)
