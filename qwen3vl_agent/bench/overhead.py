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
import time
from dataclasses import dataclass
from typing import Any

from qwen3vl_agent.bench.plan import RequestPlan
from qwen3vl_agent.bench.runner import Submitter
from qwen3vl_agent.bench.stats import distribution_ms
from qwen3vl_agent.bench.workloads import RequestFactory
from qwen3vl_agent.errors import CaptureError
from qwen3vl_agent.screen.capture import CaptureTarget, ScreenCapturer
from qwen3vl_agent.screen.geometry import CaptureGeometry, Rect

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


def _capturer() -> tuple[ScreenCapturer | None, str]:
    """The app's own capturer (mss) if an X display is usable here, else None and why not."""
    from qwen3vl_agent.screen.session import current_session

    session = current_session()
    if not session.has_x11:
        return None, "rendered screenshot in memory (no display on this machine)"
    if session.is_wayland:
        return None, f"rendered screenshot in memory ({session.describe()}: X11 capture would be blind)"
    return ScreenCapturer(), "mss screen capture (monitor 1)"


async def measure_agent_overhead(
    submitter: Submitter, factory: RequestFactory, plan: RequestPlan, steps: int
) -> dict[str, Any]:
    """Run `steps` agent steps one at a time and time every stage outside the model."""
    from qwen3vl_agent.actions.parser import parse_response
    from qwen3vl_agent.screen.coordinates import resolve_action

    capturer, source = _capturer()
    times: list[StepTimes] = []
    try:
        for _ in range(steps):
            spec = plan.next()
            t0 = time.perf_counter()
            shot = None
            if capturer is not None:
                try:
                    shot = await asyncio.to_thread(capturer.capture, CaptureTarget.monitor(1))
                except CaptureError as exc:
                    capturer.close()
                    capturer, source = None, f"rendered screenshot in memory (capture failed: {exc})"
            image = shot.image if shot is not None else factory.raw_image(spec)
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
                shot.geometry if shot is not None else CaptureGeometry(Rect(0, 0, image.width, image.height))
            )
            for action in parsed.actions:
                resolve_action(action, geo)
            t6 = time.perf_counter()
            wait = result.timings.queue_wait_s
            times.append(StepTimes(t1 - t0, t2 - t1, t3 - t2, wait, t4 - t3 - wait, t5 - t4, t6 - t5))
    finally:
        if capturer is not None:
            capturer.close()
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
