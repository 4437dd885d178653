"""The agent step's time outside the model: capture -> request sent, response -> action ready.

Before the model: screen capture (mss through `screen.capture` when a display is there, else a
rendered 1920x1080 screenshot in memory, said so in the report), resize + encode to the agent
budget, building the request, and the queue's wait before the engine call starts.
After the model: parsing the answer into typed actions and mapping model coordinates to device
points. A random-weight model does not write tool calls, so the parse stage parses a typical
Qwen3-VL answer (the engine's own answer is still awaited, so the numbers are from a real step).
"""

from __future__ import annotations

import asyncio
import importlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PIL import Image

from qwen3vl_agent.bench.plan import RequestPlan
from qwen3vl_agent.bench.runner import Submitter
from qwen3vl_agent.bench.stats import distribution_ms
from qwen3vl_agent.bench.workloads import RequestFactory

TYPICAL_ANSWER = (
    "Thought: The form is open and the First name field is empty; I will click it first.\n"
    "Action: Click the First name input box.\n"
    '<tool_call>\n{"name": "computer_use", "arguments": {"action": "left_click", "coordinate": [287, 301]}}\n'
    "</tool_call>"
)


@dataclass
class StepTimes:
    capture_s: float
    prep_s: float
    build_s: float
    queue_wait_s: float
    model_s: float
    parse_s: float
    map_s: float

    @property
    def before_s(self) -> float:
        return self.capture_s + self.prep_s + self.build_s + self.queue_wait_s

    @property
    def after_s(self) -> float:
        return self.parse_s + self.map_s


def _grabber() -> tuple[Callable[[], tuple[Image.Image, Any]] | None, str]:
    """A real screen grab (mss) if a display is available, else None."""
    from qwen3vl_agent.screen.session import current_session

    session = current_session()
    if not session.has_x11:
        return None, "rendered screenshot in memory (no display on this machine)"
    if session.is_wayland:
        return None, f"rendered screenshot in memory ({session.describe()}: X11 capture would be blind)"
    try:
        cap = importlib.import_module("qwen3vl_agent.screen.capture")
    except ImportError:
        return None, "rendered screenshot in memory (screen.capture not available)"
    grab = getattr(cap, "capture_monitor", None) or getattr(cap, "grab_monitor", None)
    if grab is None:
        return None, "rendered screenshot in memory (no capture function found)"

    def do() -> tuple[Image.Image, Any]:
        shot = grab(1)
        image = getattr(shot, "image", None) or getattr(shot, "pixels", None) or shot
        return image, getattr(shot, "geometry", None)

    return do, "mss screen capture"


async def measure_agent_overhead(
    submitter: Submitter, factory: RequestFactory, plan: RequestPlan, steps: int
) -> dict[str, Any]:
    """Run `steps` agent steps one at a time and time every stage outside the model."""
    from qwen3vl_agent.actions.parser import parse_response
    from qwen3vl_agent.screen.coordinates import resolve_action
    from qwen3vl_agent.screen.geometry import CaptureGeometry, Rect

    grab, source = _grabber()
    times: list[StepTimes] = []
    for _ in range(steps):
        spec = plan.next()
        t0 = time.perf_counter()
        geometry = None
        if grab is not None:
            try:
                image, geometry = await asyncio.to_thread(grab)
            except Exception:
                grab, source = None, "rendered screenshot in memory (capture failed)"
        if grab is None:
            image = factory.raw_image(spec)
        t1 = time.perf_counter()
        prepared = await asyncio.to_thread(factory.prepare, image)
        t2 = time.perf_counter()
        built = factory.wrap(spec, prepared, t2 - t1)
        t3 = time.perf_counter()
        result = await submitter.submit(built.request)
        t4 = time.perf_counter()
        parsed = parse_response(TYPICAL_ANSWER)
        t5 = time.perf_counter()
        geo = (
            geometry
            if isinstance(geometry, CaptureGeometry)
            else CaptureGeometry(Rect(0, 0, image.width, image.height))
        )
        for action in parsed.actions:
            resolve_action(action, geo)
        t6 = time.perf_counter()
        wait = result.timings.queue_wait_s
        times.append(StepTimes(t1 - t0, t2 - t1, t3 - t2, wait, t4 - t3 - wait, t5 - t4, t6 - t5))
    return {
        "steps": len(times),
        "capture_source": source,
        "parse_input": "a typical Qwen3-VL tool-call answer (the dummy model writes random tokens)",
        "before_model_ms": distribution_ms([t.before_s for t in times]),
        "after_model_ms": distribution_ms([t.after_s for t in times]),
        "capture_ms": distribution_ms([t.capture_s for t in times]),
        "prep_ms": distribution_ms([t.prep_s for t in times]),
        "build_ms": distribution_ms([t.build_s for t in times]),
        "queue_wait_ms": distribution_ms([t.queue_wait_s for t in times]),
        "model_ms": distribution_ms([t.model_s for t in times]),
        "parse_ms": distribution_ms([t.parse_s for t in times]),
        "map_ms": distribution_ms([t.map_s for t in times]),
    }
