"""Agent-step overhead outside the model, and the prompt size per step as the history grows.

    .venv/bin/python benchmarks/agent_step.py [--steps 60] [--modes dry-run,auto]

Runs its own Xvfb (two monitors), the real Qt test form on monitor 2 and the scripted policy
server (tests/support/policy_server.py: answers at once, so model time is ~0). The agent loop is
the product's own (capture -> prepare -> prompt -> InferenceService -> HTTP -> parse -> map ->
executor -> trajectory store). The policy cycles through filling the form without ever
finishing, so the run ends by its step limit. Reported, from the loop's own step timings:

  * capture -> request ready: screen grab + masks, resize/encode to the agent budget, exact
    screen hash, prompt building;
  * response -> action executed: parse, map, executor (in auto: real pyautogui events with the
    configured pause; in dry-run: planning only);
  * prompt tokens per step: images (exact Qwen3-VL visual tokens of the images sent) plus text
    (characters / 4, an estimate: the scripted server has no tokenizer), as the history grows.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from qwen3vl_agent.agents import events as ev
from qwen3vl_agent.agents.wiring import open_store
from qwen3vl_agent.config import Settings
from qwen3vl_agent.percentile import percentile_or_nan
from tests.support.agent_runs import agent_session, press_stop_hotkey
from tests.support.form_app_fixture import FormApp
from tests.support.policy_server import PolicyContext, PolicyServer, form_planner, tool_call
from tests.support.xvfb import start_xvfb, stop_xvfb


def cycling_planner(form: FormApp) -> Any:
    """The form plan without Submit/terminate, repeated forever (the step limit ends the run)."""
    m = form.monitor
    plan = form_planner(form.widget_rect, (m.left, m.top, m.width, m.height), submit=False)
    values = {"name": "Ada Lovelace", "city": "Zürich", "subscribe": "yes"}
    probe = PolicyContext({}, "", values, 0, [], 0, None)
    n = 0
    while True:  # how many steps before the plan's terminate
        text = plan(PolicyContext(**{**probe.__dict__, "step": n}))
        if '"terminate"' in text:
            break
        n += 1

    def planner(ctx: PolicyContext) -> str:
        step = ctx.step % n
        return plan(PolicyContext(**{**ctx.__dict__, "values": values, "step": step}))

    return planner


async def run_mode(server: PolicyServer, form: FormApp, mode: str, steps: int) -> dict[str, Any]:
    overrides = server.settings_overrides()
    settings = Settings(
        **overrides,
        safety={"mode": mode, "step_limit": steps, "no_progress_repeats": 1000, "wall_clock_limit_s": 3600},
        cache={"enabled": False},
    )
    store = open_store()
    events: list[Any] = []
    first = len(server.contexts)
    try:
        async with agent_session(settings, form.monitor.index, store) as session:
            result = await session.run("Fill in the registration form", on_event=events.append)
    finally:
        store.close()
    executed = [e for e in events if isinstance(e, ev.ActionExecuted)]
    pre = [e.timings["observe_s"] * 1000 for e in executed]
    post = [e.timings["act_s"] * 1000 for e in executed]
    execution = [e.timings["execution_s"] * 1000 for e in executed]
    capture = [e.timings["capture_s"] * 1000 for e in executed]
    prepare = [e.timings["prepare_s"] * 1000 for e in executed]
    model = [e.timings["model_s"] * 1000 for e in executed]
    contexts = server.contexts[first:]
    tokens = [
        (i + 1, c.prompt_tokens, len(c.image_sizes), sum((w // 32) * (h // 32) for w, h in c.image_sizes))
        for i, c in enumerate(contexts)
    ]
    return {
        "mode": mode,
        "result": result,
        "pre": pre,
        "post": post,
        "execution": execution,
        "capture": capture,
        "prepare": prepare,
        "model": model,
        "tokens": tokens,
    }


async def stop_latency(server: PolicyServer, form: FormApp, while_thinking: bool) -> float:
    """Seconds from the stop hotkey (sent to the X server) to the run's RunFinished event."""
    if while_thinking:
        server.planner, server.delay_s = (
            (lambda ctx: tool_call({"action": "terminate", "status": "success"})),
            20.0,
        )
        trigger, mode = ev.StepStarted, "dry-run"
    else:
        server.planner, server.delay_s = (lambda ctx: tool_call({"action": "wait", "time": 30})), 0.0
        trigger, mode = ev.ActionProposed, "auto"
    settings = Settings(**server.settings_overrides(), safety={"mode": mode}, cache={"enabled": False})
    store = open_store()
    pressed: list[float] = []
    finished: list[float] = []

    def on_event(event: Any) -> None:
        if isinstance(event, trigger) and not pressed:

            def fire() -> None:
                pressed.append(time.perf_counter())
                press_stop_hotkey(form.display.name)

            asyncio.get_running_loop().call_later(0.4, fire)
        elif isinstance(event, ev.RunFinished):
            finished.append(time.perf_counter())

    try:
        async with agent_session(settings, form.monitor.index, store) as session:
            result = await session.run("stop me", on_event=on_event)
            assert result.status == "stopped", result
    finally:
        server.delay_s = 0.0
        store.close()
    return finished[0] - pressed[0]


def describe(values: list[float]) -> str:
    return f"median {statistics.median(values):6.1f} ms, p99 {percentile_or_nan(values, 99):6.1f} ms"


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--modes", default="dry-run,auto")
    parser.add_argument("--stops", type=int, default=10, help="stop-hotkey measurements per case")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="agent-bench-"))
    os.environ["QWEN3VL_AGENT_HOME"] = str(work / "home")
    proc, display = start_xvfb(workdir=work)
    os.environ["DISPLAY"], os.environ["XAUTHORITY"] = display.name, str(display.xauthority)
    form = FormApp(display, display.monitors[1], work)
    server = PolicyServer().start()
    try:
        server.planner = cycling_planner(form)
        for mode in args.modes.split(","):
            form.reset()
            form.send("focus", widget="name")
            r = await run_mode(server, form, mode, args.steps)
            res = r["result"]
            print(f"\n## mode {mode}: {len(r['pre'])} executed steps, run {res.status}/{res.outcome}")
            print(f"capture -> request ready:   {describe(r['pre'])}")
            print(f"   of which capture:        {describe(r['capture'])}")
            print(f"   of which prepare+hash:   {describe(r['prepare'])}")
            print(f"response -> action executed: {describe(r['post'])}")
            print(f"   of which executor:       {describe(r['execution'])}")
            print(f"request -> response (scripted model, HTTP + queue): {describe(r['model'])}")
            print("prompt tokens per step (step: total ≈ image tokens + text/4; images in prompt):")
            marks = {1, 2, 3, 4, 5, 10, 20, 30, 40, 50, 60, args.steps}
            for step, total, n_images, image_tokens in r["tokens"]:
                if step in marks:
                    print(
                        f"  step {step:3d}: {total:5d} ≈ {image_tokens:5d} + {total - image_tokens:5d}; {n_images} image(s)"
                    )
        for thinking in (False, True):
            latencies = [await stop_latency(server, form, thinking) * 1000 for _ in range(args.stops)]
            what = "while the model thinks" if thinking else "during a 30 s wait action"
            print(f"stop hotkey -> RunFinished, {what}: {describe(latencies)} (max {max(latencies):.1f} ms)")
    finally:
        server.stop()
        form.close()
        stop_xvfb(proc)


def _exit_on_sigterm(*_: object) -> None:
    raise SystemExit(143)  # run the `finally` blocks: Xvfb, the form and the server are stopped


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    asyncio.run(main())
