"""Settings: pydantic-settings over a TOML file in the platformdirs config dir.

Precedence (highest first): constructor arguments, `QWEN3VL_AGENT_*` environment variables
(nested with `__`, e.g. `QWEN3VL_AGENT_ENGINE__MODEL`), the TOML file, the defaults below.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from qwen3vl_agent.errors import ConfigError
from qwen3vl_agent.paths import app_paths

DEFAULT_MODEL = "Qwen/Qwen3-VL-4B-Instruct"


class EndpointSettings(BaseModel):
    """An OpenAI-compatible server the app may send requests to."""

    url: str = Field(description="Base URL, e.g. http://gpu-box:8000/v1")
    api_key: str | None = Field(default=None, repr=False)  # a secret: kept out of reprs and logs
    model: str | None = Field(default=None, description="Served model name; asked from /v1/models if unset")


class EngineSettings(BaseModel):
    mode: Literal["managed", "endpoints"] = "managed"
    model: str = DEFAULT_MODEL
    served_model_name: str | None = None
    launcher: Literal["vllm-serve", "python-module"] = "vllm-serve"
    vllm_executable: str = "vllm"
    python_executable: str | None = Field(
        default=None, description="Interpreter for the python-module launcher (the CPU build needs it)"
    )
    host: str = "127.0.0.1"
    port: int = Field(default=0, description="0 picks a free port")
    max_model_len: int = 32768
    gpu_memory_utilization: float = Field(default=0.85, gt=0, le=1)
    # 16384: +8 % req/s over 8192 on one H100 for 1080p and 1024-token screenshots alike; 32768
    # gave no more (docs/benchmarks.md, "Speed at real scale (H100)")
    max_num_batched_tokens: int = 16384
    max_num_seqs: int | None = None
    # Several vLLM servers sharing the GPU: one server is CPU-bound (two single-threaded
    # processes); 3 on one H200 served 1.6x one (engine/replicas.py says how `auto` picks N)
    replicas: Annotated[int, Field(ge=1, le=16)] | Literal["auto"] = Field(
        default="auto", description="vLLM servers on the GPU: a number, or auto (1 without an NVIDIA GPU)"
    )
    replica_min_gpu_gib: float = Field(
        default=32.0, gt=0, description="auto: GPU memory each replica needs at least"
    )
    replica_start_stagger_s: float | None = Field(
        default=None,
        ge=0,
        description="None: each replica starts once the previous one serves (GPU memory is profiled "
        "per process); seconds: start that long after the previous one regardless",
    )
    limit_mm_images: int = 4
    enable_chunked_prefill: bool = True
    dtype: str | None = None
    # Off by default: the app resizes images on the client, so it never sends per-request
    # mm_processor_kwargs, and vLLM releases without the flag (0.25 on the H100 bench) refuse to start.
    trust_request_mm_kwargs: bool = Field(
        default=False,
        description="Pass --trust-request-mm-kwargs so per-request mm_processor_kwargs work (newer vLLM only)",
    )
    extra_args: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    api_key: str | None = Field(default=None, description="Generated per start when unset", repr=False)
    startup_timeout_s: float = 1800.0
    restart_on_crash: bool = True
    max_restarts: int = 3
    endpoints: list[EndpointSettings] = Field(default_factory=list)
    request_timeout_s: float = 300.0
    connect_timeout_s: float = 5.0
    max_retries: int = Field(default=2, ge=0, description="Tries after the first for a failed request")
    retry_backoff_s: float = Field(default=0.5, ge=0, description="First wait between tries; doubles")
    retry_backoff_max_s: float = Field(default=8.0, ge=0)
    retry_after_max_s: float = Field(
        default=60.0, ge=0, description="A longer Retry-After is not waited out: the request fails"
    )
    probe_interval_s: float = 5.0

    def served_name(self) -> str:
        """The name the model is served under: what the managed server is started with
        (`--served-model-name`) and what a request names when nothing more specific is known.
        The one place this default lives; callers never repeat `served_model_name or model`."""
        return self.served_model_name or self.model


class QueueSettings(BaseModel):
    max_in_flight: int = Field(default=32, ge=1, description="Requests sent to the engine at once")
    max_queued: int = Field(default=10000, ge=1, description="Waiting requests before 'busy'")
    default_deadline_s: float | None = None


class CacheSettings(BaseModel):
    enabled: bool = True
    l1_ttl_s: float = 600.0
    l2_ttl_s: float = 86400.0
    l1_max_entries: int = 512
    l1_max_bytes: int = 256 * 1024 * 1024


class ImageSettings(BaseModel):
    """Visual-token budgets per task (one token = 32x32 pixels) and the wire encoding."""

    chat_budget_tokens: int = 1280
    agent_budget_tokens: int = 1024
    ocr_budget_tokens: int = 2048
    encoding: Literal["png", "webp", "jpeg"] = "png"
    jpeg_quality: int = 90
    max_input_pixels: int = 200_000_000
    max_input_bytes: int = 512 * 1024 * 1024


def _valid_combos(combos: list[str]) -> list[str]:
    """Each entry must be a key combination the executor understands ("ctrl+alt+t")."""
    from qwen3vl_agent.executor.policy import check_combo_setting  # lazy: executor imports config

    return [check_combo_setting(c) for c in combos]


class SafetySettings(BaseModel):
    """Safety modes and the hard limits no mode skips (docs/agent-runs.md, "Safety limits")."""

    mode: Literal["dry-run", "confirm", "auto"] = "confirm"
    confirm_only_risky: bool = False
    stop_hotkey: str = "<ctrl>+<alt>+<esc>"
    step_limit: int = 30
    wall_clock_limit_s: float = 600.0
    pyautogui_pause_s: float = 0.02
    no_progress_repeats: int = 3
    denied_key_combos: list[str] = Field(
        default_factory=list, description="Key combos refused in every mode, on top of the built-in list"
    )
    allow_dangerous_keys: list[str] = Field(
        default_factory=list,
        description="Built-in denied combos (or power-key names) to allow anyway: an explicit opt-out",
    )
    # 2,000: a long address or a paragraph; at ~3 ms per key about 6 s of typing, short enough to
    # stop by hand. 50,000: 25 such fields in one run, far above a form row, far below a runaway.
    max_type_chars_per_action: int = Field(default=2000, ge=1, le=1_000_000)
    max_type_chars_per_run: int = Field(default=50_000, ge=1, le=10_000_000)
    max_keys_per_combo: int = Field(default=5, ge=1, le=10, description="ctrl+alt+shift+super+x is 5")
    # input primitives of one action (clicks, key events, chunks of text, drag moves, wheel chunks;
    # waits not counted): 2,000 characters typed one by one stay under it
    max_primitives_per_action: int = Field(default=2500, ge=1, le=100_000)
    max_refusals_in_a_row: int = Field(
        default=3, ge=1, description="Refused actions in a row before the run pauses (or a batch row stops)"
    )

    @field_validator("denied_key_combos", "allow_dangerous_keys")
    @classmethod
    def _combos(cls, value: list[str]) -> list[str]:
        return _valid_combos(value)

    @model_validator(mode="after")
    def _run_cap_covers_one_action(self) -> SafetySettings:
        if self.max_type_chars_per_run < self.max_type_chars_per_action:
            raise ValueError("max_type_chars_per_run must be at least max_type_chars_per_action")
        return self


DEFAULT_SECRET_COLUMNS = (
    "password", "passwd", "pwd", "passcode", "passphrase", "pin", "secret", "token", "api_key",
    "apikey", "iban", "card", "card_number", "credit_card", "cvv", "cvc", "ssn", "otp",
)  # fmt: skip


class AgentSettings(BaseModel):
    """The agent loop's prompt bounds and retries (qwen3vl_agent/agents/loop.py)."""

    history_images: int = Field(
        default=3, ge=1, description="Screenshots per prompt, the current one included"
    )
    history_text_steps: int = Field(default=30, ge=0, description="Older steps kept as one line of text each")
    history_slide_block: int = Field(
        default=0,
        ge=0,
        description="Steps the screenshot window moves at once, so vLLM's prefix cache survives them "
        "(0: history_images - 1; 1: every step)",
    )
    max_feedback: int = Field(
        default=3, ge=1, description="Unusable answers in a row before the run gives up"
    )
    max_tokens: int = Field(default=512, ge=16, description="Longest answer per step")
    engine_retry_s: float = Field(default=2.0, gt=0, description="Retry interval while the engine is away")
    engine_wait_limit_s: float | None = Field(
        default=None,
        gt=0,
        description="Stop a run after waiting this long for the engine (None: wait until stopped)",
    )
    answer_deadline_s: float | None = Field(
        default=90.0,
        gt=0,
        description="Longest wait for one step's answer (a server that accepts, then says nothing)",
    )
    structured_output: bool = Field(default=False, description="Force the tool-call JSON schema on the model")
    settle_s: float = Field(
        default=0.3, ge=0, description="Replay: pause between actions for the screen to settle"
    )
    secret_columns: list[str] = Field(
        default_factory=lambda: list(DEFAULT_SECRET_COLUMNS),
        description="Form-fill columns named like these reach the model only as {placeholder}",
    )


