"""`--baseline sync`: the same requests, one at a time, through a plain blocking HTTP client.

This is what the seed replaced: no queue, no cache, no streaming, no connection sharing between
threads, one request in flight. Each request is the very same JSON the app would send (same
prepared image, same text, same sampling), posted with `httpx.Client` and read whole.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable
from typing import Any

import httpx

from qwen3vl_agent.bench.plan import RequestSpec
from qwen3vl_agent.bench.stats import Sample
from qwen3vl_agent.bench.workloads import BuiltRequest, RequestFactory
from qwen3vl_agent.engine.client import build_payload
from qwen3vl_agent.engine.served_model import served_model
from qwen3vl_agent.engine.wire import transport_error
from qwen3vl_agent.errors import ModelsUnavailableError

HINT = "check --endpoint (a vLLM server's /v1) and --api-key"


def chat_payload(built: BuiltRequest, model: str) -> dict[str, Any]:
    """The body the app's own client would send for this request, asked for whole (not streamed).

    Built by the engine client's `build_payload`, so the baseline cannot drift from the app
    (seed, stop, response_format, tool_choice, mm_processor_kwargs ... all carried)."""
    return build_payload(dataclasses.replace(built.request, stream=False), model)


def resolve_model(base_url: str, api_key: str | None, timeout_s: float = 10.0) -> str:
    """The model the server serves (the first its `GET /v1/models` lists); raises
    `ModelsUnavailableError`."""
    url = base_url.rstrip("/") + "/models"
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        resp = httpx.get(url, headers=headers, timeout=timeout_s)
    except httpx.HTTPError as exc:
        cause = transport_error(url, exc)
        raise ModelsUnavailableError(
            f"Cannot ask {url} which model it serves: {cause.message}", HINT, cause=cause
        ) from exc
    return served_model(url, resp, HINT)


def run_sync_baseline(
    base_url: str,
    api_key: str | None,
    model: str,
    factory: RequestFactory,
    specs: Iterable[RequestSpec],
    timeout_s: float = 300.0,
) -> list[Sample]:
    """Post each request and wait for the whole answer before the next one."""
    url = base_url.rstrip("/") + "/chat/completions"
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    samples: list[Sample] = []
    with httpx.Client(timeout=timeout_s, headers=headers) as client:
        for spec in specs:
            built = factory.build(spec)
            body = chat_payload(built, model)
            sent = time.perf_counter()
            error: str | None = None
            usage: dict[str, Any] = {}
            try:
                r = client.post(url, json=body)
                r.raise_for_status()
                usage = r.json().get("usage") or {}
            except (httpx.HTTPError, ValueError) as exc:
                error = f"{type(exc).__name__}: {exc}"
            done = time.perf_counter()
            samples.append(
                Sample(
                    index=spec.index,
                    spec_class=spec.spec_class.value,
                    key=spec.key,
                    sent_at=sent,
                    done_at=done,
                    ttft_s=None,
                    prep_s=built.prep_s,
                    error=error,
                    prompt_tokens=usage.get("prompt_tokens"),
                    completion_tokens=usage.get("completion_tokens"),
                    image_bytes=len(built.image.data),
                    image_size=(built.image.width, built.image.height),
                    visual_tokens=built.image.visual_tokens,
                )
            )
    return samples
