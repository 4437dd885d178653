"""Wire settings into a running inference path: engine -> endpoints -> client -> service.

`build_runtime` is what the CLI, the desktop app and the agents call to get an
`InferenceService`. In "managed" mode it starts the local vLLM server (unless told not to) and
points the endpoint pool at it; in "endpoints" mode it uses the configured OpenAI-compatible
URLs. `Runtime.close()` stops everything it started, in reverse order.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from qwen3vl_agent.config import Settings
from qwen3vl_agent.errors import EngineUnavailableError
from qwen3vl_agent.inference.service import InferenceService
from qwen3vl_agent.paths import app_paths

if TYPE_CHECKING:
    from qwen3vl_agent.engine.client import OpenAIEngineClient
    from qwen3vl_agent.engine.endpoints import EndpointPool
    from qwen3vl_agent.engine.managed import ManagedEngine
    from qwen3vl_agent.engine.status import StatusListener

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    """Everything that serves inference for one app process."""

    settings: Settings
    service: InferenceService
    client: OpenAIEngineClient
    pool: EndpointPool
    engine: ManagedEngine | None  # None in endpoints mode
    model_name: str

    async def start_engine(self, progress: StatusListener | None = None) -> None:
        """Start the managed engine if it is not running (no-op in endpoints mode)."""
        if self.engine is not None:
            await self.engine.start(progress)

    async def close(self) -> None:
        """Stop the service, the client, the pool and the managed engine (each even if one fails)."""
        for step in (self.service.close, self.client.aclose, self.pool.close):
            try:
                await step()
            except Exception:
                log.exception("error while shutting down the inference runtime")
        if self.engine is not None:
            await self.engine.stop()

    async def __aenter__(self) -> Runtime:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


async def _model_name(settings: Settings, client: OpenAIEngineClient, engine: ManagedEngine | None) -> str:
    if engine is not None:
        return engine.served_model_name
    for endpoint in settings.engine.endpoints:
        if endpoint.model:
            return endpoint.model
    if settings.engine.served_model_name:
        return settings.engine.served_model_name
    try:
        models = await client.list_models()
    except EngineUnavailableError:
        raise
    except Exception as exc:
        raise EngineUnavailableError(
            f"Cannot ask the engine which model it serves: {exc}",
            "check engine.endpoints or set engine.served_model_name",
        ) from exc
    if not models:
        raise EngineUnavailableError("The engine serves no model", "check the server's --model")
    return str(models[0].get("id"))


async def build_runtime(
    settings: Settings,
    *,
    start_engine: bool = True,
    progress: StatusListener | None = None,
    cache_path: Path | None = None,
) -> Runtime:
    """Build (and in managed mode, start) the inference path described by `settings`.

    `start_engine=False` builds the managed engine without starting it: the caller starts it
    later with `Runtime.start_engine` (e.g. the desktop app, once its window is up); requests
    sent before that fail with `EngineUnavailableError`.
    """
    from qwen3vl_agent.engine.client import OpenAIEngineClient
    from qwen3vl_agent.engine.endpoints import EndpointPool

    engine: ManagedEngine | None = None
    engine_settings = settings.engine
    if engine_settings.mode == "managed":
        from qwen3vl_agent.engine.managed import ManagedEngine

        engine = ManagedEngine(engine_settings, app_paths().ensure().log_dir)
        pool = EndpointPool([], engine_settings)
        pool.attach_managed(engine)  # follows the engine's state: usable once it is READY
        if start_engine:
            try:
                await engine.start(progress)
            except BaseException:
                await engine.stop()
                raise
    else:
        if not engine_settings.endpoints:
            raise EngineUnavailableError(
                "engine.mode is 'endpoints' but no endpoint is configured",
                "add [[engine.endpoints]] url = ... to the config file",
            )
        pool = EndpointPool(list(engine_settings.endpoints), engine_settings)
    client: OpenAIEngineClient | None = None
    try:
        await pool.start()
        client = OpenAIEngineClient(pool, engine_settings)
        model = await _model_name(settings, client, engine)
        for endpoint in getattr(pool, "endpoints", []):
            if getattr(endpoint, "model", "") is None:
                endpoint.model = model  # learned from /v1/models: send it, not engine.model
        service = InferenceService(client, settings.queue, settings.cache, model, cache_path=cache_path)
    except BaseException:
        if client is not None:
            with contextlib.suppress(Exception):
                await client.aclose()
        with contextlib.suppress(Exception):
            await pool.close()
        if engine is not None:
            await engine.stop()
        raise
    return Runtime(settings, service, client, pool, engine, model)
