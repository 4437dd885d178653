"""The loop's pure parts: bounded prompt, thread-safe control, report HTML, replay substitution."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from PIL import Image

from qwen3vl_agent.actions.model import Action, ActionType
from qwen3vl_agent.agents.control import RunControl, stopped_message
from qwen3vl_agent.agents.prompt import (
    HistoryEntry,
    build_messages,
    summarize,
    system_prompt,
    tool_call_schema,
)
from qwen3vl_agent.agents.replay import substitute
from qwen3vl_agent.agents.report import render_report
from qwen3vl_agent.imaging.prep import prepare_image
from qwen3vl_agent.inference.request import ImagePart, TextPart
from qwen3vl_agent.storage.trajectories import StepRecord, TrajectoryStore


def image(seed: int):  # type: ignore[no-untyped-def]
    return prepare_image(Image.new("RGB", (640, 400), (seed % 255, 20, 30)), 256)


def test_prompt_keeps_only_the_last_screenshots_and_bounded_text() -> None:
    history = [
        HistoryEntry(i, image(i), f"answer {i}", summarize(i, f"thought {i}", f"click {i}"))
        for i in range(1, 41)
    ]
    history[-1].feedback = "The user declined click 40."
    messages = build_messages("Fill it", history, image(99), max_images=3, max_text_steps=10)
    images = [
        p for m in messages if not isinstance(m.content, str) for p in m.content if isinstance(p, ImagePart)
    ]
    assert len(images) == 3 and images[-1].image == image(99)
    texts = "\n".join(
        p.text
        for m in messages
        if not isinstance(m.content, str)
        for p in m.content
        if isinstance(p, TextPart)
    )
    assert "Task: Fill it" in texts and "(28 earlier steps not listed)" in texts
    assert "Step 38:" in texts and "Step 29:" in texts and "Step 28:" not in texts
    assert "Feedback: The user declined click 40." in texts  # feedback reaches the next prompt
    assert [m.role for m in messages] == ["system", "user", "assistant", "user", "assistant", "user"]
    assert "computer_use" in messages[0].content and "1000x1000" in messages[0].content
    short = build_messages("Fill it", history[:12], image(1), max_images=3, max_text_steps=10)
    long = build_messages("Fill it", history, image(1), max_images=3, max_text_steps=10)

    def size(ms):  # type: ignore[no-untyped-def]
        return sum(
            len(p.text)
            for m in ms
            if not isinstance(m.content, str)
            for p in m.content
            if isinstance(p, TextPart)
        )

    assert size(long) < size(short) + 200  # bounded: 40 steps cost about what 12 do


def test_system_prompt_and_schema_follow_the_grid() -> None:
    assert "999x999" in system_prompt(999)
    schema = tool_call_schema(999)
    assert schema["properties"]["name"]["const"] == "computer_use"
    branches = schema["properties"]["arguments"]["anyOf"]
    coords = [b["properties"]["coordinate"] for b in branches if "coordinate" in b["properties"]]
    assert coords and all(c["prefixItems"][0]["maximum"] == 999 for c in coords)


async def test_control_wakes_the_loop_from_other_threads() -> None:
    control = RunControl()
    control.bind(asyncio.get_running_loop())
    waiter = asyncio.create_task(control.wait_stopped())
    threading.Thread(target=control.pause, args=("user", "coffee")).start()
    await asyncio.sleep(0.05)
    assert control.paused and control.pause_reason == "user" and not waiter.done()
    threading.Thread(target=control.resume).start()
    await asyncio.sleep(0.05)
    assert not control.paused and not waiter.done()
    threading.Thread(target=control.stop).start()
    await asyncio.wait_for(waiter, 5)
    assert control.stopped
    control.pause()  # a stopped run cannot be paused again
    assert not control.paused


def test_replay_substitutes_typed_values_of_the_row() -> None:
    old, new = {"name": "Ada", "city": "London"}, {"name": "Grace", "city": "Arlington"}
    typed = Action(ActionType.TYPE, text="London")
    assert substitute(typed, old, new).text == "Arlington"
    assert (
        substitute(Action(ActionType.TYPE, text="Ada from London\n"), old, new).text
        == "Grace from Arlington\n"
    )
    click = Action(ActionType.LEFT_CLICK, coordinate=(1.0, 2.0))
    assert substitute(click, old, new) == click
    assert substitute(Action(ActionType.TYPE, text="hello"), old, new).text == "hello"


def test_report_is_self_contained_with_click_markers(tmp_path: Path) -> None:
    store = TrajectoryStore(tmp_path / "db.sqlite3", tmp_path / "img")
    run_id = store.create_run("Fill <b>form</b>", "auto", settings={"grid": 1000})
    img = image(3)
    path = store.save_screenshot(run_id, 1, img.data, img.mime)
    store.add_step(
        StepRecord(
            run_id,
            1,
            screenshot_path=str(path),
            image_width=img.width,
            image_height=img.height,
            raw_text="<script>alert(1)</script>",
            thought="Click Submit",
            action={"action": "left_click", "coordinate": [250, 750]},
            point=(2240, 944),
            outcome="executed",
            capture_s=0.002,
            inference_s=0.5,
        )
    )
    store.set_run_status(run_id, "finished", outcome="success", finished=True)
    run = store.get_run(run_id)
    assert run is not None
    html = render_report(run, store.steps(run_id))
    assert "data:image/png;base64," in html and 'cx="250"' in html and 'cy="750"' in html
    assert "<script>" not in html and "&lt;script&gt;" in html and "&lt;b&gt;form" in html
    assert "(2240, 944)" in html and "src='http" not in html
    store.close()


def test_prompt_prefix_is_byte_identical_across_a_block_of_steps() -> None:
    """vLLM's prefix cache reuses a step's KV only if the earlier prompt is a byte-exact prefix."""
    import itertools
    import json

    from qwen3vl_agent.engine.client import message_json

    def run(slide_block: int | None) -> list[list[str]]:
        history: list[HistoryEntry] = []
        prompts = []
        for step in range(1, 10):
            shot = image(step)
            messages = build_messages("Fill it", history, shot, max_images=3, slide_block=slide_block)
            prompts.append([json.dumps(message_json(m), sort_keys=True) for m in messages])
            history.append(HistoryEntry(step, shot, f"answer {step}", summarize(step, None, f"click {step}")))
        return prompts

    def kept_prefix(prompts: list[list[str]]) -> list[bool]:
        return [b[: len(a)] == a for a, b in itertools.pairwise(prompts)]

    blocks = run(None)  # default: the window jumps by the history's capacity (2)
    head = {(p[0], json.loads(p[1])["content"][0]["text"]) for p in blocks}
    assert len(head) == 1 and "Task: Fill it" in next(iter(head))[1]  # system + tool + task: one form
    assert kept_prefix(blocks) == [True, True, False, True, False, True, False, True]
    assert all(sum('"image_url"' in m for m in p) <= 3 for p in blocks)
    slide = run(1)  # the old window, one step at a time: no prefix survives once it is full
    assert kept_prefix(slide) == [True, True, False, False, False, False, False, False]
    assert [sum('"image_url"' in m for m in p) for p in slide][-1] == 3


def test_a_sigterm_stop_is_not_reported_as_the_users_and_the_first_reason_wins() -> None:
    control = RunControl()
    assert stopped_message(control.stop_reason) == "stopped by the user"  # Stop button, Ctrl+C
    control.stop("SIGTERM")
    control.stop("user")  # a later Ctrl+C does not rewrite why the run ended
    assert control.stopped and control.stop_reason == "SIGTERM"
    assert stopped_message(control.stop_reason) == "stopped (SIGTERM)"
    assert stopped_message("hotkey") == stopped_message("fail-safe") == "stopped by the user"
