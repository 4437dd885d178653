"""The engine client against the real tiny vLLM engine (CPU build): everything but the words is real."""

from __future__ import annotations

import asyncio
import json
from importlib import resources

import jsonschema
import pytest

from qwen3vl_agent.config import EndpointSettings
from qwen3vl_agent.errors import RequestRejectedError
from qwen3vl_agent.inference.request import SamplingParams
from tests.support.engine_pause import ADDED, EngineLog, cancel_mid_generation, engine_core_paused
from tests.support.engine_requests import engine_client, image_request

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


def _steps_decoding_16_together(tiny_engine) -> float:
    """Engine steps that processed exactly 16 tokens: decode steps of 16 sequences together (a
    request's image prompt is far longer, so a step with a prefill in it lands above 16; one
    sequence decoding alone lands in the first bucket, le=1). The fixture adds the bucket le=15."""
    bucket = "vllm:iteration_tokens_total_bucket"
    return tiny_engine.metric(bucket, le="16.0") - tiny_engine.metric(bucket, le="15.0")


async def test_sixteen_concurrent_requests_are_decoded_together(tiny_engine) -> None:
    """16 concurrent image requests are decoded by the engine in the same steps, 16 at once.

    The engine core is stopped (SIGSTOP) until the API server has handed all 16 requests to it
    (its log says "Added request" 16 times), so they are all waiting in the core when it
    resumes, however slowly a loaded machine's API server processed the images (before, a busy
    CI box handed them over one by one and no step ever decoded 9 of them together). Then the
    engine must decode them together: every answer is 128 tokens, so after their prefill
    steps (the only ones where the 16 do not decode together) nearly all of the ~127 steps
    decode exactly 16 sequences; at least 100 such steps are asked for. An engine that served
    the requests one at a time (e.g. --max-num-seqs 1) decodes one token per step and has no
    such step at all, so this fails for it; so it does if the API server's hand-over (not the
    engine) still dictated the batches, since nothing reaches the stopped core in between.
    """
    before = tiny_engine.metric("vllm:request_success_total")
    batched_before = _steps_decoding_16_together(tiny_engine)
    log = EngineLog(tiny_engine)
    async with engine_client([tiny_engine.endpoint_settings()], max_retries=0) as client:
        with engine_core_paused(tiny_engine):
            tasks = [
                asyncio.create_task(
                    client.complete(image_request(seed=100 + i, max_tokens=128, ignore_eos=True))
                )
                for i in range(16)
            ]
            try:
                await log.wait_for(ADDED, 16, "the 16 requests were not all handed to the engine core")
                assert not any(task.done() for task in tasks)
            except BaseException:
                for task in tasks:
                    task.cancel()
                raise
        results = await asyncio.gather(*tasks)
    assert all(r.usage.completion_tokens == 128 for r in results)
    assert tiny_engine.metric("vllm:request_success_total") == before + 16
    # a histogram counts every step (a gauge sampled over HTTP can miss a short batch entirely)
    assert _steps_decoding_16_together(tiny_engine) - batched_before >= 100


async def _cancel_mid_generation(tiny_engine, cancels: int) -> None:
    """Cancel a long streamed request `cancels` times (one loop step apart) mid-generation and
    check that the server aborted it well before max_tokens (see `cancel_mid_generation`: the
    engine core is stopped from before the request is sent, runs CPU-capped until the
    request has generated its first tokens, and stays stopped until the API server has sent
    the abort, so the verdict does not depend on the machine's load).

    Before the core was paused, a starved API server had not yet noticed the disconnect while
    the core decoded on: a clean clone on a busy box failed with "generated all 3800 tokens
    although the client cancelled 1.7 s after sending" (the machine's load, not a missing
    abort), and with the core running until the first text, loaded runs skipped as
    inconclusive (the request could have finished before the starved test cancelled).
    """
    pieces: list[str] = []
    async with engine_client([tiny_engine.endpoint_settings()]) as client:
        request = image_request(max_tokens=3800, ignore_eos=True)  # as long as max_model_len allows
        outcome = await cancel_mid_generation(
            tiny_engine, lambda: client.complete(request, pieces.append), request.sampling.max_tokens, cancels
        )
    assert outcome.tokens_at_cancel > 0


async def test_cancelling_the_caller_aborts_the_generation_on_the_server(tiny_engine) -> None:
    await _cancel_mid_generation(tiny_engine, cancels=1)


async def test_a_second_cancel_during_the_clean_up_still_aborts_on_the_server(tiny_engine) -> None:
    """A second cancel (Stop pressed while a deadline fires) used to interrupt httpx's clean-up
    and leave the connection open and ACTIVE in the pool: the server saw no disconnect and sent
    no abort (this test failed on that client)."""
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
