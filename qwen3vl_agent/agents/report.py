"""A self-contained HTML report of one agent run: every screenshot sent, where the click landed.

One file, no external resources: screenshots are inlined as data URLs, and the marker is an
SVG drawn over the image on the model's own grid (the action's coordinate in model space), so
the report shows exactly what the model saw and where it pointed; the mapped screen point
is printed beside it. Everything from the model is HTML-escaped.
"""

from __future__ import annotations

import base64
import html
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from qwen3vl_agent.file_modes import private_mkdir, write_private_bytes
from qwen3vl_agent.storage.trajectories import RunRecord, StepRecord

_MIME = {".png": "image/png", ".webp": "image/webp", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}

_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}
h1{font-size:1.4em} .meta td{padding:2px 12px 2px 0;vertical-align:top}
.step{border:1px solid #ccc;border-radius:6px;margin:1.2em 0;padding:.8em}
.step h2{font-size:1.05em;margin:0 0 .5em}
.shot{position:relative;display:inline-block;max-width:100%}
.shot img{display:block;max-width:100%;height:auto;border:1px solid #999}
.shot svg{position:absolute;left:0;top:0;width:100%;height:100%;pointer-events:none}
.thought{white-space:pre-wrap;background:#f6f6f6;padding:.4em .6em;border-radius:4px}
pre{white-space:pre-wrap;word-break:break-word;background:#fafafa;padding:.4em;border:1px solid #eee}
.err{color:#a00} .ok{color:#070} table.t td{padding:1px 10px 1px 0}
"""


def _esc(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _data_url(path: str | None) -> str | None:
    if not path:
        return None
    p = Path(path)
    if not p.exists():
        return None
    mime = _MIME.get(p.suffix.lower(), "application/octet-stream")
    return f"data:{mime};base64,{base64.b64encode(p.read_bytes()).decode('ascii')}"


def _marker_svg(actions: list[dict[str, Any]], grid: tuple[int, int]) -> str:
    """Markers for every pointer action of a step, drawn in model space (0..grid)."""
    shapes: list[str] = []
    r = max(grid) * 0.012
    for n, action in enumerate(actions, 1):
        coord = action.get("coordinate")
        start = action.get("start_coordinate")
        if start and coord:
            shapes.append(
                f'<line x1="{start[0]}" y1="{start[1]}" x2="{coord[0]}" y2="{coord[1]}" '
                f'stroke="#e00" stroke-width="{r / 3:.2f}" />'
            )
        if coord:
            x, y = coord
            shapes.append(
                f'<circle cx="{x}" cy="{y}" r="{r:.2f}" fill="none" stroke="#e00" stroke-width="{r / 3:.2f}" />'
                f'<line x1="{x - 2 * r}" y1="{y}" x2="{x + 2 * r}" y2="{y}" stroke="#e00" stroke-width="{r / 5:.2f}"/>'
                f'<line x1="{x}" y1="{y - 2 * r}" x2="{x}" y2="{y + 2 * r}" stroke="#e00" stroke-width="{r / 5:.2f}"/>'
                f'<text x="{x + 1.5 * r}" y="{y - 1.5 * r}" fill="#e00" font-size="{2.5 * r:.1f}">{n}</text>'
            )
    if not shapes:
        return ""
    return (
        f'<svg viewBox="0 0 {grid[0]} {grid[1]}" preserveAspectRatio="none" xmlns="http://www.w3.org/2000/svg">'
        + "".join(shapes)
        + "</svg>"
    )


def _grid_of(run: RunRecord, step: StepRecord, grid: int) -> tuple[int, int]:
    """The model's coordinate grid for a step: 0..grid, or the sent image's pixels (absolute mode)."""
    if run.settings.get("coordinate_mode") == "absolute" and step.image_width and step.image_height:
        return (step.image_width, step.image_height)
    return (grid, grid)


def _fmt_s(value: float | None) -> str:
    return "–" if value is None else f"{value * 1000:.1f} ms"


def _describe(action: dict[str, Any] | None) -> str:
    if action is None:
        return "(no action)"
    from qwen3vl_agent.actions.model import Action

    try:
        return Action.from_json(action).describe()
    except (KeyError, ValueError):
        return json.dumps(action, ensure_ascii=False)


def render_report(run: RunRecord, steps: list[StepRecord]) -> str:
    """The report as one HTML string."""
    grid = int(run.settings.get("grid", 1000))
    started = datetime.fromtimestamp(run.started_at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    duration = f"{run.finished_at - run.started_at:.1f} s" if run.finished_at else "unfinished"
    out = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>Agent run {run.id}</title><style>{_CSS}</style></head><body>",
        f"<h1>Agent run {run.id}: {_esc(run.status)} ({_esc(run.outcome or '–')})</h1>",
        "<table class='meta'>",
        f"<tr><td>Task</td><td><pre>{_esc(run.task)}</pre></td></tr>",
        f"<tr><td>Mode</td><td>{_esc(run.mode)}</td></tr>",
        f"<tr><td>Started</td><td>{started} ({duration})</td></tr>",
        f"<tr><td>Target</td><td>{_esc(json.dumps(run.target))}</td></tr>",
    ]
    if run.answer:
        out.append(f"<tr><td>Answer</td><td>{_esc(run.answer)}</td></tr>")
    if run.message:
        out.append(f"<tr><td>Message</td><td>{_esc(run.message)}</td></tr>")
    if run.data_row:
        out.append(f"<tr><td>Data row</td><td>{_esc(json.dumps(run.data_row, ensure_ascii=False))}</td></tr>")
    out.append("</table>")
    by_step: dict[int, list[StepRecord]] = {}
    for s in steps:
        by_step.setdefault(s.step_index, []).append(s)
    for index, rows in by_step.items():
        first = rows[0]
        actions = [r.action for r in rows if r.action]
        out.append(f"<div class='step' id='step-{index}'><h2>Step {index}</h2>")
        url = _data_url(first.screenshot_path)
        if url:
            out.append(
                f"<div class='shot'><img src='{url}' alt='screenshot of step {index}' "
                f"width='{first.image_width or ''}' height='{first.image_height or ''}'>"
                f"{_marker_svg(actions, _grid_of(run, first, grid))}</div>"
            )
        elif first.screenshot_path:
            out.append(f"<p class='err'>screenshot missing: {_esc(first.screenshot_path)}</p>")
        if first.thought:
            out.append(f"<p class='thought'>{_esc(first.thought)}</p>")
        out.append("<table class='t'>")
        for n, r in enumerate(rows, 1):
            point = f" → screen point {r.point}" if r.point else ""
            if r.execution and r.execution.get("risk", {}).get("risky"):
                point += f" [risky: {'; '.join(r.execution['risk'].get('reasons', []))}]"
            cls = "err" if r.error else "ok"
            out.append(
                f"<tr><td>{n}.</td><td>{_esc(_describe(r.action))}{_esc(point)}</td>"
                f"<td class='{cls}'>{_esc(r.outcome)}</td><td class='err'>{_esc(r.error or '')}</td></tr>"
            )
        out.append("</table>")
        out.append(
            "<table class='t'><tr>"
            f"<td>capture {_fmt_s(first.capture_s)}</td><td>prepare {_fmt_s(first.prepare_s)}</td>"
            f"<td>queue {_fmt_s(first.queue_wait_s)}</td><td>inference {_fmt_s(first.inference_s)}</td>"
            f"<td>execution {_fmt_s(rows[-1].execution_s)}</td>"
            f"<td>tokens {first.prompt_tokens or 0} in / {first.completion_tokens or 0} out</td></tr></table>"
        )
        out.append(f"<details><summary>model output</summary><pre>{_esc(first.raw_text)}</pre></details>")
        out.append("</div>")
    if not by_step:
        out.append("<p>No steps were recorded.</p>")
    out.append("</body></html>")
    return "\n".join(out)


def write_report(run: RunRecord, steps: list[StepRecord], path: Path) -> Path:
    """Write the report owner-only (0600), wherever it goes: it embeds screenshots and the data row."""
    if not path.parent.exists():
        private_mkdir(path.parent)
    tmp = path.with_suffix(path.suffix + ".tmp")
    write_private_bytes(tmp, render_report(run, steps).encode("utf-8"))
    tmp.replace(path)
    return path