class ExecutorSettings(BaseModel):
    """How the executor plays GUI actions (qwen3vl_agent/executor)."""

    drag_steps: int = Field(default=12, ge=1, le=500, description="Pointer moves between press and release")
    type_chunk_chars: int = Field(default=4, ge=1, description="ASCII characters per interruptible piece")
    paste_chunk_chars: int = Field(default=64, ge=1, description="Unicode characters per clipboard paste")
    scroll_pixels_per_click: float = Field(
        default=100.0, gt=0, description="Model scroll pixels per wheel click"
    )
    max_scroll_clicks: int = Field(default=50, ge=1, le=500, description="Wheel clicks per scroll action")
    max_wait_s: float = Field(default=60.0, ge=0)
    paste_timeout_s: float = Field(
        default=2.0, gt=0, description="How long to wait for the app to take a paste"
    )
    monitor_check_ttl_s: float = Field(default=0.5, ge=0, description="How long a monitor list is trusted")
    stop_hotkey_enabled: bool = True


class Rect(BaseModel):
    left: int
    top: int
    width: int
    height: int


class ScreenSettings(BaseModel):
    """How model coordinates map to the screen, and HiDPI overrides."""

    coordinate_mode: Literal["relative", "absolute"] = Field(
        default="relative",
        description="relative: Qwen3-VL's 0..scale grid; absolute: Qwen2.5-VL pixels of the resized image",
    )
    coordinate_scale: int = Field(
        default=1000, ge=1, description="Grid of relative mode: 1000 (Qwen3-VL) or 999"
    )
    out_of_range: Literal["clamp", "reject"] = "clamp"
    clamp_margin: float = Field(
        default=0.05,
        ge=0,
        description="clamp mode: fraction of the grid beyond which a value is still refused",
    )
    input_scale: float | None = Field(
        default=None, gt=0, description="Capture pixels per input-device point; detected when unset"
    )
    allow_xwayland: bool = Field(
        default=False,
        description="On a Wayland session, capture and drive the live desktop through XWayland anyway: "
        "only X11 apps are seen (native Wayland windows are black) and only they get input",
    )
    wayland_route: Literal["auto", "mutter", "portal"] = Field(
        default="auto",
        description="On a Wayland session, how to capture and drive the live desktop: mutter (GNOME's "
        "own API, no dialog), portal (xdg-desktop-portal: KDE Plasma, wlroots, any desktop; asks the "
        "user) or auto (mutter where GNOME offers it, else the portal)",
    )
    wayland_capture: Literal["auto", "screencast", "screenshot"] = Field(
        default="auto",
        description="On a Wayland session, where captures come from: screencast (the route's "
        "PipeWire streams, kept open: ~1 ms a capture), screenshot (xdg-desktop-portal's Screenshot "
        "portal, one call a capture, no stream) or auto (the streams; the Screenshot portal where they "
        "cannot be opened or send no frame, never after the user refused to share the screen)",
    )


