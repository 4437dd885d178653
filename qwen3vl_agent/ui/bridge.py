"""The ONE bridge between the headless core and Qt: core callbacks in, Qt signals out.

The core (engine, service, agent runs, OCR jobs) reports through plain callbacks, some from
worker threads. Each sink here emits a Qt signal; Qt queues a signal emitted on another
thread to the receivers on the GUI thread, so widgets are only ever touched there.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from qwen3vl_agent.engine.status import EngineStatus, StatusListener
from qwen3vl_agent.ui import gpu


@dataclass(frozen=True)
class EngineView:
    """What the status bar shows about the engine."""

    state: str  # "starting" | "ready" | "failed" | "stopped" | "restarting" | "unavailable" | "endpoints"
    text: str  # one line: what is happening / why it failed
    hint: str = ""  # what the user can do
    elapsed_s: float = 0.0
    log_path: Path | None = None
    model: str = ""


NO_ENGINE_HINT = (
    "Chat and agent runs need a Qwen3-VL engine: install vLLM on a machine with an NVIDIA GPU "
    "(bash scripts/start.sh does it), or set Settings > Engine > Endpoints to a running server. "
    "OCR still works with the CPU engine."
)
SHORT_HINT = "install vLLM or set an endpoint in Settings; OCR runs on the CPU"


def as_dict(value: Any) -> dict[str, Any]:
    """Stats snapshots may be dataclasses, pydantic models, objects or dicts: flatten to a dict."""
    if value is None:
        return {}
    if isinstance(value, dict):
        return dict(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return dict(dump())
    return (
        {k: v for k, v in vars(value).items() if not k.startswith("_")} if hasattr(value, "__dict__") else {}
    )


def stats_summary(stats: Any) -> dict[str, Any]:
    """The numbers the status bar shows, from the service's `ServiceStats` (or any similar shape)."""
    queue = getattr(stats, "queue", None)
    cache = getattr(stats, "cache", None)
    if queue is None and cache is None:
        return as_dict(stats)
    out: dict[str, Any] = {}
    if queue is not None:
        out["queue_depth"] = getattr(queue, "waiting", None)
        out["in_flight"] = getattr(queue, "in_flight", None)
        out["wait_p50_s"] = getattr(queue, "wait_p50_s", None)
        out["service_p50_s"] = getattr(queue, "service_p50_s", None)
    if cache is not None:
        hits, misses = getattr(cache, "hits", 0), getattr(cache, "misses", 0)
        out["cache_hits"], out["cache_misses"] = hits, misses
        out["cache_hit_rate"] = getattr(cache, "hit_rate", None) if hits + misses else None
    return out


class CoreBridge(QObject):
    engine_changed = Signal(object)  # EngineView
    stats_changed = Signal(object)  # dict: queue_depth, in_flight, cache_hit_rate, ...
    gpu_changed = Signal(object)  # gpu.GpuMemory | None
    chat_delta = Signal(int, str)  # chat stream token, text delta
    agent_event = Signal(object)  # an agents.loop event
    ocr_event = Signal(object)  # an agents.ocr_job event
    notice = Signal(str, str)  # level ("info" | "warning" | "error"), text

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._stats_source: Callable[[], Any] | None = None
        self._stats_timer = QTimer(self)
        self._stats_timer.setInterval(1000)
        self._stats_timer.timeout.connect(self._poll_stats)
        self._gpu_timer = QTimer(self)
        self._gpu_timer.setInterval(5000)
        self._gpu_timer.timeout.connect(self._poll_gpu)
        self._gpu_probe: gpu.GpuProbe | None = None
        self._model = ""
        self._log_path: Path | None = None

    # ---- engine -------------------------------------------------------------------------
    def set_engine_context(self, model: str, log_path: Path | None) -> None:
        self._model = model
        self._log_path = log_path

    def engine_listener(self) -> StatusListener:
        """A `StatusListener` for the managed engine (called from any thread)."""

        def listener(status: EngineStatus) -> None:
            state = status.state.value
            if state == "failed":
                text = status.error or "the engine failed"
                hint = NO_ENGINE_HINT
            elif state in ("starting", "restarting"):
                line = status.last_log_line
                text = f"starting the engine ({status.elapsed_s:.0f} s)" + (f": {line[:100]}" if line else "")
                hint = ""
            else:
                text = f"engine {state}"
                hint = ""
            summary = status.replicas_summary()
            if summary:
                text += f" · {summary}"  # each replica's state (engine.replicas)
            self.engine_changed.emit(
                EngineView(
                    state=state,
                    text=text,
                    hint=hint,
                    elapsed_s=status.elapsed_s,
                    log_path=self._log_path,
                    model=self._model,
                )
            )

        return listener

    def report_engine(self, state: str, text: str, hint: str = "") -> None:
        self.engine_changed.emit(EngineView(state, text, hint, 0.0, self._log_path, self._model))

    # ---- service stats and GPU memory ------------------------------------------------------
    def watch_stats(self, source: Callable[[], Any] | None) -> None:
        """Poll `source()` (the inference service's `stats`) once a second while set."""
        self._stats_source = source
        if source is None:
            self._stats_timer.stop()
        else:
            self._stats_timer.start()
            self._poll_stats()

    def _poll_stats(self) -> None:
        if self._stats_source is None:
            return
        try:
            self.stats_changed.emit(stats_summary(self._stats_source()))
        except Exception:  # a stats failure must not take the UI down
            self._stats_timer.stop()

    def watch_gpu(self) -> None:
        if self._gpu_probe is None:
            self._gpu_probe = gpu.GpuProbe()
        self._gpu_timer.start()
        self._poll_gpu()

    def _poll_gpu(self) -> None:
        probe = self._gpu_probe
        if probe is None:
            return
        reading = probe.read()
        self.gpu_changed.emit(reading)
        if reading is None and not probe.available:
            self._gpu_timer.stop()

    def stop(self) -> None:
        self._stats_timer.stop()
        self._gpu_timer.stop()
        if self._gpu_probe is not None:
            self._gpu_probe.close()

    # ---- streams from jobs ------------------------------------------------------------------
    def chat_sink(self, token: int) -> Callable[[str], None]:
        """An `on_delta` callback for one chat answer."""
        return lambda delta: self.chat_delta.emit(token, delta)

    def agent_sink(self) -> Callable[[Any], None]:
        return self.agent_event.emit

    def ocr_sink(self) -> Callable[[Any], None]:
        return self.ocr_event.emit
