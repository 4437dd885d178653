"""The shared tiny engine answers a real chat completion with an image."""

from __future__ import annotations

import base64
import io

import httpx
import pytest
from PIL import Image

pytestmark = [pytest.mark.engine]


def _png_data_url() -> str:
    buf = io.BytesIO()
    Image.new("RGB", (320, 240), (20, 120, 200)).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def test_tiny_engine_serves_an_image_request(tiny_engine) -> None:
    before = tiny_engine.metric("vllm:request_success_total")
    resp = httpx.post(
        f"{tiny_engine.base_url}/chat/completions",
        headers={"Authorization": f"Bearer {tiny_engine.api_key}"},
        json={
            "model": tiny_engine.served_model_name,
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "image_url", "image_url": {"url": _png_data_url()}},
                        {"type": "text", "text": "What is this?"},
                    ],
                }
            ],
            "max_tokens": 8,
            "temperature": 0,
        },
        timeout=120,
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["usage"]["prompt_tokens"] > 60  # 320x240 -> 10x7 = 70 visual tokens plus text
    assert tiny_engine.metric("vllm:request_success_total") == before + 1


def test_tiny_engine_requires_the_api_key(tiny_engine) -> None:
    resp = httpx.get(f"{tiny_engine.base_url}/models", timeout=30)
    assert resp.status_code == 401
