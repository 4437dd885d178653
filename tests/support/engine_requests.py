"""Small builders of real requests for engine tests: PNG images as `PreparedImage`s, a client."""

from __future__ import annotations

import hashlib
import io
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from PIL import Image, ImageDraw

from qwen3vl_agent.config import EndpointSettings, EngineSettings
from qwen3vl_agent.engine.client import OpenAIEngineClient
from qwen3vl_agent.engine.endpoints import EndpointPool
from qwen3vl_agent.inference.request import (
    ImagePart,
    InferenceRequest,
    Message,
    PreparedImage,
    SamplingParams,
    TaskKind,
)


def png_image(width: int = 320, height: int = 224, seed: int = 0) -> PreparedImage:
    """A small synthetic screenshot-like PNG (a button whose place depends on `seed`)."""
    img = Image.new("RGB", (width, height), (240, 240, 240))
    draw = ImageDraw.Draw(img)
    x = 20 + (seed * 37) % max(1, width - 120)
    draw.rectangle([x, 40, x + 100, 80], fill=(0, 120, 215))
    draw.text((x + 30, 52), f"OK{seed}", fill=(255, 255, 255))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return PreparedImage(
        data=buf.getvalue(),
        mime="image/png",
        width=width,
        height=height,
        source_width=width,
        source_height=height,
        pixel_hash=hashlib.sha256(img.tobytes()).hexdigest(),
    )


def image_request(
    text: str = "Where is the OK button?",
    *,
    images: int = 1,
    seed: int = 0,
    max_tokens: int = 16,
    ignore_eos: bool = False,
    **kwargs: Any,
) -> InferenceRequest:
    parts = [ImagePart(png_image(seed=seed + i)) for i in range(images)]
    sampling = SamplingParams(
        temperature=0.0,
        top_p=1.0,
        top_k=-1,
        presence_penalty=0.0,
        max_tokens=max_tokens,
        ignore_eos=ignore_eos,
    )
    return InferenceRequest(
        messages=[Message.user(*parts, text)], kind=TaskKind.CHAT, sampling=sampling, **kwargs
    )


@asynccontextmanager
async def engine_client(
    endpoints: list[EndpointSettings], **settings: Any
) -> AsyncIterator[OpenAIEngineClient]:
    """A started pool + client over `endpoints`, closed afterwards."""
    engine_settings = EngineSettings(mode="endpoints", **settings)
    pool = EndpointPool(endpoints, engine_settings)
    await pool.start()
    client = OpenAIEngineClient(pool, engine_settings)
    try:
        yield client
    finally:
        await client.aclose()
        await pool.close()
