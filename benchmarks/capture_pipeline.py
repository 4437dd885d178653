"""Capture of a 1920x1080 monitor to a ready model input: capture + mask + resize + encode.

Starts a private Xvfb (two monitors, the first 1920x1080) unless --display is given, shows a
rendered desktop-like screen on monitor 1 (flat colours and text, as real screens are: a black
screen would make PNG look free), then times, per iteration:
  capture  - ScreenCapturer.capture(monitor 1): thread hand-off, mss grab, to PIL, privacy masks
  prep     - screenshot_to_model_input: resize to the visual-token budget, encode, hash
  total    - both
Run: .venv/bin/python benchmarks/capture_pipeline.py [--iterations 200] [--budget 1024] [--encoding png]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from PIL import Image, ImageDraw  # noqa: E402

from qwen3vl_agent.config import PrivacySettings  # noqa: E402
from qwen3vl_agent.config import Rect as RectSetting  # noqa: E402
from qwen3vl_agent.percentile import percentile_or_nan  # noqa: E402
from qwen3vl_agent.screen.capture import CaptureTarget, ScreenCapturer  # noqa: E402
from qwen3vl_agent.screen.model_input import screenshot_to_model_input  # noqa: E402


def screen_content(size: tuple[int, int]) -> Image.Image:
    """A desktop-like screen; the project's benchmark renderer when present, else a simple one."""
    try:
        from qwen3vl_agent.bench.images import render_desktop

        return render_desktop(1, size).convert("RGB")
    except ImportError:
        img = Image.new("RGB", size, (236, 239, 244))
        d = ImageDraw.Draw(img)
        for i in range(60):
            y = 20 + i * 17
            d.text(
                (40, y),
                f"Field {i}: customer address payment total amount {i * 37 % 1000}",
                fill=(20, 20, 20),
            )
            d.rectangle((900, y, 1400, y + 14), outline=(120, 120, 160), fill=(255, 255, 255))
        return img


def show(display_name: str, image: Image.Image) -> object:
    """Put `image` in a window at (0, 0) on the display; keep the returned handle alive."""
    from Xlib import X, display

    d = display.Display(display_name)
    screen = d.screen()
    w = screen.root.create_window(
        0,
        0,
        image.width,
        image.height,
        0,
        screen.root_depth,
        X.InputOutput,
        X.CopyFromParent,
        background_pixel=0,
        override_redirect=True,
    )
    w.map()
    d.sync()
    gc = w.create_gc()
    for top in range(0, image.height, 64):  # in strips: one request must stay under the X limit
        strip = image.crop((0, top, image.width, min(top + 64, image.height)))
        w.put_pil_image(gc, 0, top, strip)
    d.sync()
    return (d, w)


def show_windows(display_name: str, count: int) -> object:
    """`count` small titled windows on monitor 2 (one of them to be masked by title)."""
    from Xlib import X, display

    d = display.Display(display_name)
    screen = d.screen()
    for i in range(count):
        w = screen.root.create_window(
            2000 + 20 * i,
            200 + 20 * i,
            200,
            120,
            0,
            screen.root_depth,
            X.InputOutput,
            X.CopyFromParent,
            background_pixel=0x808080 + i,
            override_redirect=True,
        )
        w.set_wm_name("Password manager" if i == count // 2 else f"Window {i}")
        w.map()
    d.sync()
    return d


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--iterations", type=int, default=200)
    ap.add_argument("--budget", type=int, default=1024, help="visual-token budget (agent default 1024)")
    ap.add_argument("--encoding", default="png", choices=["png", "webp", "jpeg"])
    ap.add_argument("--display", help="use this running X display instead of a private Xvfb")
    args = ap.parse_args()

    load_before = f"{os.getloadavg()[0]:.1f}"
    proc = None
    if args.display:
        os.environ["DISPLAY"] = args.display
    else:
        from tests.support.xvfb import start_xvfb

        proc, disp = start_xvfb()
        os.environ["DISPLAY"] = disp.name
        os.environ["XAUTHORITY"] = str(disp.xauthority)
    try:
        handle = show(os.environ["DISPLAY"], screen_content((1920, 1080)))
        privacy = PrivacySettings(masked_rects=[RectSetting(left=1500, top=40, width=300, height=200)])
        by_title = PrivacySettings(
            masked_rects=privacy.masked_rects, masked_window_titles=["Password manager"]
        )
        handle = (handle, show_windows(os.environ["DISPLAY"], 20))
        rows = []
        variants = (("no masks", None), ("1 masked rect", privacy), ("1 rect + 1 window title", by_title))
        for label, priv in variants:
            cap_ms, prep_ms, total_ms = [], [], []
            with ScreenCapturer(privacy=priv) as capturer:
                for i in range(args.iterations + 10):
                    t0 = time.perf_counter()
                    shot = capturer.capture(CaptureTarget.monitor(1))
                    t1 = time.perf_counter()
                    mi = screenshot_to_model_input(shot, args.budget, args.encoding)  # type: ignore[arg-type]
                    t2 = time.perf_counter()
                    if i >= 10:  # warm-up
                        cap_ms.append((t1 - t0) * 1000)
                        prep_ms.append((t2 - t1) * 1000)
                        total_ms.append((t2 - t0) * 1000)
            rows.append((label, cap_ms, prep_ms, total_ms, mi))
        del handle
        print(
            f"monitor 1920x1080 -> {mi.image.width}x{mi.image.height} ({mi.image.visual_tokens} visual tokens), "
            f"{args.encoding}, {len(mi.image.data) / 1024:.0f} KiB, {args.iterations} iterations"
        )
        print(f"load average before/after: {load_before} / {os.getloadavg()[0]:.1f} (2 cores)")
        print("| masks | stage | median ms | p99 ms | min ms |")
        print("| --- | --- | ---: | ---: | ---: |")
        for label, cap_ms, prep_ms, total_ms, _ in rows:
            for stage, vals in (("capture", cap_ms), ("prep", prep_ms), ("total", total_ms)):
                print(
                    f"| {label} | {stage} | {statistics.median(vals):.1f} | {percentile_or_nan(vals, 99):.1f} | {min(vals):.1f} |"
                )
    finally:
        if proc is not None:
            from tests.support.xvfb import stop_xvfb

            stop_xvfb(proc)


if __name__ == "__main__":
    main()
