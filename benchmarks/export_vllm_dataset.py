"""Export the bench's realistic requests as a `vllm bench serve` custom image dataset (JSONL).

The lines are the very requests `qwen3vl-agent bench --no-cache` sends for the same seed,
workload and image policy (same screenshots with the same nonces, same text, image before
text), so `vllm bench serve` on this file is the engine's own figure for the app's workload:

    python benchmarks/export_vllm_dataset.py --count 400 --full-res --out /tmp/real1080.jsonl
    vllm bench serve --backend openai-chat --endpoint /v1/chat/completions \
        --dataset-name custom_image --dataset-path /tmp/real1080.jsonl --disable-shuffle \
        --custom-output-len 64 --ignore-eos --temperature 0 --num-prompts 400 --max-concurrency 120 ...

Each line: {"content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,..."}},
{"type": "text", "text": "..."}]}. Images are embedded as data: URLs (as the app sends them),
so no `--allowed-local-media-path` is needed on the server.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from qwen3vl_agent.bench.images import ImageKind, generate_pool
from qwen3vl_agent.bench.plan import RepeatMix, RequestPlan
from qwen3vl_agent.bench.workloads import RequestFactory, Workload, WorkloadConfig, image_kinds


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--count", type=int, default=400)
    ap.add_argument("--workload", choices=[w.value for w in Workload], default="chat")
    ap.add_argument("--images", choices=["realistic", "noise"], default="realistic")
    ap.add_argument("--n-images", type=int, default=12)
    ap.add_argument("--budget", type=int, default=None)
    ap.add_argument("--full-res", action="store_true")
    ap.add_argument("--prompt-words", type=int, default=180)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args(argv)

    workload = Workload(a.workload)
    kinds = (ImageKind.NOISE,) if a.images == "noise" else image_kinds(workload)
    pool = generate_pool(kinds, a.n_images, seed=a.seed)
    factory = RequestFactory(
        WorkloadConfig(
            workload=workload,
            budget_tokens=a.budget,
            full_res=a.full_res,
            prompt_words=a.prompt_words,
            use_cache=False,
        ),
        pool,
    )
    plan = RequestPlan(RepeatMix(), len(pool), len(factory.questions), seed=a.seed)
    t0 = time.perf_counter()
    sizes = []
    a.out.parent.mkdir(parents=True, exist_ok=True)
    with a.out.open("w", encoding="utf-8") as f:
        for spec in plan.take(a.count):
            built = factory.build(spec)
            url = f"data:{built.image.mime};base64,{base64.b64encode(built.image.data).decode('ascii')}"
            content = [{"type": "image_url", "image_url": {"url": url}}, {"type": "text", "text": built.text}]
            if factory.system and workload is Workload.AGENT:
                # custom_image has no system role: the agent's system prompt goes first as text
                content.insert(0, {"type": "text", "text": factory.system + "\n\n"})
            f.write(json.dumps({"content": content}) + "\n")
            sizes.append(len(built.image.data))
    sizes.sort()
    print(
        json.dumps(
            {
                "out": str(a.out),
                "count": a.count,
                "image_size": [built.image.width, built.image.height],
                "image_bytes_p50": sizes[len(sizes) // 2],
                "seconds": round(time.perf_counter() - t0, 1),
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