class PrivacySettings(BaseModel):
    masked_rects: list[Rect] = Field(default_factory=list)
    masked_window_titles: list[str] = Field(default_factory=list)
    exclude_own_windows: bool = True
    # Off by default: runs are the record of what the agent did on the desktop (reports, replay,
    # a batch's resume checks), and deleting them cannot be undone; the user opts in.
    keep_runs_days: float | None = Field(
        default=None,
        gt=0,
        description="Delete agent runs and their screenshots older than this many days (unset: keep)",
    )


class Settings(BaseSettings):
    """All of the app's settings."""

    model_config = SettingsConfigDict(
        env_prefix="QWEN3VL_AGENT_",
        env_nested_delimiter="__",
        extra="forbid",
    )

    engine: EngineSettings = Field(default_factory=EngineSettings)
    queue: QueueSettings = Field(default_factory=QueueSettings)
    cache: CacheSettings = Field(default_factory=CacheSettings)
    images: ImageSettings = Field(default_factory=ImageSettings)
    safety: SafetySettings = Field(default_factory=SafetySettings)
    executor: ExecutorSettings = Field(default_factory=ExecutorSettings)
    agent: AgentSettings = Field(default_factory=AgentSettings)
    privacy: PrivacySettings = Field(default_factory=PrivacySettings)
    screen: ScreenSettings = Field(default_factory=ScreenSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml = TomlConfigSettingsSource(settings_cls, toml_file=app_paths().config_file)
        return (init_settings, env_settings, toml)


def load_settings(**overrides: Any) -> Settings:
    """Load settings, turning a broken TOML file or a bad value into a clear `ConfigError`."""
    path = app_paths().config_file
    if path.exists():
        try:
            tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"The config file {path} is not valid TOML: {exc}", "fix or delete it") from exc
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors())
        raise ConfigError(f"Invalid settings ({path}): {problems}") from exc


def save_settings(settings: Settings, path: Path | None = None) -> Path:
    """Write the settings as TOML (what the settings dialog saves)."""
    import tomli_w

    target = path or app_paths().config_file
    target.parent.mkdir(parents=True, exist_ok=True)
    data = settings.model_dump(mode="json", exclude_none=True)
    tmp = target.with_suffix(".tmp")
    tmp.touch(mode=0o600)
    tmp.chmod(0o600)  # before the text goes in: it may hold API keys, so the user's eyes only
    tmp.write_text(tomli_w.dumps(data), encoding="utf-8")
    tmp.replace(target)
    return target
