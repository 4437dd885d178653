"""Cache keys: exact pixel hashes, everything that changes an answer, and why phash is opt-in."""

from __future__ import annotations

from dataclasses import replace

from PIL import Image, ImageDraw

from qwen3vl_agent.imaging.prep import prepare_image
from qwen3vl_agent.inference.cache_key import cache_key, phash_distance, request_phashes, shape_key
from qwen3vl_agent.inference.request import (
    ImagePart,
    InferenceRequest,
    Message,
    PreparedImage,
    SamplingParams,
)


def form(amount: str) -> Image.Image:
    """An invoice form; only the amount differs between calls."""
    img = Image.new("RGB", (1280, 800), "white")
    draw = ImageDraw.Draw(img)
    draw.rectangle((0, 0, 1280, 60), fill=(30, 60, 120))
    for i, label in enumerate(["Name", "Street", "City", "IBAN", "Amount"]):
        y = 120 + 100 * i
        draw.text((80, y), label, fill="black")
        draw.rectangle((300, y - 10, 1100, y + 30), outline="grey")
    draw.text((320, 120), "Jane Doe", fill="black")
    draw.text((320, 220), "12 Long Road", fill="black")
    draw.text((320, 320), "Springfield", fill="black")
    draw.text((320, 420), "DE89 3704 0044 0532 0130 00", fill="black")
    draw.text((320, 520), amount, fill="black")
    return img


def request(image: PreparedImage, text: str = "Read the amount.") -> InferenceRequest:
    return InferenceRequest(
        messages=[Message.user(ImagePart(image), text)], sampling=SamplingParams.greedy(64)
    )


def test_form_with_one_changed_digit_same_phash_different_exact_key() -> None:
    a = prepare_image(form("1,234.56 EUR"), 1024, want_phash=True)
    b = prepare_image(form("1,284.56 EUR"), 1024, want_phash=True)
    assert a.phash == b.phash  # the perceptual hash cannot see the changed digit ...
    assert a.pixel_hash != b.pixel_hash  # ... the exact pixel hash can,
    assert cache_key(request(a), "m") != cache_key(request(b), "m")  # so the default key differs
    assert shape_key(request(a), "m") == shape_key(request(b), "m")
    assert phash_distance(request_phashes(request(a)) or [], request_phashes(request(b)) or []) == 0


def test_key_covers_model_messages_sampling_schema_tools_and_mm_kwargs() -> None:
    image = prepare_image(form("1"), 256)
    base = request(image)
    k = cache_key(base, "model-a")
    assert cache_key(request(image), "model-a") == k  # deterministic
    variants = [
        cache_key(base, "model-b"),
        cache_key(request(image, "Read the name."), "model-a"),
        cache_key(replace(base, sampling=SamplingParams.greedy(65)), "model-a"),
        cache_key(replace(base, sampling=replace(base.sampling, seed=7)), "model-a"),
        cache_key(replace(base, json_schema={"type": "object"}), "model-a"),
        cache_key(replace(base, tools=[{"type": "function"}]), "model-a"),
        cache_key(replace(base, mm_processor_kwargs={"max_pixels": 1000}), "model-a"),
        cache_key(replace(base, messages=[Message.system("be brief"), *base.messages]), "model-a"),
        cache_key(replace(base, model="override"), "model-a"),
    ]
    assert k not in variants and len(set(variants)) == len(variants)


def test_key_ignores_how_the_request_is_queued() -> None:
    image = prepare_image(form("1"), 256)
    a, b = request(image), request(image)
    b.deadline_s = 3.0
    b.stream = False
    assert a.request_id != b.request_id
    assert cache_key(a, "m") == cache_key(b, "m")


def test_phash_helpers() -> None:
    assert phash_distance(["ff00"], ["ff01"]) == 1
    assert phash_distance(["ff"], ["ff", "00"]) is None
    no_phash = prepare_image(form("1"), 256)
    assert request_phashes(request(no_phash)) is None
    assert request_phashes(InferenceRequest(messages=[Message.user("text only")])) is None
