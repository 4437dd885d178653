"""Summarise py-spy's collapsed stacks of a vLLM process (issue 17, lever 1: where the CPU goes).

Usage: python benchmarks/h200/pyspy_summary.py FILE.txt[.gz] [FILE.txt[.gz] ...] [--top 20] [--json OUT]

Each input is `py-spy record -f raw` output: one line per distinct stack, frames joined by ';'
(outermost first), then a space and the sample count. Every stack is put in the first bucket of
BUCKETS whose pattern matches any of its frames, so the buckets add up to 100 % of the on-CPU
samples; the top self (leaf) and inclusive functions are listed as well.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
from collections import Counter
from pathlib import Path

# First match wins: the most specific work first (the HF processor resizes with PIL: it goes before
# decode), the generic machinery (asyncio, HTTP) last.
BUCKETS: list[tuple[str, str]] = [
    ("HF image processor", r"image_processing|image_processor|smart_resize|processing_qwen|torchvision"),
    ("app: screenshot prep (resize, hash, PNG)", r"imaging/prep|fast_png|model_input"),
    ("image decode (PIL, base64)", r"PIL/|ImageFile|base64|pybase64|load_image|_load_image|media/image"),
    ("tokenizer", r"tokenization|tokenizers|_tokenize|encode_batch|convert_tokens"),
    ("chat template", r"jinja2|chat_template|apply_hf_chat_template|render_chat"),
    ("multimodal hashing / cache", r"multimodal/hash|blake3|MultiModalHasher|processing/caching|mm_cache"),
    ("multimodal processing (other)", r"multimodal/|processing\.py|inputs/preprocess|input_processor"),
    ("detokenize / output", r"detokeniz|output_processor|incremental|logprobs"),
    # Not serial_utils as a whole: its run_method is the executor's call into the worker (the forward).
    ("serialise / IPC (zmq, msgspec, pickle)", r"zmq|msgspec|Msgpack|pickle|_encode_|_decode_"),
    # The forward before the engine core's loop, which is on every one of its stacks.
    (
        "model forward / GPU launch",
        r"model_executor|gpu_model_runner|v1/worker|worker/|model_runner|torch/|cuda",
    ),
    ("scheduler / engine core", r"v1/core/|scheduler|kv_cache_manager|engine/core"),
    ("HTTP, JSON, pydantic", r"uvicorn|starlette|fastapi|h11|httptools|httpx|httpcore|pydantic|json"),
    ("asyncio / event loop", r"asyncio|uvloop|selectors|threading|futures/thread"),
]
_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^:()]*)(?::\d+)?\)$")


def parse(path: Path) -> list[tuple[list[str], int]]:
    """The stacks of one raw file (or its .gz, as committed) as (frames outermost first, samples)."""
    raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    stacks = []
    for line in raw.decode(errors="replace").splitlines():
        head, _, count = line.rpartition(" ")
        if head and count.isdigit():
            stacks.append((head.split(";"), int(count)))
    return stacks


def short(frame: str) -> str:
    """`func (path/to/file.py:123)` without the line number and with the path cut to two parts."""
    m = _FRAME.match(frame)
    if not m:
        return frame
    parts = m.group("file").split("/")
    return f"{m.group('func')} ({'/'.join(parts[-2:])})"


def summarise(stacks: list[tuple[list[str], int]], top: int) -> dict:
    total = sum(n for _, n in stacks) or 1
    buckets: Counter[str] = Counter()
    self_time: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    for frames, n in stacks:
        joined = ";".join(frames)
        bucket = next((name for name, pat in BUCKETS if re.search(pat, joined)), "other")
        buckets[bucket] += n
        self_time[short(frames[-1])] += n
        for name in {short(f) for f in frames}:
            inclusive[name] += n
    pct = lambda c: [(k, round(100 * v / total, 1)) for k, v in c.most_common(top)]  # noqa: E731
    return {
        "samples": total,
        "buckets": pct(buckets),
        "self": pct(self_time),
        "inclusive": pct(inclusive),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="+", type=Path)
    ap.add_argument("--top", type=int, default=20)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    report = {}
    for f in args.files:
        s = summarise(parse(f), args.top)
        report[f.name] = s
        print(f"\n== {f.name}: {s['samples']} samples (on-CPU)")
        for title in ("buckets", "self", "inclusive"):
            print(f"  -- {title}")
            for name, p in s[title]:
                print(f"  {p:5.1f} %  {name[:150]}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
