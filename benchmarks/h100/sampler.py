"""Sample GPU utilisation and per-process CPU while a benchmark step runs (device script).

Usage: python3 sampler.py OUT.json  (runs until SIGTERM; then writes means and maxima)
Processes are grouped by their title (vLLM names them: APIServer, EngineCore, ...) so the
report shows whether the API server, the engine core or the GPU is the busy one.
"""

import json
import os
import signal
import sys
import time
from collections import defaultdict

OUT = sys.argv[1]
TICK = os.sysconf("SC_CLK_TCK")
stop = False


def on_term(*_):
    global stop
    stop = True


signal.signal(signal.SIGTERM, on_term)
signal.signal(signal.SIGINT, on_term)

try:
    import pynvml

    pynvml.nvmlInit()
    handle = pynvml.nvmlDeviceGetHandleByIndex(0)
except Exception:
    handle = None


def procs():
    out = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
            with open(f"/proc/{pid}/stat") as f:
                parts = f.read().rsplit(")", 1)[1].split()
            ticks = int(parts[11]) + int(parts[12])
        except OSError:
            continue
        if not cmd or not any(
            k in cmd for k in ("vllm", "VLLM", "APIServer", "EngineCore", "bench", "qwen3vl")
        ):
            continue
        name = cmd.split()[0] if cmd.startswith(("VLLM", "APIServer", "EngineCore")) else cmd[:60]
        if "vllm.entrypoints.openai.api_server" in cmd or "bin/vllm serve" in cmd:
            name = "api_server (main)"
        elif "bench serve" in cmd:
            name = "client: vllm bench serve"
        elif "appbench" in cmd:
            name = "client: qwen3vl-agent bench"
        out[int(pid)] = (name, ticks)
    return out


gpu, mem = [], []
cpu = defaultdict(list)
prev = procs()
prev_t = time.time()
while not stop:
    time.sleep(1.0)
    now = procs()
    t = time.time()
    dt = t - prev_t
    per = defaultdict(float)
    for pid, (name, ticks) in now.items():
        if pid in prev:
            per[name] += (ticks - prev[pid][1]) / TICK / dt * 100
    for name, v in per.items():
        cpu[name].append(v)
    if handle is not None:
        try:
            gpu.append(pynvml.nvmlDeviceGetUtilizationRates(handle).gpu)
            mem.append(pynvml.nvmlDeviceGetMemoryInfo(handle).used / 2**30)
        except Exception:
            pass
    prev, prev_t = now, t


def stats(xs):
    if not xs:
        return None
    s = sorted(xs)
    return {
        "mean": round(sum(xs) / len(xs), 1),
        "p90": round(s[int(0.9 * (len(s) - 1))], 1),
        "max": round(max(xs), 1),
    }


with open(OUT, "w") as f:
    json.dump(
        {
            "seconds": len(gpu),
            "gpu_util_pct": stats(gpu),
            "gpu_mem_gib": stats(mem),
            "cpu_pct_by_process": {k: stats(v) for k, v in sorted(cpu.items())},
        },
        f,
        indent=1,
    )
