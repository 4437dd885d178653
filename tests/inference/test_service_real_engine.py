"""Queue + cache + runtime against the real tiny vLLM engine (CPU build).

The engine's own Prometheus counter `vllm:request_success_total` tells how many requests
really reached it, so "served from the cache" and "coalesced" are checked on the server side.
"""

from __future__ import annotations

import asyncio
import io
import time
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from qwen3vl_agent.config import CacheSettings, EngineSettings, QueueSettings, Settings
from qwen3vl_agent.errors import DeadlineExceededError
from qwen3vl_agent.imaging.prep import prepare_image
from qwen3vl_agent.inference.request import (
    CachePolicy,
    ImagePart,
    InferenceRequest,
    Message,
    PreparedImage,
    SamplingParams,
    TaskKind,
)
from qwen3vl_agent.runtime import Runtime, build_runtime

pytestmark = [pytest.mark.engine]

SUCCESS = "vllm:request_success_total"


def screenshot(label: str = "Submit") -> Image.Image:
    img = Image.new("RGB", (1920, 1080), (236, 236, 236))
    draw = ImageDraw.Draw(img)
    draw.rectangle((0, 0, 1920, 40), fill=(40, 40, 60))
    for i in range(12):
        draw.text((200, 120 + 40 * i), f"Field {i}", fill="black")
        draw.rectangle((400, 110 + 40 * i, 1000, 140 + 40 * i), outline="grey")
    draw.rectangle((400, 640, 560, 690), fill=(0, 120, 215))
    draw.text((440, 655), label, fill="white")
    return img


def ask(
    image: PreparedImage | None, text: str, *, kind: TaskKind = TaskKind.CHAT, **kw: object
) -> InferenceRequest:
    parts: list[object] = [ImagePart(image)] if image is not None else []
    return InferenceRequest(
        messages=[Message.user(*parts, text)],  # type: ignore[arg-type]
        kind=kind,
        sampling=kw.pop("sampling", SamplingParams.greedy(8)),  # type: ignore[arg-type]
        **kw,  # type: ignore[arg-type]
    )


async def runtime_for(tiny_engine, tmp_path: Path, **queue: object) -> Runtime:  # type: ignore[no-untyped-def]
    settings = Settings(
        engine=EngineSettings(mode="endpoints", endpoints=[tiny_engine.endpoint_settings()]),
        queue=QueueSettings(**queue),  # type: ignore[arg-type]
        cache=CacheSettings(),
    )
    return await build_runtime(settings, cache_path=tmp_path / "results.sqlite3")


def wait_for_count(tiny_engine, expected: float, timeout_s: float = 30.0) -> float:  # type: ignore[no-untyped-def]
    """The success counter once it reaches `expected` (metrics are updated just after responses)."""
    end = time.monotonic() + timeout_s
    value = tiny_engine.metric(SUCCESS)
    while value < expected and time.monotonic() < end:
        time.sleep(0.05)
        value = tiny_engine.metric(SUCCESS)
    return value


async def test_cache_hits_never_reach_the_engine(tiny_engine, tmp_path: Path) -> None:
    image = prepare_image(screenshot(), 256)
    before = tiny_engine.metric(SUCCESS)
    runtime = await runtime_for(tiny_engine, tmp_path)
    try:
        assert runtime.model_name == tiny_engine.served_model_name
        first = await runtime.service.submit(ask(image, "Where is the Submit button?"))
        assert first.cached is None
        assert wait_for_count(tiny_engine, before + 1) == before + 1

        again = await runtime.service.submit(ask(image, "Where is the Submit button?"))
        buf = io.BytesIO()
        screenshot().save(buf, "BMP")  # the same screenshot, encoded differently
        reencoded = await runtime.service.submit(
            ask(prepare_image(buf.getvalue(), 256), "Where is the Submit button?")
        )
        assert (again.cached, reencoded.cached) == ("l1", "l1")
        assert again.text == reencoded.text == first.text
    finally:
        await runtime.close()

    fresh = await runtime_for(tiny_engine, tmp_path)  # a new process: empty L1, same L2 file
    try:
        from_disk = await fresh.service.submit(ask(image, "Where is the Submit button?"))
        assert from_disk.cached == "l2" and from_disk.text == first.text
        # one request that must reach the engine: once it is counted, nothing else was
        await fresh.service.submit(ask(image, "Something else", cache=CachePolicy(use=False)))
        assert wait_for_count(tiny_engine, before + 2) == before + 2
        stats = fresh.service.stats()
        assert stats.cache.l2_hits == 1 and stats.queue.completed == 1
    finally:
        await fresh.close()


