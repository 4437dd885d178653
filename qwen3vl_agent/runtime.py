"""Wire settings into a running inference path: engine -> endpoints -> client -> service.

`build_runtime` is what the CLI, the desktop app and the agents call to get an
`InferenceService`. In "managed" mode there is ONE engine per user: it reuses the engine that
`qwen3vl-agent engine start` or another instance of the app left running for the same model
(found through `engine.state_file`), or else a `SharedEngine` starts the local vLLM server (unless
told not to), records it for the other instances, and points the endpoint pool at it; in
"endpoints" mode it uses the configured OpenAI-compatible URLs. `Runtime.close()` stops
everything it started, in reverse order, and never an engine another instance still uses.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from qwen3vl_agent.config import EndpointSettings, EngineSettings, Settings
from qwen3vl_agent.errors import EngineUnavailableError
from qwen3vl_agent.inference.service import InferenceService
from qwen3vl_agent.paths import app_paths

if TYPE_CHECKING:
    import httpx

    from qwen3vl_agent.engine.client import OpenAIEngineClient
    from qwen3vl_agent.engine.endpoints import EndpointPool
    from qwen3vl_agent.engine.managed import ManagedEngine
    from qwen3vl_agent.engine.replicas import EngineReplicas
    from qwen3vl_agent.engine.state_file import EngineRecord
    from qwen3vl_agent.engine.status import StatusListener

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    """Everything that serves inference for one app process."""

    settings: Settings
    service: InferenceService
    client: OpenAIEngineClient
    pool: EndpointPool
    engine: ManagedEngine | EngineReplicas | None  # None in endpoints mode and when an engine was reused
    model_name: str
    reused: EngineRecord | None = None  # the running engine this runtime connected to
    http: httpx.AsyncClient | None = None  # the one engine HTTP client (client, pool, health wait)

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
        if self.http is not None:
            await self.http.aclose()

    async def __aenter__(self) -> Runtime:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


async def _model_name(
    settings: Settings, client: OpenAIEngineClient, engine: ManagedEngine | EngineReplicas | None
) -> str:
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
    from qwen3vl_agent.engine.served_model import first_model

    return first_model(models, "The engine")


def running_engine(settings: Settings) -> EngineRecord | None:
    """A recorded, live managed engine serving `settings.engine.model`, if there is one."""
    from qwen3vl_agent.engine.state_file import live_record_for

    return live_record_for(settings.engine)


async def build_runtime(
    settings: Settings,
    *,
    start_engine: bool = True,
    progress: StatusListener | None = None,
    cache_path: Path | None = None,
    reuse_running: bool = True,
) -> Runtime:
    """Build (and in managed mode, start) the inference path described by `settings`.

    `start_engine=False` builds the managed engine without starting it: the caller starts it
    later with `Runtime.start_engine` (e.g. the desktop app, once its window is up); requests
    sent before that fail with `EngineUnavailableError`.
    """
    from qwen3vl_agent.engine.http import engine_http_client

    engine_settings = settings.engine
    http = engine_http_client(engine_settings)
    try:
        return await _build(
            settings, engine_settings, http, start_engine, progress, cache_path, reuse_running
        )
    except BaseException:
        await http.aclose()
        raise


async def _build(
    settings: Settings,
    engine_settings: EngineSettings,
    http: httpx.AsyncClient,
    start_engine: bool,
    progress: StatusListener | None,
    cache_path: Path | None,
    reuse_running: bool,
) -> Runtime:
    from qwen3vl_agent.engine.client import OpenAIEngineClient
    from qwen3vl_agent.engine.endpoints import EndpointPool

    engine: ManagedEngine | EngineReplicas | None = None
    reused = running_engine(settings) if engine_settings.mode == "managed" and reuse_running else None
    if reused is not None and reused.users_dir:
        reused = None  # another instance's shared engine: the SharedEngine below joins it (and
        # takes over if it goes away); an `engine start` engine is the user's to manage
    if reused is not None:
        try:
            key = reused.api_key()
        except OSError as exc:
            raise EngineUnavailableError(
                f"A running engine was found but its API key cannot be read ({exc})",
                "stop it with `qwen3vl-agent engine stop` and start again",
            ) from exc
        urls = reused.replica_urls()
        endpoints = [EndpointSettings(url=u, api_key=key, model=reused.served_model_name) for u in urls]
        pool = EndpointPool(endpoints, engine_settings, http=http)
    elif engine_settings.mode == "managed":
        from qwen3vl_agent.engine.managed import ManagedEngine
        from qwen3vl_agent.engine.replicas import EngineReplicas, resolve_replicas
        from qwen3vl_agent.engine.shared import SharedEngine
        from qwen3vl_agent.engine.state_file import live_record_for
        from qwen3vl_agent.log_names import instance_log_name

        log_dir = app_paths().ensure().log_dir
        running = live_record_for(engine_settings) if reuse_running else None
        # a running shared engine decides how many servers there are: this instance joins all
        count = len(running.replica_urls()) if running is not None else resolve_replicas(engine_settings)
        if count > 1:
            # several servers on the GPU (engine.replicas), shared like one engine (SharedEngine)
            engine = EngineReplicas(engine_settings, log_dir, count=count, shared=reuse_running)
        else:
            kind = SharedEngine if reuse_running else ManagedEngine  # False: a private engine of our own
            engine = kind(
                engine_settings, log_dir, log_name=instance_log_name(log_dir, "vllm-server"), http=http
            )
        pool = EndpointPool([], engine_settings, http=http)
        pool.attach_managed(engine)  # each replica joins once it is READY
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
        pool = EndpointPool(list(engine_settings.endpoints), engine_settings, http=http)
    client: OpenAIEngineClient | None = None
    try:
        await pool.start()
        client = OpenAIEngineClient(pool, engine_settings)
        model = (
            reused.served_model_name if reused is not None else await _model_name(settings, client, engine)
        )
        for endpoint in pool.endpoints:
            if endpoint.model is None:
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
    return Runtime(settings, service, client, pool, engine, model, reused, http)
