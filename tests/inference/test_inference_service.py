"""InferenceService: cache lookup -> queue -> engine -> cache store (scripted engine; see the
tiny-engine tests for the same path against real vLLM)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from qwen3vl_agent.config import CacheSettings, QueueSettings
from qwen3vl_agent.errors import EngineError
from qwen3vl_agent.imaging.prep import prepare_image
from qwen3vl_agent.inference.request import (
    CachePolicy,
    ImagePart,
    InferenceRequest,
    Message,
    PreparedImage,
    SamplingParams,
)
from qwen3vl_agent.inference.service import InferenceService
from tests.support.fake_engine import FakeEngineClient


def make_service(client: FakeEngineClient, tmp_path: Path, **cache: object) -> InferenceService:
    return InferenceService(
        client,
        QueueSettings(max_in_flight=4),
        CacheSettings(**cache),  # type: ignore[arg-type]
        "tiny",
        cache_path=tmp_path / "results.sqlite3",
    )


def greedy(text: str, image: PreparedImage | None = None, **kw: object) -> InferenceRequest:
    parts: list[object] = [ImagePart(image)] if image else []
    return InferenceRequest(
        messages=[Message.user(*parts, text)],  # type: ignore[arg-type]
        sampling=SamplingParams.greedy(32),
        **kw,  # type: ignore[arg-type]
    )


def form(amount: str) -> PreparedImage:
    img = Image.new("RGB", (1280, 800), "white")
    draw = ImageDraw.Draw(img)
    for i in range(8):
        draw.text((80, 100 + 60 * i), f"Field {i}: value", fill="black")
    draw.text((80, 700), f"Amount {amount}", fill="black")
    return prepare_image(img, 512, want_phash=True)


async def test_deterministic_request_is_served_from_cache(tmp_path: Path) -> None:
    client = FakeEngineClient()
    service = make_service(client, tmp_path)
    first = await service.submit(greedy("hi"))
    deltas: list[str] = []
    second = await service.submit(greedy("hi"), deltas.append)
    assert client.calls == 1
    assert first.cached is None and second.cached == "l1"
    assert second.text == first.text and deltas == [first.text]
    await service.close()

    client2 = FakeEngineClient()
    again = make_service(client2, tmp_path)  # a fresh process: L2
    assert (await again.submit(greedy("hi"))).cached == "l2"
    assert client2.calls == 0
    stats = again.stats()
    assert stats.cache.l2_hits == 1 and stats.queue.submitted == 0
    await again.close()


async def test_sampled_requests_are_not_cached_unless_asked(tmp_path: Path) -> None:
    client = FakeEngineClient()
    service = make_service(client, tmp_path)
    sampled = InferenceRequest(messages=[Message.user("tell me a joke")])
    assert not sampled.sampling.deterministic
    await service.submit(sampled)
    await service.submit(InferenceRequest(messages=[Message.user("tell me a joke")]))
    assert client.calls == 2
    forced = InferenceRequest(messages=[Message.user("x")], cache=CachePolicy(use=True))
    await service.submit(forced)
    await service.submit(InferenceRequest(messages=[Message.user("x")], cache=CachePolicy(use=True)))
    assert client.calls == 3
    await service.submit(greedy("y", cache=CachePolicy(use=False)))
    await service.submit(greedy("y", cache=CachePolicy(use=False)))
    assert client.calls == 5
    seeded = SamplingParams(seed=3)
    await service.submit(InferenceRequest(messages=[Message.user("z")], sampling=seeded))
    await service.submit(InferenceRequest(messages=[Message.user("z")], sampling=seeded))
    assert client.calls == 6
    await service.close()


async def test_cache_disabled_in_settings(tmp_path: Path) -> None:
    client = FakeEngineClient()
    service = make_service(client, tmp_path, enabled=False)
    await service.submit(greedy("hi"))
    await service.submit(greedy("hi"))
    assert client.calls == 2
    await service.close()


async def test_identical_concurrent_requests_share_one_engine_call(tmp_path: Path) -> None:
    client = FakeEngineClient(hold=True)
    service = make_service(client, tmp_path)
    tasks = [asyncio.create_task(service.submit(greedy("same"))) for _ in range(5)]
    await client.wait_started(1)
    # release only once the four others have joined the running call (under load they can
    # still be in the cache lookup when the first call starts)
    for _ in range(500):
        if service.stats().queue.coalesced >= 4:
            break
        await asyncio.sleep(0.01)
    client.release(client.started[0])
    results = await asyncio.wait_for(asyncio.gather(*tasks), 30)  # a second engine call would hang
    assert client.calls == 1
    assert sorted(str(r.cached) for r in results) == ["None"] + ["coalesced"] * 4
    await service.close()


async def test_changed_digit_misses_by_default_and_hits_only_with_opt_in(tmp_path: Path) -> None:
    client = FakeEngineClient()
    service = make_service(client, tmp_path)
    a, b = form("1234"), form("1284")
    assert a.phash == b.phash and a.pixel_hash != b.pixel_hash
    await service.submit(greedy("read the amount", a))
    assert (await service.submit(greedy("read the amount", b))).cached is None  # default: exact only
    assert client.calls == 2
    near = await service.submit(
        greedy("read the amount", form("9999"), cache=CachePolicy(near_duplicate_max_distance=4))
    )
    assert near.cached == "near-l1" and client.calls == 2
    await service.close()


async def test_errors_are_not_cached(tmp_path: Path) -> None:
    client = FakeEngineClient(fail=EngineError("boom"))
    service = make_service(client, tmp_path)
    with pytest.raises(EngineError):
        await service.submit(greedy("q"))
    client.fail = None
    assert (await service.submit(greedy("q"))).cached is None
    assert client.calls == 2
    await service.close()


async def test_stream_yields_deltas_and_closing_it_cancels(tmp_path: Path) -> None:
    service = make_service(FakeEngineClient(), tmp_path)
    chunks = [d async for d in service.stream(greedy("stream me"))]
    assert "".join(chunks) == "echo: stream me" and len(chunks) > 1

    held = FakeEngineClient(hold=True)
    service2 = make_service(held, tmp_path / "b")
    gen = service2.stream(greedy("never finishes"))
    first = await gen.__anext__()
    assert first and "echo: never finishes".startswith(first)
    await gen.aclose()
    assert held.cancelled == held.started
    await service.close()
    await service2.close()


async def test_stream_reraises_errors(tmp_path: Path) -> None:
    service = make_service(FakeEngineClient(fail=EngineError("nope")), tmp_path)
    with pytest.raises(EngineError, match="nope"):
        async for _ in service.stream(greedy("x")):
            pass
    await service.close()


async def test_disabled_cache_never_creates_its_file(tmp_path: Path) -> None:
    service = make_service(FakeEngineClient(), tmp_path, enabled=False)
    await service.submit(greedy("hi"))
    await service.close()
    assert not (tmp_path / "results.sqlite3").exists()