async def test_identical_concurrent_requests_are_one_engine_request(tiny_engine, tmp_path: Path) -> None:
    image = prepare_image(screenshot("Coalesce"), 256)
    runtime = await runtime_for(tiny_engine, tmp_path)
    before = tiny_engine.metric(SUCCESS)
    try:
        sampling = SamplingParams(
            temperature=0.0, top_p=1.0, top_k=-1, presence_penalty=0.0, max_tokens=48, ignore_eos=True
        )
        streams: list[list[str]] = [[] for _ in range(4)]
        results = await asyncio.gather(
            *(
                runtime.service.submit(
                    ask(image, "Describe the screen", sampling=sampling), streams[i].append
                )
                for i in range(4)
            )
        )
        await runtime.service.submit(ask(None, "marker", cache=CachePolicy(use=False)))
        assert wait_for_count(tiny_engine, before + 2) == before + 2  # the 4 shared ONE request
        assert sorted(str(r.cached) for r in results) == ["None", "coalesced", "coalesced", "coalesced"]
        assert len({r.text for r in results}) == 1
        assert all("".join(s) == results[0].text for s in streams)
        assert results[0].usage.completion_tokens == 48
    finally:
        await runtime.close()


async def test_chat_gets_the_next_free_slot_behind_a_batch(tiny_engine, tmp_path: Path) -> None:
    runtime = await runtime_for(tiny_engine, tmp_path, max_in_flight=1)
    finished: list[str] = []
    sampling = SamplingParams(
        temperature=0.0, top_p=1.0, top_k=-1, presence_penalty=0.0, max_tokens=24, ignore_eos=True
    )

    async def run(name: str, kind: TaskKind) -> None:
        await runtime.service.submit(
            ask(None, f"page text {name}", kind=kind, sampling=sampling, cache=CachePolicy(use=False))
        )
        finished.append(name)

    try:
        batch = [asyncio.create_task(run(f"ocr{i}", TaskKind.OCR)) for i in range(6)]
        while runtime.service.queue.in_flight < 1:
            await asyncio.sleep(0.01)
        assert runtime.service.queue.stats().depth["batch"] == 5
        chat = asyncio.create_task(run("chat", TaskKind.CHAT))
        await asyncio.gather(chat, *batch)
        # one slot: the in-flight page finishes, then the chat question, then the rest of the batch
        assert finished == ["ocr0", "chat", "ocr1", "ocr2", "ocr3", "ocr4", "ocr5"]
        stats = runtime.service.stats().queue
        assert stats.completed == 7 and stats.wait_p99_s >= stats.wait_p50_s
    finally:
        await runtime.close()


async def test_deadline_aborts_a_slow_request(tiny_engine, tmp_path: Path) -> None:
    runtime = await runtime_for(tiny_engine, tmp_path)
    long = SamplingParams(
        temperature=0.0, top_p=1.0, top_k=-1, presence_penalty=0.0, max_tokens=3000, ignore_eos=True
    )
    try:
        with pytest.raises(DeadlineExceededError, match="deadline"):
            await runtime.service.submit(ask(None, "go on forever", sampling=long, deadline_s=0.5))
        assert runtime.service.queue.in_flight == 0
        ok = await runtime.service.submit(ask(None, "still alive?"))
        assert ok.text is not None and ok.finish_reason in ("stop", "length")
    finally:
        await runtime.close()


async def test_cancelling_the_caller_aborts_the_request_in_the_engine(tiny_engine, tmp_path: Path) -> None:
    runtime = await runtime_for(tiny_engine, tmp_path)
    long = SamplingParams(
        temperature=0.0, top_p=1.0, top_k=-1, presence_penalty=0.0, max_tokens=4000, ignore_eos=True
    )
    streamed = asyncio.Event()
    try:
        task = asyncio.create_task(
            runtime.service.submit(ask(None, "cancel me", sampling=long), lambda _: streamed.set())
        )
        await asyncio.wait_for(streamed.wait(), 120)  # it is running in the engine
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert runtime.service.queue.in_flight == 0
        end = time.monotonic() + 10  # far less than generating 4000 tokens takes here
        while tiny_engine.metric("vllm:num_requests_running") > 0 and time.monotonic() < end:
            await asyncio.sleep(0.1)
        assert tiny_engine.metric("vllm:num_requests_running") == 0  # aborted, not left generating
        assert runtime.service.stats().queue.cancelled == 1
    finally:
        await runtime.close()
