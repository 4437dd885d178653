"""The engine client against the real tiny vLLM engine (CPU build): everything but the words is real."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from importlib import resources

import jsonschema
import pytest

from qwen3vl_agent.config import EndpointSettings
from qwen3vl_agent.errors import RequestRejectedError
from qwen3vl_agent.inference.request import SamplingParams
from tests.support.engine_requests import AbortCheck, cancel_with_core_paused, engine_client, image_request

pytestmark = [pytest.mark.engine]


def computer_use_schema() -> dict:
    text = (
        resources.files("qwen3vl_agent.resources").joinpath("computer_use/arguments.schema.json").read_text()
    )
    return json.loads(text)


async def test_image_request_streams_text_usage_and_ttft(tiny_engine) -> None:
    deltas: list[str] = []
    async with engine_client([tiny_engine.endpoint_settings()]) as client:
        result = await client.complete(image_request(max_tokens=12, ignore_eos=True), deltas.append)
    assert result.finish_reason == "length"
    assert result.usage.completion_tokens == 12
    assert result.usage.prompt_tokens > 70  # 320x224 -> 10x7 visual tokens plus the text
    assert len(deltas) > 1 and "".join(deltas) == result.text
    assert result.timings.ttft_s is not None and result.timings.ttft_s <= result.timings.service_s
    assert result.model == tiny_engine.served_model_name
    assert result.endpoint == tiny_engine.base_url


async def test_two_images_count_twice_the_visual_tokens(tiny_engine) -> None:
    async with engine_client([tiny_engine.endpoint_settings()]) as client:
        one = await client.complete(image_request(images=1, max_tokens=1))
        two = await client.complete(image_request(images=2, max_tokens=1))
    assert two.usage.prompt_tokens - one.usage.prompt_tokens >= 70


async def test_mm_processor_kwargs_reach_the_image_processor(tiny_engine) -> None:
    async with engine_client([tiny_engine.endpoint_settings()]) as client:
        full = await client.complete(image_request(max_tokens=1))
        small = await client.complete(
            image_request(
                max_tokens=1,
                mm_processor_kwargs={"size": {"longest_edge": 64 * 32 * 32, "shortest_edge": 32 * 32}},
            )
        )
    assert small.usage.prompt_tokens < full.usage.prompt_tokens


async def test_structured_output_forces_valid_computer_use_arguments(tiny_engine) -> None:
    schema = computer_use_schema()
    async with engine_client([tiny_engine.endpoint_settings()]) as client:
        for seed in range(5):
            request = image_request(
                "Return the next computer_use action.", seed=seed, max_tokens=400, json_schema=schema
            )
            request.sampling = SamplingParams(temperature=1.0, seed=seed, max_tokens=400)
            result = await client.complete(request)
            assert result.finish_reason == "stop", result.text
            jsonschema.validate(json.loads(result.text), schema)


def _steps_decoding_2_to_16_together(tiny_engine) -> float:
    """Engine steps that processed 2..16 tokens at once: decode steps of 2..16 sequences together
    (a single request's image prompt is far longer, so prefill steps land above 16; one sequence
    decoding alone lands in the first bucket, le=1)."""
    bucket = "vllm:iteration_tokens_total_bucket"
    return tiny_engine.metric(bucket, le="16.0") - tiny_engine.metric(bucket, le="1.0")


async def test_sixteen_concurrent_requests_are_batched(tiny_engine) -> None:
    before = tiny_engine.metric("vllm:request_success_total")
    batched_before = _steps_decoding_2_to_16_together(tiny_engine)
    # answers long enough (512 tokens) that the 16 overlap in the engine however slowly a loaded
    # box's API server hands them over one by one (each image is processed there first): with 64
    # tokens, the first answers were done before the last requests arrived on a busy CI box
    async with engine_client([tiny_engine.endpoint_settings()]) as client:
        results = await asyncio.gather(
            *(
                client.complete(image_request(seed=100 + i, max_tokens=512, ignore_eos=True))
                for i in range(16)
            )
        )
    assert all(r.usage.completion_tokens == 512 for r in results)
    assert tiny_engine.metric("vllm:request_success_total") == before + 16
    # the engine decoded the answers together in many steps (a gauge sampled over HTTP can miss
    # a short batch entirely; this histogram counts every step). Not "9 or more at once": on a
    # loaded CI box the API server hands the 16 over so slowly (each image is processed there
    # first) that two full runs saw no step of 9..16 sequences even with 512-token answers
    assert _steps_decoding_2_to_16_together(tiny_engine) - batched_before >= 20


async def _cancel_mid_generation(tiny_engine, cancels: int) -> None:
    """Cancel a long streamed request `cancels` times (one loop step apart) once its first text
    has arrived, then check that the server stopped it well before max_tokens.

    vLLM counts a request in `vllm:request_success_total` only when the engine finishes it (here
    with reason "length"); a request aborted because its client went away is not counted at all.
    `vllm:num_requests_running` reads 0 only once the engine has stopped the request.

    The engine core is paused (SIGSTOP) from the first text until the client's task has ended
    (its connection is closed then) and the API server has answered a few /health requests
    after it: the abort then reaches the core before it can decode further, however loaded the
    machine. Before, the core decoded on while a starved API server had not yet noticed the
    disconnect, and a clean clone on a busy box failed with "generated all 3800 tokens although
    the client cancelled 1.7 s after sending" (12/12 passed alone): the machine's load, not a
    missing abort. A client that leaves its connection open still fails: the API server sees no
    disconnect, and the core finishes the request once resumed.
    """
    check = await AbortCheck.when_idle(tiny_engine, max_tokens=3800)  # as long as max_model_len allows
    first_text = asyncio.Event()
    pieces: list[str] = []

    def on_delta(text: str) -> None:
        pieces.append(text)
        first_text.set()

    async with engine_client([tiny_engine.endpoint_settings()]) as client:
        request = image_request(max_tokens=check.max_tokens, ignore_eos=True)
        sent_at = time.time()
        task = asyncio.create_task(client.complete(request, on_delta))
        # the first text, or 2 s: a random model can emit no decodable text for a long stretch
        # (byte tokens held back by the detokenizer: one run saw its first text only at the end,
        # 9.4 s in, and skipped as inconclusive); the ~10 s generation is mid-way either way
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(first_text.wait(), 2.0)
        assert not task.done()
        seen = len(pieces)
        cancelled_at = await cancel_with_core_paused(tiny_engine, task, cancels)
        await check.wait_idle()
    assert check.verdict(sent_at, cancelled_at, f", {seen} text pieces in") > 0


async def test_cancelling_the_caller_aborts_the_generation_on_the_server(tiny_engine) -> None:
    await _cancel_mid_generation(tiny_engine, cancels=1)


async def test_a_second_cancel_during_the_clean_up_still_aborts_on_the_server(tiny_engine) -> None:
    """A second cancel (Stop pressed while a deadline fires) used to interrupt httpx's clean-up
    and leave the connection open and ACTIVE in the pool: the server then generated to
    max_tokens (this test failed on that client)."""
    await _cancel_mid_generation(tiny_engine, cancels=2)


async def test_too_many_images_is_rejected_with_the_servers_reason(tiny_engine) -> None:
    before = tiny_engine.metric("vllm:request_success_total")
    async with engine_client([tiny_engine.endpoint_settings()], max_retries=3) as client:
        with pytest.raises(RequestRejectedError) as info:
            await client.complete(image_request(images=3, max_tokens=4))
        assert "image" in str(info.value).lower() and "2" in str(info.value)
        # a 400 is not the endpoint's fault: it stays in rotation and the next request works
        assert client.pool.endpoints[0].healthy
        ok = await client.complete(image_request(images=2, max_tokens=2))
    assert ok.usage.completion_tokens >= 1
    assert tiny_engine.metric("vllm:request_success_total") == before + 1


async def test_tools_render_through_the_chat_template(tiny_engine) -> None:
    tool = json.loads(
        resources.files("qwen3vl_agent.resources").joinpath("computer_use/tool.json").read_text()
    )
    tools = tool if isinstance(tool, list) else [tool]
    async with engine_client([tiny_engine.endpoint_settings()]) as client:
        plain = await client.complete(image_request(max_tokens=1))
        with_tools = await client.complete(image_request(max_tokens=1, tools=tools))
    assert with_tools.usage.prompt_tokens > plain.usage.prompt_tokens + 50


async def test_list_models_and_health(tiny_engine) -> None:
    async with engine_client([tiny_engine.endpoint_settings()]) as client:
        models = await client.list_models()
        health = await client.health()
    assert [m["id"] for m in models] == [tiny_engine.served_model_name]
    assert health == {tiny_engine.base_url: True}


async def test_pool_follows_the_managed_engine(tiny_engine) -> None:
    from qwen3vl_agent.config import EngineSettings
    from qwen3vl_agent.engine.client import OpenAIEngineClient
    from qwen3vl_agent.engine.endpoints import EndpointPool

    settings = EngineSettings()
    pool = EndpointPool([], settings)
    endpoint = pool.attach_managed(tiny_engine.engine)
    await pool.start()
    client = OpenAIEngineClient(pool, settings)
    try:
        assert endpoint is not None and endpoint.managed and endpoint.healthy
        assert endpoint.model == tiny_engine.served_model_name
        result = await client.complete(image_request(max_tokens=2))
        assert result.endpoint == tiny_engine.base_url
    finally:
        await client.aclose()
        await pool.close()
    assert pool.snapshot()[0]["managed"]


async def test_an_endpoint_without_a_model_name_serves_what_it_lists(tiny_engine) -> None:
    """A remote vLLM configured by URL alone: the client asks /v1/models instead of sending the
    settings' default model name (which this server does not serve)."""
    bare = EndpointSettings(url=tiny_engine.base_url, api_key=tiny_engine.api_key)
    async with engine_client([bare]) as client:
        result = await client.complete(image_request(max_tokens=2))
    assert result.model == tiny_engine.served_model_name
