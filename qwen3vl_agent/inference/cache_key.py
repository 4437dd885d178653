"""Cache keys: what makes two requests "the same request".

The exact key hashes the model, every message (images by the exact hash of their decoded
pixels, never by file name or encoded bytes), the sampling parameters, the JSON schema,
tools and mm_processor_kwargs. The "shape" key is the same with the images left out: requests
that differ only in their images share it, which is where the opt-in near-duplicate
(perceptual hash) lookup searches.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from typing import Any

from qwen3vl_agent.inference.request import ImagePart, InferenceRequest, Message, TextPart

KEY_VERSION = 1


def _content(message: Message, with_images: bool) -> Any:
    if isinstance(message.content, str):
        return message.content
    parts: list[Any] = []
    for part in message.content:
        if isinstance(part, TextPart):
            parts.append({"t": part.text})
        elif isinstance(part, ImagePart):
            parts.append({"i": part.image.pixel_hash if with_images else "*"})
    return parts


def _canonical(request: InferenceRequest, model: str, with_images: bool) -> bytes:
    payload = {
        "v": KEY_VERSION,
        "model": request.model or model,
        "messages": [[m.role, _content(m, with_images)] for m in request.messages],
        "sampling": asdict(request.sampling),
        "schema": request.json_schema,
        "tools": request.tools,
        "mm": request.mm_processor_kwargs,
    }
    return json.dumps(
        payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    ).encode()


def cache_key(request: InferenceRequest, model: str) -> str:
    """The exact key (hex sha256): equal only for requests whose answer must be equal."""
    return hashlib.sha256(_canonical(request, model, with_images=True)).hexdigest()


def shape_key(request: InferenceRequest, model: str) -> str:
    """The key without the images: the group a near-duplicate lookup searches in."""
    return hashlib.sha256(_canonical(request, model, with_images=False)).hexdigest()


def request_phashes(request: InferenceRequest) -> list[str] | None:
    """The perceptual hashes of the request's images in order, or None if any is missing."""
    hashes = [img.phash for img in request.images()]
    if not hashes or any(h is None for h in hashes):
        return None
    return [h for h in hashes if h is not None]


def phash_distance(a: list[str], b: list[str]) -> int | None:
    """Largest Hamming distance between paired perceptual hashes (None if counts differ)."""
    if len(a) != len(b):
        return None
    worst = 0
    for x, y in zip(a, b, strict=True):
        worst = max(worst, bin(int(x, 16) ^ int(y, 16)).count("1"))
    return worst
