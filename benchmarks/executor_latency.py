"""Executor latency per primitive beyond pyautogui's own pause, which pause X11 needs, and how fast
the stop hotkey lands. Runs its own Xvfb (two monitors) and the real Qt test form on monitor 2.

    .venv/bin/python benchmarks/executor_latency.py [--repeats 40] [--fills 8] [--stops 10]

1. Latency: every action kind through `ActionExecutor` with pause 0, against the same input
   events sent with bare pyautogui (PAUSE 0) in the same process. The difference per primitive
   is what the executor adds (worker hand-off, ordering, stop checks, monitor check, futures).
2. Reliability vs pause: full form fills (click, ASCII, click, Unicode paste, checkbox, Submit,
   each row checked against what the form recorded) at several pause settings.
3. Stop: a long `type` interrupted by the hotkey sent with xdotool; time from the hotkey to the
   stop flag and to `ExecutionStopped` in the caller.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from qwen3vl_agent.actions.model import Action, ActionType, ResolvedAction
from qwen3vl_agent.config import ExecutorSettings, SafetySettings
from qwen3vl_agent.executor import ActionExecutor, ExecutionStopped
from qwen3vl_agent.percentile import percentile_or_nan
from tests.support.form_app_fixture import FormApp
from tests.support.xvfb import start_xvfb, stop_xvfb

A = ActionType


def timed(fn: Callable[[], object], repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def latency(repeats: int) -> None:
    """On an empty desktop (no client reacts to the events), so only our code and the X server count."""
    import pyautogui

    pyautogui.PAUSE = 0.0
    name = (700, 500)
    pad_l, pad_t, pad_w = 400, 300, 800
    scroll = (900, 600)
    ex = ActionExecutor(SafetySettings(mode="auto", pyautogui_pause_s=0.0), ExecutorSettings(drag_steps=12))
    ex.execute_sync(ResolvedAction(Action(A.LEFT_CLICK), point=name))  # warm-up: display, hotkey, mss

    def drag_raw() -> None:
        pyautogui.moveTo(pad_l + 20, pad_t + 40)
        pyautogui.mouseDown()
        for i in range(1, 13):
            pyautogui.moveTo(pad_l + 20 + (pad_w - 60) * i // 12, pad_t + 40)
        pyautogui.mouseUp()

    def key_raw() -> None:
        pyautogui.keyDown("ctrl")
        pyautogui.keyDown("a")
        pyautogui.keyUp("a")
        pyautogui.keyUp("ctrl")

    cases: list[tuple[str, ResolvedAction, Callable[[], object], int]] = [
        ("mouse_move", ResolvedAction(Action(A.MOUSE_MOVE), point=name), lambda: pyautogui.moveTo(*name), 1),
        (
            "left_click",
            ResolvedAction(Action(A.LEFT_CLICK), point=name),
            lambda: (pyautogui.moveTo(*name), pyautogui.mouseDown(), pyautogui.mouseUp()),
            3,
        ),
        ("key ctrl+a", ResolvedAction(Action(A.KEY, keys=("ctrl", "a"))), key_raw, 4),
        (
            "type 8 ASCII chars",
            ResolvedAction(Action(A.TYPE, text="abcdefgh")),
            lambda: pyautogui.write("abcdefgh"),
            2,
        ),
        (
            "scroll 3 clicks",
            ResolvedAction(Action(A.SCROLL, pixels=-300), point=scroll),
            lambda: (pyautogui.moveTo(*scroll), pyautogui.scroll(-3)),
            2,
        ),
        (
            "drag (12 steps)",
            ResolvedAction(
                Action(A.LEFT_CLICK_DRAG),
                start_point=(pad_l + 20, pad_t + 40),
                point=(pad_l + pad_w - 40, pad_t + 40),
            ),
            drag_raw,
            15,
        ),
    ]
    print("\n## 1. Latency with pause 0 on an empty desktop, ms per action: executor vs bare pyautogui")
    print(f"repeats: {repeats} (alternating executor and bare runs)")
    print("| action | primitives | executor median | executor p95 | pyautogui median | added per primitive |")
    print("| --- | --- | --- | --- | --- | --- |")
    for label, resolved, raw, prims in cases:
        ex_ms: list[float] = []
        raw_ms: list[float] = []
        for _ in range(repeats):
            ex_ms += timed(lambda r=resolved: ex.execute_sync(r), 1)
            raw_ms += timed(raw, 1)
        added = (statistics.median(ex_ms) - statistics.median(raw_ms)) / prims
        print(
            f"| {label} | {prims} | {statistics.median(ex_ms):.2f} | {percentile_or_nan(ex_ms, 95):.2f} | "
            f"{statistics.median(raw_ms):.2f} | {added:+.3f} |"
        )
    ex.close()


def paste_latency(form: FormApp, repeats: int) -> None:
    ex = ActionExecutor(SafetySettings(mode="auto", pyautogui_pause_s=0.0))
    ex.execute_sync(ResolvedAction(Action(A.LEFT_CLICK), point=form.widget_center("name")))
    uni = timed(lambda: ex.execute_sync(ResolvedAction(Action(A.TYPE, text="Zürich"))), repeats)
    asc = timed(lambda: ex.execute_sync(ResolvedAction(Action(A.TYPE, text="Zurich"))), repeats)
    ex.close()
    print("\n## 1b. Typing into the real Qt form (pause 0), ms per action")
    print(
        f"type 'Zurich' (pyautogui.write, 2 pieces): median {statistics.median(asc):.1f}, p95 {percentile_or_nan(asc, 95):.1f}"
    )
    print(
        f"type 'Zürich' (save clipboard, xclip owns it, ctrl+v, wait for Qt's request, restore): "
        f"median {statistics.median(uni):.1f}, p95 {percentile_or_nan(uni, 95):.1f}"
    )


def fill(ex: ActionExecutor, form: FormApp, row: dict[str, str]) -> None:
    def click(widget: str, dx: int = 0) -> None:
        x, y = form.widget_center(widget)
        ex.execute_sync(ResolvedAction(Action(A.LEFT_CLICK), point=(x + dx, y)))

    click("name")
    ex.execute_sync(ResolvedAction(Action(A.TYPE, text=row["name"])))
    click("city")
    ex.execute_sync(ResolvedAction(Action(A.TYPE, text=row["city"])))
    click("subscribe", dx=-form.widget_rect("subscribe")[2] // 2 + 8)
    click("submit")


def reliability(form: FormApp, fills: int) -> None:
    rows = [
        {"name": f"Ada Lovelace {i}", "city": ["Zürich", "東京", "Genève 😀"][i % 3]} for i in range(fills)
    ]
    print("\n## 2. Form fills vs pause (6 actions, 16 primitives per fill)")
    print("| pause_s | fills correct | median s per fill |")
    print("| --- | --- | --- |")
    for pause in (0.0, 0.005, 0.01, 0.02, 0.05):
        form.reset()
        ex = ActionExecutor(SafetySettings(mode="auto", pyautogui_pause_s=pause))
        times = []
        for row in rows:
            t0 = time.perf_counter()
            fill(ex, form, row)
            times.append(time.perf_counter() - t0)
        ex.close()
        time.sleep(0.5)
        got = form.submissions()
        correct = sum(
            1
            for i, row in enumerate(rows)
            if i < len(got)
            and got[i]["name"] == row["name"]
            and got[i]["city"] == row["city"]
            and got[i]["subscribe"]
        )
        print(f"| {pause} | {correct}/{fills} | {statistics.median(times):.3f} |")


def stop_latency(form: FormApp, runs: int) -> None:
    flag_ms: list[float] = []
    raised_ms: list[float] = []
    env = form.display.env()
    for _ in range(runs):
        form.reset()
        ex = ActionExecutor(SafetySettings(mode="auto"))
        ex.execute_sync(ResolvedAction(Action(A.LEFT_CLICK), point=form.widget_center("name")))
        sent: dict[str, float] = {}

        def press(sent: dict[str, float] = sent) -> None:
            form.wait_for(lambda s: len(s["name"]) >= 12, timeout=30)
            sent["t"] = time.monotonic()
            subprocess.run(["xdotool", "key", "ctrl+alt+Escape"], env=env, check=True)

        th = threading.Thread(target=press)
        th.start()
        try:
            ex.execute_sync(ResolvedAction(Action(A.TYPE, text="0123456789" * 40)))
        except ExecutionStopped:
            raised_ms.append((time.monotonic() - sent["t"]) * 1000)
            flag_ms.append(((ex.stop_signal.at or 0) - sent["t"]) * 1000)
        th.join()
        ex.close()
    print("\n## 3. Stop hotkey during a long type (xdotool key ctrl+alt+Escape)")
    print(f"runs: {runs}, stopped: {len(flag_ms)}")
    if flag_ms:
        print(
            f"hotkey sent -> stop flag: median {statistics.median(flag_ms):.1f} ms, max {max(flag_ms):.1f} ms"
        )
        print(
            f"hotkey sent -> ExecutionStopped in the caller (keys released): median "
            f"{statistics.median(raised_ms):.1f} ms, max {max(raised_ms):.1f} ms  (xdotool's own run included)"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=40)
    parser.add_argument("--fills", type=int, default=8)
    parser.add_argument("--stops", type=int, default=10)
    args = parser.parse_args()
    print(f"load average at start: {' '.join(f'{x:.1f}' for x in os.getloadavg())} ({os.cpu_count()} CPUs)")
    workdir = Path(tempfile.mkdtemp(prefix="executor-bench-"))
    proc, display = start_xvfb(workdir=workdir)
    os.environ.update(DISPLAY=display.name, XAUTHORITY=str(display.xauthority))
    form = None
    try:
        latency(args.repeats)
        form = FormApp(display, display.monitors[1], workdir)
        form.reset()
        paste_latency(form, max(5, args.repeats // 2))
        reliability(form, args.fills)
        stop_latency(form, args.stops)
        print(f"load average at end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    finally:
        if form is not None:
            form.close()
        stop_xvfb(proc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
