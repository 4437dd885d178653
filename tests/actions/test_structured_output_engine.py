"""The strict arguments schema through the REAL tiny vLLM engine: a random model always acts validly.

The tiny Qwen3-VL checkpoint has random weights, so without constraints its words are noise;
under `structured_outputs` with `action_arguments_schema()` every answer must still parse into
an action the executor can run. This also proves vLLM accepts the schema (its xgrammar backend
refuses some JSON-schema features at request time).
"""

from __future__ import annotations

import base64

import httpx
import pytest
from PIL import Image, ImageDraw

from qwen3vl_agent.actions.parser import ParseOptions, parse_response
from qwen3vl_agent.imaging.prep import prepare_image
from qwen3vl_agent.resources_loader import action_arguments_schema, computer_use_system_prompt

pytestmark = [pytest.mark.engine, pytest.mark.slow]


def _screenshot_url() -> str:
    img = Image.new("RGB", (1280, 720), (240, 240, 240))
    d = ImageDraw.Draw(img)
    d.rectangle((100, 100, 500, 140), outline=(0, 0, 0), fill=(255, 255, 255))
    d.text((110, 110), "Name", fill=(0, 0, 0))
    prepared = prepare_image(img, 256)
    return f"data:{prepared.mime};base64,{base64.b64encode(prepared.data).decode()}"


def test_every_constrained_answer_is_a_valid_action(tiny_engine) -> None:  # type: ignore[no-untyped-def]
    schema = action_arguments_schema()
    messages = [
        {"role": "system", "content": computer_use_system_prompt()},
        {
            "role": "user",
            "content": [
                {"type": "image_url", "image_url": {"url": _screenshot_url()}},
                {"type": "text", "text": "Fill the Name field with 'Ada'."},
            ],
        },
    ]
    seen = set()
    with httpx.Client(timeout=300, headers={"Authorization": f"Bearer {tiny_engine.api_key}"}) as client:
        for seed in range(12):
            resp = client.post(
                f"{tiny_engine.base_url}/chat/completions",
                json={
                    "model": tiny_engine.served_model_name,
                    "messages": messages,
                    "max_tokens": 256,
                    "temperature": 1.0,
                    "seed": seed,
                    "structured_outputs": {"json": schema},
                },
            )
            assert resp.status_code == 200, resp.text[:1000]
            choice = resp.json()["choices"][0]
            assert choice["finish_reason"] == "stop", choice  # never cut off by max_tokens
            parsed = parse_response(choice["message"]["content"], ParseOptions(out_of_range="reject"))
            assert len(parsed.actions) == 1
            seen.add(parsed.actions[0].action)
    assert len(seen) >= 3  # random weights pick many different actions
