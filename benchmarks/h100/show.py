"""One line per result file: QPS, TTFT and end-to-end p50/p99 (vllm bench serve or qwen3vl-agent bench);
rows/min and req/s per workspace count for benchmarks/workspaces.py's lists (row D)."""

import json
import sys


def workspace_line(name, r):
    """One setting of benchmarks/workspaces.py (row D): a list of these per result file."""
    fwd = f"  fwd p50/p90 {r.get('forward_ms_p50')} / {r.get('forward_ms_p90')} ms  fwd errors {r.get('forward_errors')}"
    return (
        f"{name:<22} N={r['workspaces']:<3} rows {r['done']}/{r['rows']} {r['rows_per_min']:7.1f} rows/min"
        f" {r['requests_per_s']:6.2f} req/s  once {r['submitted_once']}  start {r['start_s']} s{fwd if 'forwarded' in r else ''}"
    )


def line(path):
    with open(path) as f:
        d = json.load(f)
    name = path.rsplit("/", 1)[-1][:-5]
    if isinstance(d, list):
        return "\n".join(workspace_line(name, r) for r in d)
    if "summary" in d:
        s = d["summary"]
        hit = f" hit {s['hit_rate']:.0%}" if s["hits"] else ""
        return (
            f"{name:<22} {s['qps']:7.2f} req/s  ttft p50/p99 {s['ttft_ms']['p50'] or 0:8.0f} / {s['ttft_ms']['p99'] or 0:8.0f}"
            f"  e2e p50/p99 {s['e2e_ms']['p50']:8.0f} / {s['e2e_ms']['p99']:8.0f}  ok {s['ok']}/{s['sent']}"
            f" ptok {s['prompt_tokens_mean']} img {s['image_size']}{hit}"
        )
    return (
        f"{name:<22} {d['request_throughput']:7.2f} req/s  ttft p50/p99 {d['median_ttft_ms']:8.0f} / {d['p99_ttft_ms']:8.0f}"
        f"  e2e p50/p99 {d['median_e2el_ms']:8.0f} / {d['p99_e2el_ms']:8.0f}  ok {d['completed']}/{d['num_prompts']}"
        f" failed {d.get('failed')}"
    )


for p in sys.argv[1:]:
    try:
        print(line(p))
    except Exception as exc:  # a broken file must not hide the others
        print(p, "unreadable:", exc)
