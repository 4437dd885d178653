"""Where a vLLM server's front end spends its CPU on the app's requests (issue 17, lever 1).

    .venv/bin/pip install py-spy        # or: pip install -e .[bench]
    .venv/bin/python benchmarks/front_end_profile.py [--users 4] [--seconds 20] [--out DIR]

Starts the tiny CPU vLLM engine of the tests (the app's ManagedEngine, `.cache/engine-venv`), puts
the app's own load on it (`qwen3vl-agent bench`, one prepared 1344x768 screenshot at the 1024
budget + a question per request, no cache, every image distinct), and lets py-spy sample the API
server process (the front end: HTTP, chat template, tokenising, image decode, HF processor,
hashing, detokenising) and the EngineCore process for `--seconds`. Prints each one's CPU by bucket
(benchmarks/h200/pyspy_summary.py) and writes the collapsed stacks and the summary to `--out`.

What transfers to the GPU server: the front end runs the same Python for a request whatever the
model size (same image size, same processor), so its *shares* are what a GPU server's API process
spends on these requests; the tokenizer is the tiny model's (smaller vocabulary than the real one),
and the EngineCore here also runs the model on the CPU, so only the API server's profile is read.
The CPU build is vLLM 0.32, the GPU sittings ran 0.25.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks" / "h200"))

from pyspy_summary import parse, summarise  # noqa: E402

from tests.support.engine_fixtures import running_tiny_engine  # noqa: E402


def py_spy() -> str:
    exe = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(exe).exists():
        sys.exit("py-spy is missing: .venv/bin/pip install py-spy (or pip install -e .[bench])")
    return exe


def record(pid: int, seconds: float, out: Path, gil: bool = False) -> subprocess.Popen[bytes]:
    cmd = [py_spy(), "record", "--nonblocking", "-r", "97", "-d", str(int(seconds)), "-f", "raw"]
    cmd += ["--gil"] if gil else []
    return subprocess.Popen(
        [*cmd, "-o", str(out), "-p", str(pid)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )


async def main_async(args: argparse.Namespace) -> dict[str, object]:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    async with running_tiny_engine() as engine:
        api_pid = engine.server_pid
        assert api_pid is not None, "the engine did not report its server's pid"
        core = [
            p
            for p in psutil.Process(api_pid).children(recursive=True)
            if "EngineCore" in " ".join(p.cmdline())
        ]
        bench = [
            sys.executable, "-m", "qwen3vl_agent", "bench", "--endpoint", engine.base_url,
            "--model", engine.served_model_name, "--users", str(args.users), "--duration",
            str(args.seconds + 15), "--no-cache", "--budget", "1024", "--max-tokens", str(args.max_tokens),
            "--out", str(out / "load.json"),
        ]  # fmt: skip
        if engine.api_key:
            bench += ["--api-key", engine.api_key]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        with (out / "load.log").open("wb") as load_log:
            load = await asyncio.create_subprocess_exec(*bench, env=env, stdout=load_log, stderr=load_log)
        await asyncio.sleep(10)  # past the first requests (compile paths, connections)
        if load.returncode is not None:
            sys.exit(f"the load generator stopped at once: {(out / 'load.log').read_text()[-1500:]}")
        spies = {"api_server": record(api_pid, args.seconds, out / "api_server.txt")}
        spies["api_server_gil"] = record(api_pid, args.seconds, out / "api_server_gil.txt", gil=True)
        if core:
            spies["engine_core"] = record(core[0].pid, args.seconds, out / "engine_core.txt")
        for name, spy in spies.items():
            _, err = await asyncio.to_thread(spy.communicate)
            if spy.returncode != 0:
                print(f"py-spy on {name} failed: {err.decode(errors='replace')[-300:]}")
        await load.wait()
    report: dict[str, object] = {}
    for name in spies:
        path = out / f"{name}.txt"
        if path.exists():
            report[name] = summarise(parse(path), args.top)
    try:
        report["load"] = json.loads((out / "load.json").read_text())
    except (OSError, ValueError):
        report["load"] = None
    (out / "summary.json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=4, help="closed-loop users of the app's bench")
    parser.add_argument("--seconds", type=float, default=20.0, help="how long py-spy samples")
    parser.add_argument("--max-tokens", type=int, default=16)
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--out", default=tempfile.mkdtemp(prefix="front-end-profile-"))
    args = parser.parse_args()
    report = asyncio.run(main_async(args))
    for name, summary in report.items():
        if name == "load" or not isinstance(summary, dict):
            continue
        print(f"\n== {name}: {summary['samples']} samples")
        for bucket, pct in summary["buckets"]:
            print(f"  {pct:5.1f} %  {bucket}")
        print("  -- top self")
        for func, pct in summary["self"][:10]:
            print(f"  {pct:5.1f} %  {func[:120]}")
    print(f"\nraw stacks and summary.json in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
