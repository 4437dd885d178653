"""Row B of the H200 sitting: one user, agent steps with the app's own prompt and history.

Each simulated run takes `--steps` steps; every step sends exactly what the agent loop sends
(`agents.prompt.build_messages`: the shipped system prompt with the `computer_use` tool, the task,
the history with up to `--images` screenshots, the current screenshot at the agent budget, greedy)
through `engine.client.build_payload`, with `max_tokens=1` so the request's wall time is its
time to first token. A fresh desktop-like screenshot (nonce stamped) each step, so only the
history can hit vLLM's prefix cache. Reported: client TTFT per step number, and vLLM's own
TTFT histogram and prefix-cache counters over each variant (`/metrics`).

Variants: `--slide-block` values (1 = the window moves every step; 0 = the app's default, in
blocks of the history's capacity).

    python benchmarks/h200/agent_steps.py --endpoint http://127.0.0.1:8000/v1 --api-key KEY \\
        --model NAME --runs 4 --steps 8 --slide-block 0 --slide-block 1 --out b.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from qwen3vl_agent.agents.prompt import HistoryEntry, build_messages, summarize
from qwen3vl_agent.bench.images import ImageKind, render, stamp_nonce
from qwen3vl_agent.bench.server_metrics import difference, scrape
from qwen3vl_agent.engine.client import build_payload
from qwen3vl_agent.imaging.prep import prepare_image
from qwen3vl_agent.inference.request import CachePolicy, InferenceRequest, SamplingParams, TaskKind

ANSWER = (
    'Thought: the field "{f}" is empty; click it first.\n<tool_call>\n{{"name": "computer_use", '
    '"arguments": {{"action": "left_click", "coordinate": [{x}, {y}]}}}}\n</tool_call>'
)


def variant(args: argparse.Namespace, http: httpx.Client, block: int, seed: int) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {args.api_key}"} if args.api_key else {}
    before = scrape(args.endpoint, args.api_key)
    per_step: dict[int, list[float]] = {}
    tokens: dict[int, list[int]] = {}
    kinds = [ImageKind.FORM, ImageKind.DESKTOP]
    for run in range(args.runs):
        history: list[HistoryEntry] = []
        base = render(kinds[run % len(kinds)], seed + run)
        task = f"Register customer {seed}-{run} in the form: name, address, email, then submit."
        for step in range(1, args.steps + 1):
            shot = prepare_image(stamp_nonce(base, f"{seed}-{run}-{step}"), args.budget)
            messages = build_messages(task, history, shot, max_images=args.images, slide_block=block or None)
            request = InferenceRequest(
                messages=messages,
                kind=TaskKind.AGENT,
                sampling=SamplingParams.greedy(1),
                cache=CachePolicy(use=False),
                stream=False,
            )
            payload = build_payload(request, args.model)
            t0 = time.perf_counter()
            resp = http.post(f"{args.endpoint}/chat/completions", json=payload, headers=headers)
            ms = (time.perf_counter() - t0) * 1000
            resp.raise_for_status()
            per_step.setdefault(step, []).append(ms)
            tokens.setdefault(step, []).append(int(resp.json()["usage"]["prompt_tokens"]))
            raw = ANSWER.format(f=f"field {step}", x=100 + 37 * step, y=200 + 11 * step)
            history.append(HistoryEntry(step, shot, raw, summarize(step, None, f"left_click field {step}")))
    after = scrape(args.endpoint, args.api_key)
    late = [ms for step, values in per_step.items() if step >= 3 for ms in values]
    return {
        "slide_block": block or max(1, args.images - 1),
        "client_ttft_ms_p50_step_ge3": round(statistics.median(late), 1) if late else None,
        "client_ttft_ms_p50_by_step": {
            s: round(statistics.median(v), 1) for s, v in sorted(per_step.items())
        },
        "prompt_tokens_by_step": {s: round(statistics.median(v)) for s, v in sorted(tokens.items())},
        "server": difference(before, after) if before and after else {"note": "no /metrics"},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--endpoint", default="http://127.0.0.1:8000/v1")
    ap.add_argument("--api-key", default=None)
    ap.add_argument("--model", required=True)
    ap.add_argument("--runs", type=int, default=4)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--images", type=int, default=3, help="screenshots per prompt, the current one included")
    ap.add_argument("--budget", type=int, default=1024, help="visual tokens per screenshot")
    ap.add_argument("--slide-block", type=int, action="append", default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    report: dict[str, Any] = {"label": args.out.stem, "runs": args.runs, "steps": args.steps, "variants": []}
    with httpx.Client(timeout=120) as http:
        for i, block in enumerate(args.slide_block or [0]):
            report["variants"].append(variant(args, http, block, args.seed + 100 * i))
    args.out.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    for v in report["variants"]:
        server = v["server"]
        ttft = server.get("ttft_ms", {})
        hits, queries = server.get("prefix_cache_hits"), server.get("prefix_cache_queries")
        rate = f"{hits / queries:.0%}" if hits is not None and queries else "n/a"
        print(
            f"{args.out.stem} block={v['slide_block']}: client TTFT p50 (step>=3) {v['client_ttft_ms_p50_step_ge3']} ms, "
            f"server TTFT p50 {ttft.get('p50')} ms mean {ttft.get('mean')} ms, prefix-cache hits {rate}, "
            f"tokens {v['prompt_tokens_by_step']}"
        )


if __name__ == "__main__":
    main()
