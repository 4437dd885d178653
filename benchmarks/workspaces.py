"""Parallel form filling in agent workspaces: rows/minute for N workspaces, cost per step, memory.

    .venv/bin/python benchmarks/workspaces.py [--counts 1,2,4] [--rows-per-workspace 4] [--delay 0,0.5]

For each N: N workspaces (Xvfb of 1100x820 + the real Qt test form launched inside each), the
scripted policy server (tests/support/policy_server.py; `--delay` seconds of pretend model time
per answer, e.g. 0.5 for a GPU step), ONE inference service for all (the app's queue), and the
product's parallel batch (`agents.parallel_batch` over `agents.workspace_lanes`: claims, XTest
input, mss capture of each display). Reported per N:

  * rows/minute over the batch (workspaces already started; start-up is reported apart);
  * client-side cost per step (the loop's own timings): capture -> request ready, and
    response -> action executed (XTest events with the configured pause);
  * memory per workspace: RSS of its processes (X server + the form app, guards included) and the
    growth of this process per workspace (capture thread, executor thread, connections);
  * a check that every row was submitted exactly once (read from each form's own record);
  * the app's own CPU: milliseconds per step and cores used over the batch (this process only).

The scripted server runs in a process of its own (`tests/support/policy_process.py`), like a real
engine: in this process its per-request work shared the app's GIL and slowed the app it measures
(row D of 2026-12-06). `--policy-in-process` runs it here, as before, for comparison.

Through a real GPU model (issue 17, row D): `--forward URL --forward-model M [--forward-api-key K]
[--forward-max-tokens 64]` makes the scripted server send every request first to that engine
(model renamed, `max_tokens` N with `ignore_eos`, so each step costs the GPU a real prefill and
decode) and wait for it, then answer with the planner's action (a dummy-weight model's answers are
garbage). Then also reported: requests/s and the forward time p50/p90 per N. `--out FILE` writes
every setting's figures as JSON.

Through the tiny CPU vLLM engine (the real engine of the tiny-engine tests, `.cache/engine-venv`
serving the random tiny Qwen3-VL, started through the app's ManagedEngine): `--tiny-engine` is
`--forward` to that engine, which this script starts and stops. Its random answers could not fill
a form, so the planner still answers and every row is still checked; what the figures show is the
app's whole path per step with a real vLLM server in it (template, image processing, prefill,
`--forward-max-tokens` decoded tokens) on the same CPU as the workspaces. The engine takes at most
2 images and 4096 tokens a prompt, so this mode sends `agent.history_images` 2 and a 512-token
screenshot budget (`--tiny-budget`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from qwen3vl_agent.agents import events as ev
from qwen3vl_agent.agents.form_fill import BatchOptions
from qwen3vl_agent.agents.parallel_batch import run_parallel_batch
from qwen3vl_agent.agents.workspace_lanes import WorkspacePool
from qwen3vl_agent.config import Settings
from qwen3vl_agent.percentile import percentile_or_nan
from qwen3vl_agent.runtime import build_runtime
from qwen3vl_agent.storage.trajectories import TrajectoryStore
from qwen3vl_agent.workspace import WorkspaceSpec
from tests.support.policy_process import PolicyProcess, PolicyStats, process_cpu_s
from tests.support.policy_server import PolicyServer
from tests.support.workspace_forms import form_planner_for, launch_command, submissions

SIZE = (1100, 820)
NAMES = ["Ada Lovelace", "Jürgen Groß", "Kenji Sato", "Zoë Ñúñez", "Chloé Dubois", "Łukasz Żółw", "Søren Ærø"]
CITIES = ["London", "Zürich", "東京", "São Paulo", "Besançon", "Kraków", "Århus"]
COUNTRIES = ["France", "Switzerland", "Japan", "Brazil", "Germany"]


def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def write_rows(path: Path, count: int) -> None:
    lines = ["name,city,country,subscribe"]
    for i in range(count):
        name = f"{NAMES[i % len(NAMES)]} {i + 1}"
        lines.append(
            f"{name},{CITIES[i % len(CITIES)]},{COUNTRIES[i % len(COUNTRIES)]},{'yes' if i % 2 else 'no'}"
        )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


async def one_setting(
    count: int,
    rows: int,
    delay: float,
    work: Path,
    forward: dict[str, Any] | None = None,
    prompt: dict[str, Any] | None = None,
    policy_in_process: bool = False,
) -> dict[str, Any]:
    state_dir = work / f"forms-{count}-{delay}"
    state_dir.mkdir()
    data = work / f"rows-{count}-{delay}.csv"
    write_rows(data, rows)
    server: PolicyServer | PolicyProcess
    if policy_in_process:
        server = PolicyServer(delay_s=delay, **(forward or {})).start()
        server.planner = form_planner_for(state_dir, (0, 0, *SIZE))
    else:
        server = PolicyProcess(form_planner_for, (state_dir, (0, 0, *SIZE)), delay_s=delay, **(forward or {}))
    overrides = server.settings_overrides()
    if forward:
        overrides["engine"]["request_timeout_s"] = 300.0  # many workspaces queue on one GPU
    settings = Settings(
        **overrides,
        safety={"mode": "auto", "step_limit": 25},
        cache={"enabled": False},
        executor={"stop_hotkey_enabled": False},
        **(prompt or {}),
    )
    store = TrajectoryStore(work / f"db-{count}-{delay}.sqlite3", work / f"shots-{count}-{delay}")
    runtime = await build_runtime(settings)
    timings: list[dict[str, float]] = []

    def on_event(_lane: str, event: Any) -> None:
        if isinstance(event, ev.ActionExecuted):
            timings.append(event.timings)

    spec = WorkspaceSpec(width=SIZE[0], height=SIZE[1], launch=launch_command(state_dir))
    me_before = rss_kib(os.getpid())
    t0 = time.perf_counter()
    try:
        async with WorkspacePool(
            count, spec, settings, model=runtime.service, store=store, mode="auto", on_event=on_event
        ) as pool:
            started_s = time.perf_counter() - t0
            roles = [lane.workspace.pids_by_role() for lane in pool.lanes]
            server_rss = [sum(rss_kib(p) for p in r.get("server", [])) for r in roles]
            app_rss = [sum(rss_kib(p) for p in r.get("app", [])) for r in roles]
            me_after = rss_kib(os.getpid())
            t1, cpu1 = time.perf_counter(), process_cpu_s()
            summary = await run_parallel_batch(BatchOptions("Register this person", data), store, pool.lanes)
            batch_s, app_cpu_s = time.perf_counter() - t1, process_cpu_s() - cpu1
    finally:
        await runtime.close()
        store.close()
        if isinstance(server, PolicyServer):
            server.stop()
            stats = PolicyStats.of(server)
        else:
            stats = server.stop()
    subs = [json.dumps(v, sort_keys=True) for _, v in submissions(state_dir)]
    observe = [t["observe_s"] * 1000 for t in timings if "observe_s" in t]
    act = [t["act_s"] * 1000 for t in timings if "act_s" in t]
    model = [t["model_s"] * 1000 for t in timings if "model_s" in t]  # request ready -> answer, app side
    queued = [t["queue_wait_s"] * 1000 for t in timings if "queue_wait_s" in t]
    # a workspace's wall time per step, and the part of it in none of the measured phases (with
    # the scripted server in this process, or anything else sharing the app's GIL, it grows: row D)
    step_ms = count / (len(timings) / batch_s) * 1000 if timings else float("nan")
    parts = [statistics.mean(x) for x in (observe, model, act) if x]
    fwd = [t * 1000 for t in stats.forward_times]
    forwarded: dict[str, Any] = {}
    if forward:
        forwarded = {
            "forward_to": forward["forward_to"],
            "forward_max_tokens": stats.forward_max_tokens,
            "forwarded": len(fwd),
            "forward_errors": stats.forward_errors,
            "forward_ms_p50": round(statistics.median(fwd), 1) if fwd else None,
            "forward_ms_p90": round(percentile_or_nan(fwd, 90), 1),
        }
    return {
        "workspaces": count,
        "delay_s": delay,
        "rows": rows,
        "done": summary.counts.get("done", 0),
        "submitted_once": len(subs) == len(set(subs)) == rows,
        "start_s": round(started_s, 2),
        "batch_s": round(batch_s, 2),
        "rows_per_min": round(rows / batch_s * 60, 1),
        "steps": len(timings),
        "steps_per_s": round(len(timings) / batch_s, 2),
        "requests": stats.chat_requests,
        "requests_per_s": round(stats.chat_requests / batch_s, 2),
        # the app's process alone (its lanes, queue, client; not the X servers and forms, which are
        # child processes): CPU per step, and cores used while the batch ran
        "policy_in_process": policy_in_process,
        "app_cpu_ms_per_step": round(app_cpu_s * 1000 / max(1, len(timings)), 1),
        "app_cpu_cores": round(app_cpu_s / batch_s, 2),
        "policy_cpu_cores": round(stats.cpu_s / batch_s, 2) if not policy_in_process else None,
        "observe_ms_p50": round(statistics.median(observe), 1) if observe else None,
        "observe_ms_p90": round(percentile_or_nan(observe, 90), 1),
        "act_ms_p50": round(statistics.median(act), 1) if act else None,
        "act_ms_p90": round(percentile_or_nan(act, 90), 1),
        "model_ms_p50": round(statistics.median(model), 1) if model else None,
        "model_ms_p90": round(percentile_or_nan(model, 90), 1),
        "queue_wait_ms_p50": round(statistics.median(queued), 1) if queued else None,
        "step_ms": round(step_ms, 1),
        "step_unaccounted_ms": round(step_ms - sum(parts), 1) if len(parts) == 3 else None,
        "server_rss_mib": round(statistics.mean(server_rss) / 1024, 1),
        "app_rss_mib": round(statistics.mean(app_rss) / 1024, 1),
        "app_growth_per_workspace_mib": round((me_after - me_before) / 1024 / count, 1),
        **forwarded,
    }


async def main_async(args: argparse.Namespace) -> list[dict[str, Any]]:
    if not args.tiny_engine:
        history = {"agent": {"history_images": args.history_images}} if args.history_images else None
        return await run_settings(args, history)
    from tests.support.engine_fixtures import running_tiny_engine

    async with running_tiny_engine() as engine:
        args.forward, args.forward_model = engine.base_url, engine.served_model_name
        args.forward_api_key = engine.api_key
        images = args.history_images or 2
        prompt = {"agent": {"history_images": images}, "images": {"agent_budget_tokens": args.tiny_budget}}
        return await run_settings(args, prompt)


async def run_settings(
    args: argparse.Namespace, prompt: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    results = []
    forward = None
    if args.forward:
        forward = {
            "forward_to": args.forward,
            "forward_model": args.forward_model,
            "forward_api_key": args.forward_api_key,
            "forward_max_tokens": args.forward_max_tokens,
        }
    with tempfile.TemporaryDirectory(prefix="bench-workspaces-") as tmp:
        os.environ["QWEN3VL_AGENT_HOME"] = tmp
        for delay in [float(d) for d in args.delay.split(",")]:
            for count in [int(c) for c in args.counts.split(",")]:
                result = await one_setting(
                    count,
                    count * args.rows_per_workspace,
                    delay,
                    Path(tmp),
                    forward,
                    prompt,
                    args.policy_in_process,
                )
                if prompt:
                    result["prompt_settings"] = prompt
                print(json.dumps(result), flush=True)
                results.append(result)
                if args.out:
                    Path(args.out).write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", default="1,2,4")
    parser.add_argument("--rows-per-workspace", type=int, default=4)
    parser.add_argument("--delay", default="0,0.5", help="pretend model seconds per answer (comma list)")
    parser.add_argument("--forward", default=None, help="a real engine's base URL (.../v1): see above")
    parser.add_argument("--forward-model", default="default", help="the engine's served model name")
    parser.add_argument("--forward-api-key", default=None)
    parser.add_argument(
        "--forward-max-tokens", type=int, default=64, help="tokens the engine decodes per step"
    )
    parser.add_argument(
        "--tiny-engine", action="store_true", help="start the tiny CPU vLLM engine and forward to it"
    )
    parser.add_argument("--tiny-budget", type=int, default=512, help="screenshot tokens with --tiny-engine")
    parser.add_argument(
        "--history-images",
        type=int,
        default=None,
        help="agent.history_images for the runs (screenshots per prompt; default: the app's own)",
    )
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    parser.add_argument(
        "--policy-in-process",
        action="store_true",
        help="run the scripted server in this process (as before 2026-12-06; it then shares the app's GIL)",
    )
    args = parser.parse_args()
    if args.tiny_engine and args.forward:
        parser.error("--tiny-engine starts its own engine: leave out --forward")
    if (args.forward or args.tiny_engine) and args.delay == parser.get_default("delay"):
        args.delay = "0"  # the real engine is the model time
    results = asyncio.run(main_async(args))
    print(
        "\n| delay | N | rows | rows/min | steps/s | capture->ready p50/p90 ms | response->acted p50/p90 ms "
        "| X server RSS MiB | form app RSS MiB | this process +MiB/ws | start s | once |"
    )
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for r in results:
        print(
            f"| {r['delay_s']:g} s | {r['workspaces']} | {r['rows']} | {r['rows_per_min']} | {r['steps_per_s']} "
            f"| {r['observe_ms_p50']} / {r['observe_ms_p90']} | {r['act_ms_p50']} / {r['act_ms_p90']} "
            f"| {r['server_rss_mib']} | {r['app_rss_mib']} | {r['app_growth_per_workspace_mib']} | {r['start_s']} "
            f"| {'yes' if r['submitted_once'] else 'NO'} |"
        )
    if args.forward or args.tiny_engine:
        print(
            "\n| N | rows | rows/min | requests/s | forward p50 / p90 ms | app-side model p50 ms "
            "| step ms (unaccounted) | app CPU ms/step | forward errors | once |"
        )
        print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
        for r in results:
            print(
                f"| {r['workspaces']} | {r['rows']} | {r['rows_per_min']} | {r['requests_per_s']} "
                f"| {r['forward_ms_p50']} / {r['forward_ms_p90']} | {r['model_ms_p50']} "
                f"| {r['step_ms']} ({r['step_unaccounted_ms']}) | {r['app_cpu_ms_per_step']} | {r['forward_errors']} "
                f"| {'yes' if r['submitted_once'] else 'NO'} |"
            )
    return 0 if all(r["submitted_once"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
