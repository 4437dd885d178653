"""The agent loop against the REAL tiny vLLM engine (CPU build, random weights) on Xvfb.

Structured output forces the `computer_use` tool-call schema, so a random model still answers
with valid actions. Safe setting: dry-run, so its random clicks and keys move nothing. The run
must end by a rule (step limit, no progress, or the model's own terminate/answer), nothing may
crash, and every step must be on record: the screenshot file that was sent, the raw text, the
parsed action, the mapped point for pointer actions, timings and token counts.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from qwen3vl_agent.actions.model import POINTER_ACTIONS
from qwen3vl_agent.agents import events as ev
from qwen3vl_agent.agents.wiring import open_store
from qwen3vl_agent.config import Settings
from tests.support.agent_runs import agent_session
from tests.support.engine_fixtures import TinyEngine
from tests.support.xvfb import XvfbDisplay

pytestmark = [pytest.mark.engine, pytest.mark.xvfb, pytest.mark.slow]


async def test_random_valid_actions_until_a_rule_ends_the_run(
    tiny_engine: TinyEngine, xvfb: XvfbDisplay
) -> None:
    settings = Settings(
        engine={
            "mode": "endpoints",
            "endpoints": [tiny_engine.endpoint_settings().model_dump()],
            "max_retries": 0,
        },
        safety={"mode": "dry-run", "step_limit": 4, "no_progress_repeats": 2},
        agent={"structured_output": True, "history_images": 2, "max_tokens": 96},
        images={"agent_budget_tokens": 192},
        cache={"enabled": False},
    )
    events: list[object] = []
    store = open_store()
    async with agent_session(settings, 2, store) as session:
        result = await session.run("Fill in the form on the screen", on_event=events.append)
    ended_by_rule = {
        ("failed", "step-limit"),
        ("needs-attention", "no-progress"),
        ("finished", "success"),
        ("failed", "failure"),
        ("finished", "answer"),
        # a random model may pick a combo the hard policy denies (super+l, ctrl+alt+delete, ...):
        # refusing it is the product working, and three in a row end an unattended run this way
        ("needs-attention", "refused"),
    }
    assert (result.status, result.outcome) in ended_by_rule, result
    assert [type(e) for e in events if isinstance(e, ev.RunFinished)] == [ev.RunFinished]
    steps = store.steps(result.run_id)
    assert steps and len({s.step_index for s in steps}) == result.steps
    for s in steps:
        assert s.outcome in ("dry-run", "final", "no-progress", "refused"), (s.outcome, s.error, s.raw_text)
        assert s.raw_text and s.action and s.action["action"]
        if s.outcome == "refused":  # only the policy's own reasons, never a crash or a parse failure
            assert s.action["action"] in ("key", "type") and s.error, (s.action, s.error)
        assert s.screenshot_path and Path(s.screenshot_path).exists()
        with Image.open(s.screenshot_path) as img:
            assert img.size == (s.image_width, s.image_height)
        assert s.prompt_tokens and s.prompt_tokens > 0 and s.completion_tokens
        assert s.capture_s is not None and s.inference_s is not None
        if s.action["action"] in POINTER_ACTIONS and s.outcome == "dry-run":
            assert s.point is not None
            x, y = s.point
            m = xvfb.monitors[1]
            assert m.left <= x < m.left + m.width and m.top <= y < m.top + m.height
    store.close()
