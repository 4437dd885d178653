"""What streaming costs the server's front end: API-server CPU per request, streamed vs whole.

Under load the H100 bench found vLLM's API server process at about one core while the GPU idled
half the time (docs/benchmarks.md, "Second sitting"). Part of its work per request is building
and sending one SSE chunk per output token. This sends the same requests through the app's own
engine client with `stream=True` and `stream=False` (alternating, each mode twice) and reads the
API server's CPU time from /proc before and after. The tiny CPU engine runs the same vLLM front
end as a GPU server, so the front end's cost per token is what this measures; its engine core
is on the same 2 cores, so wall-clock rates here mean little.

    .venv/bin/python benchmarks/stream_cost.py [--requests 24] [--tokens 64,256]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from qwen3vl_agent.config import EndpointSettings, EngineSettings
from qwen3vl_agent.engine.client import OpenAIEngineClient
from qwen3vl_agent.engine.endpoints import EndpointPool
from qwen3vl_agent.inference.request import InferenceRequest

TICK = os.sysconf("SC_CLK_TCK")


def api_server_pids(group: int) -> list[int]:
    """The vLLM API server process(es) of the engine's process group (not the engine core)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if int(stat[2]) == group and b"api_server" in cmdline and b"group_guard" not in cmdline:
            found.append(int(entry))
    return found


def cpu_s(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / TICK
    return total


def requests(count: int, tokens: int, stream: bool, offset: int) -> list[InferenceRequest]:
    from tests.support.engine_requests import image_request

    return [
        replace(
            image_request(
                f"{offset + i}: describe the screen", seed=offset + i, max_tokens=tokens, ignore_eos=True
            ),
            stream=stream,
        )
        for i in range(count)
    ]


async def run_mode(
    client: OpenAIEngineClient, pids: list[int], count: int, tokens: int, stream: bool, offset: int
) -> float:
    gate = asyncio.Semaphore(4)

    async def one(request: InferenceRequest) -> None:
        async with gate:
            await client.complete(request)

    batch = requests(count, tokens, stream, offset)
    before = cpu_s(pids)
    await asyncio.gather(*(one(r) for r in batch))
    return (cpu_s(pids) - before) / count * 1000


async def bench(endpoint: EndpointSettings, group: int, count: int, token_counts: list[int]) -> None:
    pids = api_server_pids(group)
    if not pids:
        raise SystemExit(f"no vLLM API server process found in process group {group}")
    settings = EngineSettings(mode="endpoints")
    pool = EndpointPool([endpoint], settings)
    await pool.start()
    client = OpenAIEngineClient(pool, settings)
    try:
        await run_mode(client, pids, 4, 8, True, 10_000)  # warm-up, unmeasured
        print(
            "| output tokens | streamed: API-server CPU ms/request | whole answer | saved per output token |"
        )
        print("| --- | --- | --- | --- |")
        offset = 0
        for tokens in token_counts:
            runs: dict[bool, list[float]] = {True: [], False: []}
            for stream in (True, False, False, True):
                runs[stream].append(await run_mode(client, pids, count, tokens, stream, offset))
                offset += count
            s, w = (sum(runs[m]) / len(runs[m]) for m in (True, False))
            print(
                f"| {tokens} | {s:.1f} ({', '.join(f'{x:.1f}' for x in runs[True])}) "
                f"| {w:.1f} ({', '.join(f'{x:.1f}' for x in runs[False])}) | {(s - w) / tokens:.3f} ms |",
                flush=True,
            )
    finally:
        await client.aclose()
        await pool.close()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=24)
    parser.add_argument("--tokens", default="64,256")
    args = parser.parse_args()
    token_counts = [int(t) for t in args.tokens.split(",")]
    from tests.support.engine_fixtures import running_tiny_engine

    async with running_tiny_engine() as engine:
        endpoint = EndpointSettings(
            url=engine.base_url, api_key=engine.api_key, model=engine.served_model_name
        )
        assert engine.pid is not None
        await bench(endpoint, os.getpgid(engine.pid), args.requests, token_counts)


if __name__ == "__main__":
    asyncio.run(main())
