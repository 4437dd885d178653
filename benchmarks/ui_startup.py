"""Desktop app benchmarks: cold start to an interactive window, UI-thread stalls during a
200-page OCR job and during an agent run, and the memory of the idle app.

    .venv/bin/python benchmarks/ui_startup.py [--pages 200] [--steps 20] [--runs 5]

Start-up: the real `.venv/bin/qwen3vl-agent` process on a private Xvfb, engine not started
(QWEN3VL_AGENT_NO_ENGINE=1); "interactive" = the window is shown and the Qt event loop has
run its first turn after `show()` (the app prints READY then). Timed from `Popen`.
Stalls: a QTimer heartbeat every 5 ms on the Qt thread; a stall is a gap > 50 ms between
two beats. The OCR job (Tesseract, scanned pages) and the agent run (dry-run, scripted
policy server, real capture on Xvfb) run in the app's own window code (MainWindow on qasync).
Memory: VmRSS of the idle app process 3 s after the window is up.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
APP = REPO / ".venv" / "bin" / "qwen3vl-agent"
STALL_MS = 50.0
BEAT_MS = 5


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


COMMANDS = {
    "qwen3vl-agent": [str(APP)],
    "python -m qwen3vl_agent.ui": [str(REPO / ".venv" / "bin" / "python"), "-m", "qwen3vl_agent.ui"],
}


def _no_pandas_dir() -> Path:
    """A PYTHONPATH entry where `import pandas` fails, as in the app's own install: pandas is in
    this dev venv (not an app dependency) and sqlite-utils imports it when it can (~0.4 s)."""
    d = Path(tempfile.mkdtemp(prefix="no-pandas-"))
    (d / "pandas").mkdir()
    (d / "pandas" / "__init__.py").write_text("raise ImportError('pandas hidden by the benchmark')\n")
    return d


def startup(
    display: Any, runs: int, command: str = "qwen3vl-agent", hide_pandas: bool = False
) -> dict[str, Any]:
    times, rss = [], []
    for i in range(runs):
        home = Path(tempfile.mkdtemp(prefix="ui-bench-home-"))
        env = display.env()
        env.update(
            QT_QPA_PLATFORM="xcb",
            QWEN3VL_AGENT_HOME=str(home),
            QWEN3VL_AGENT_STARTUP_MARK="1",
            QWEN3VL_AGENT_NO_ENGINE="1",
        )
        if hide_pandas:
            env["PYTHONPATH"] = str(_no_pandas_dir())
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            COMMANDS[command], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("READY"):
                break
        times.append(time.perf_counter() - t0)
        if i == 0:
            time.sleep(3)
            rss.append(rss_mib(proc.pid))
        proc.terminate()
        proc.wait(30)
    return {
        "command": command,
        "pandas": not hide_pandas,
        "first_s": round(times[0], 3),
        "median_s": round(statistics.median(times), 3),
        "max_s": round(max(times), 3),
        "runs": runs,
        "idle_rss_mib": round(rss[0], 1),
    }


class Heartbeat:
    def __init__(self) -> None:
        from PySide6.QtCore import QTimer

        self.gaps: list[float] = []
        self.last = time.perf_counter()
        self.timer = QTimer()
        self.timer.setInterval(BEAT_MS)
        self.timer.timeout.connect(self.beat)

    def start(self) -> None:
        self.t0 = self.last = time.perf_counter()
        self.last_cpu = time.thread_time()
        self.gaps.clear()
        self.stall_at: list[tuple[float, int]] = []
        self.timer.start()

    def beat(self) -> None:
        now = time.perf_counter()
        cpu = time.thread_time()  # CPU time of the Qt thread itself
        gap = (now - self.last) * 1000
        self.gaps.append(gap)
        if gap > STALL_MS:
            busy = (cpu - self.last_cpu) * 1000
            self.stall_at.append((round(now - self.t0, 2), round(gap), round(busy)))
        self.last, self.last_cpu = now, cpu

    def stop(self) -> dict[str, Any]:
        self.timer.stop()
        g = sorted(self.gaps)
        stalls = [x for x in g if x > STALL_MS]
        # a stall in which the Qt thread itself ran for most of the gap was our code blocking it;
        # otherwise the thread was ready but not running (CPU contention, or waiting for the GIL)
        busy = [s for s in self.stall_at if s[2] > 0.5 * s[1]]
        return {
            "beats": len(g),
            "stalls_over_50ms": len(stalls),
            "max_gap_ms": round(g[-1], 1) if g else None,
            "p99_gap_ms": round(g[int(0.99 * (len(g) - 1))], 1) if g else None,
            "stalls_ui_thread_busy": len(busy),
            "max_busy_stall_ms": max((s[1] for s in busy), default=0),
            "stalls_at_s_gap_busy_ms": self.stall_at[:8],
        }


def make_pdf(path: Path, pages: int) -> Path:
    from PIL import Image, ImageDraw

    from tests.support.ocr_documents import SENTENCES, font, write_scanned_pdf

    images = []
    fnt = font(11)
    for i in range(pages):
        img = Image.new("L", (620, 300), 255)
        d = ImageDraw.Draw(img)
        d.text((30, 30), f"Page {i + 1}", font=fnt, fill=0)
        for j in range(3):
            d.text((30, 80 + 40 * j), SENTENCES[(i + j) % len(SENTENCES)][:60], font=fnt, fill=0)
        images.append(img)
    return write_scanned_pdf(path, images)


def in_app(display: Any, pages: int, steps: int) -> dict[str, Any]:
    from PySide6.QtWidgets import QApplication

    from qwen3vl_agent.config import Settings
    from qwen3vl_agent.ui import theme
    from qwen3vl_agent.ui.app import build_context
    from qwen3vl_agent.ui.main_window import MainWindow
    from qwen3vl_agent.ui.qt_loop import QtLoop
    from tests.support.policy_server import PolicyServer, tool_call

    os.environ["DISPLAY"], os.environ["XAUTHORITY"] = display.name, str(display.xauthority)
    os.environ["QT_QPA_PLATFORM"] = "xcb"
    home = Path(tempfile.mkdtemp(prefix="ui-bench-inapp-"))
    os.environ["QWEN3VL_AGENT_HOME"] = str(home)
    pdf = make_pdf(home / "200-pages.pdf", pages)

    server = PolicyServer().start()

    def planner(ctx: Any) -> str:
        if ctx.step < steps - 1:
            x = 100 + (ctx.step * 37) % 800
            return tool_call(
                {"action": "left_click", "coordinate": [x, 500]}, f"Step {ctx.step}: click.", "click"
            )
        return tool_call({"action": "terminate", "status": "success"}, "Done.", "finish")

    server.planner = planner
    app = QApplication.instance() or QApplication([])
    theme.apply_theme(app, "light")
    loop = QtLoop(app, workers=4).loop  # the app's own loop
    settings = Settings.model_validate(
        {
            "engine": {"mode": "endpoints", "endpoints": [{"url": server.url}]},
            "executor": {"stop_hotkey_enabled": False},
        }
    )
    ctx = build_context(settings)
    window = MainWindow(ctx)  # type: ignore[arg-type]
    window.show()
    ctx.core.start()  # type: ignore[attr-defined]
    from qwen3vl_agent.ui.app import preload_modules

    preload_modules()  # as run_app does
    hb = Heartbeat()
    results: dict[str, Any] = {}

    async def main() -> None:
        while not ctx.core.engine_ready.is_set():  # type: ignore[attr-defined]
            await asyncio.sleep(0.05)
        # OCR: CPU engine over the scanned PDF
        pane = window.ocr
        window.tabs.setCurrentWidget(pane)
        pane.add_paths([str(pdf)])
        pane.engine.setCurrentIndex(pane.engine.findData("cpu"))
        await asyncio.sleep(0.5)
        hb.start()
        t0 = time.perf_counter()
        pane.primary_action()
        await asyncio.sleep(0.1)
        while pane.busy:
            await asyncio.sleep(0.1)
        ocr_s = time.perf_counter() - t0
        results["ocr"] = {
            **hb.stop(),
            "pages": pages,
            "seconds": round(ocr_s, 1),
            "pages_per_s": round(pages / ocr_s, 2),
            "done": pane.last_progress.done if pane.last_progress else None,
        }
        # agent: dry run against the scripted policy
        agent = window.agent
        window.tabs.setCurrentWidget(agent)
        while agent.target.count() == 0:
            await asyncio.sleep(0.05)
        agent.task.setPlainText("Click along the form")
        agent.safety.setCurrentIndex(agent.safety.findData("dry-run"))
        agent.step_limit.setValue(steps + 2)
        await asyncio.sleep(0.5)
        hb.start()
        t0 = time.perf_counter()
        agent.primary_action()
        await asyncio.sleep(0.1)
        while agent.busy:
            await asyncio.sleep(0.05)
        agent_s = time.perf_counter() - t0
        executed = sum(1 for e in agent.events if type(e).__name__ == "ActionExecuted")
        results["agent"] = {**hb.stop(), "steps": executed, "seconds": round(agent_s, 1)}
        # idle
        hb.start()
        await asyncio.sleep(3)
        results["idle"] = hb.stop()
        await window.shutdown_work()

    with loop:
        loop.run_until_complete(main())
    server.stop()
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--startup-only", action="store_true")
    args = parser.parse_args()
    from tests.support.xvfb import start_xvfb, stop_xvfb

    proc, display = start_xvfb()
    try:
        for command in COMMANDS:
            for hide in (False, True):
                print("start-up:", startup(display, args.runs, command, hide), flush=True)
        print(f"load average before the in-app part: {os.getloadavg()}", flush=True)
        if not args.startup_only:
            for name, value in in_app(display, args.pages, args.steps).items():
                print(f"{name}:", value, flush=True)
        print(f"load average at the end: {os.getloadavg()}", flush=True)
    finally:
        stop_xvfb(proc)


if __name__ == "__main__":
    main()
