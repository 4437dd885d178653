"""Image preparation: time of prepare_image for a 1920x1080 screenshot at a 1024-token budget,
PNG vs WebP vs JPEG (size, time, and what each does to small text), and what each costs the
engine's front end to decode.

    .venv/bin/python benchmarks/image_prep.py [--runs 40] [--no-ocr]

Small text: lines of words and numbers in 11-16 px DejaVu Sans are drawn on a 1920x1080 screen,
prepared for 1024 tokens (scaled by 0.7), encoded, decoded, and read back with Tesseract; the
character accuracy of each encoding is compared with the lossless pixels (what PNG sends).
"""

from __future__ import annotations

import argparse
import difflib
import io
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from qwen3vl_agent.bench.images import ImageKind, render
from qwen3vl_agent.imaging.loading import load_image
from qwen3vl_agent.imaging.prep import encode, pixel_hash, prepare_image, resize_to_budget

BUDGET = 1024
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
VARIANTS = [("png", 0), ("webp", 90), ("jpeg", 90), ("webp", 75), ("jpeg", 75)]


def timed(fn, runs: int) -> tuple[float, float, float, float]:  # type: ignore[no-untyped-def]
    """(wall median, wall p90, wall min, CPU median) in milliseconds after one warm-up call.

    CPU time (all threads of this process) shows the cost on an idle machine when the shared
    dev box is loaded by other work.
    """
    fn()
    wall, cpu = [], []
    for _ in range(runs):
        c = time.process_time()
        t = time.perf_counter()
        fn()
        wall.append((time.perf_counter() - t) * 1000)
        cpu.append((time.process_time() - c) * 1000)
    wall.sort()
    return statistics.median(wall), wall[int(0.9 * (len(wall) - 1))], wall[0], statistics.median(cpu)


def small_text_screen(seed: int = 7) -> tuple[Image.Image, list[tuple[int, tuple[int, int, int, int], str]]]:
    """A 1920x1080 screen with blocks of text at several sizes; returns (image, [(px, box, text)])."""
    rng = random.Random(seed)
    words = [
        "invoice",
        "total",
        "amount",
        "customer",
        "street",
        "order",
        "status",
        "approved",
        "pending",
        "tax",
    ]
    img = Image.new("RGB", (1920, 1080), (250, 250, 250))
    draw = ImageDraw.Draw(img)
    blocks = []
    y = 20
    for px in (9, 10, 11, 12, 14):
        font = ImageFont.truetype(FONT, px)
        lines = []
        top = y
        for _ in range(6):
            line = " ".join(
                rng.choice(words) if rng.random() < 0.6 else f"{rng.randint(0, 99999):05d}" for _ in range(12)
            )
            draw.text((40, y), line, fill=(30, 30, 30), font=font)
            lines.append(line)
            y += int(px * 1.6)
        blocks.append((px, (20, top - 4, 1400, y + 4), "\n".join(lines)))
        y += 30
    return img, blocks


def ocr_accuracy(image: Image.Image, truth: str) -> float:
    import pytesseract

    big = image.resize((image.width * 3, image.height * 3), Image.Resampling.LANCZOS)
    text = pytesseract.image_to_string(big, config="--psm 6")
    norm = lambda s: " ".join(s.split())  # noqa: E731
    return difflib.SequenceMatcher(None, norm(text), norm(truth)).ratio()


def psnr(a: Image.Image, b: Image.Image) -> float:
    x = np.asarray(a, dtype=np.float64)
    y = np.asarray(b, dtype=np.float64)
    mse = float(np.mean((x - y) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255**2 / mse)


def server_decode_costs(runs: int) -> None:
    """What the engine's front end pays per image before its processor runs (issue 17, lever 1):
    base64 decode of the data URL, then Pillow's open + load + RGB, for each way the app could
    encode the same prepared screenshot. The client's encode time is beside it."""
    import base64

    encoders: list[tuple[str, Callable[[Image.Image], bytes]]] = [
        ("PNG, own writer (unfiltered, zlib 1): the default", lambda im: encode(im, "png")),
        (
            "PNG, Pillow compress_level 1 (adaptive filters)",
            lambda im: pil_bytes(im, "PNG", compress_level=1),
        ),
        ("PNG, Pillow compress_level 6", lambda im: pil_bytes(im, "PNG", compress_level=6)),
        ("WebP lossless, method 0", lambda im: pil_bytes(im, "WEBP", lossless=True, method=0)),
        ("WebP lossless, method 4", lambda im: pil_bytes(im, "WEBP", lossless=True, method=4)),
        ("WebP q90 (lossy)", lambda im: encode(im, "webp")),
        ("JPEG q90 4:4:4 (lossy)", lambda im: encode(im, "jpeg")),
    ]
    print(f"\n## Server-side decode per image (base64 + Pillow open/load/RGB), ms over {runs} runs\n")
    print("| screen | encoding | KiB | client encode ms | server decode ms (wall median / CPU median) |")
    print("| --- | --- | ---: | ---: | ---: |")
    for kind in (ImageKind.DESKTOP, ImageKind.FORM, ImageKind.DOCUMENT):
        resized = resize_to_budget(render(kind, 1), BUDGET)
        for name, enc in encoders:
            data = enc(resized)
            url = base64.b64encode(data)
            enc_ms = timed(lambda: enc(resized), max(5, runs // 4))[0]  # noqa: B023
            wall, _, _, cpu = timed(
                lambda: Image.open(io.BytesIO(base64.b64decode(url))).convert("RGB"),  # noqa: B023
                runs,
            )
            print(
                f"| {kind.value} | {name} | {len(data) / 1024:.0f} | {enc_ms:.1f} | {wall:.1f} / {cpu:.1f} |"
            )


def pil_bytes(image: Image.Image, fmt: str, **params: object) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **params)
    return buf.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--no-ocr", action="store_true")
    args = parser.parse_args()

    print(
        f"## prepare_image, 1920x1080 -> {BUDGET}-token budget, ms over {args.runs} runs (wall median / p90 / min / CPU median)\n"
    )
    print("| screen | encoding | size KiB | from PIL image ms | from PNG file bytes ms |")
    print("| --- | --- | ---: | ---: | ---: |")
    for kind in (ImageKind.DESKTOP, ImageKind.FORM, ImageKind.DOCUMENT):
        shot = render(kind, 1)
        buf = io.BytesIO()
        shot.save(buf, "PNG")
        file_bytes = buf.getvalue()
        for enc, q in VARIANTS[:3]:
            prepared = prepare_image(shot, BUDGET, enc, quality=q)  # type: ignore[arg-type]
            mem = timed(lambda: prepare_image(shot, BUDGET, enc, quality=q), args.runs)  # type: ignore[arg-type]  # noqa: B023
            disk = timed(lambda: prepare_image(file_bytes, BUDGET, enc, quality=q), max(5, args.runs // 4))  # type: ignore[arg-type]  # noqa: B023
            name = "png" if enc == "png" else f"{enc} q{q}"
            print(
                f"| {kind.value} | {name} | {len(prepared.data) / 1024:.0f} | "
                + " / ".join(f"{v:.1f}" for v in mem)
                + " | "
                + " / ".join(f"{v:.1f}" for v in disk)
                + " |"
            )
    shot = render(ImageKind.DESKTOP, 1)
    resized = resize_to_budget(shot, BUDGET)
    print(f"\nSteps for the desktop screen ({resized.width}x{resized.height}), wall / CPU median ms:")
    for name, fn in [
        ("load/convert (already RGB)", lambda: load_image(shot)),
        ("resize (bilinear, two bands on two threads)", lambda: resize_to_budget(shot, BUDGET)),
        ("resize (bilinear, one call)", lambda: shot.resize(resized.size, Image.Resampling.BILINEAR)),
        ("encode PNG: own writer, unfiltered, zlib 1", lambda: encode(resized, "png")),
        ("encode PNG: Pillow, compress_level 1", lambda: resized.save(io.BytesIO(), "PNG", compress_level=1)),
        ("encode WebP q90 method 0", lambda: encode(resized, "webp")),
        ("encode JPEG q90 4:4:4", lambda: encode(resized, "jpeg")),
        ("pixel hash (blake2b)", lambda: pixel_hash(resized)),
    ]:
        wall, _, _, cpu = timed(fn, args.runs)
        print(f"- {name}: {wall:.1f} / {cpu:.1f}")

    server_decode_costs(args.runs)
    if args.no_ocr:
        return
    screen, blocks = small_text_screen()
    reference = resize_to_budget(screen, BUDGET)  # lossless: exactly what PNG sends
    print(
        f"\n## Small text after preparation (1920x1080 -> {reference.width}x{reference.height}: text scaled by 0.70; Tesseract character accuracy)\n"
    )
    header = "| encoding | KiB | PSNR dB | " + " | ".join(f"OCR {px}px" for px, _, _ in blocks) + " |"
    print(header)
    print("|" + " --- |" * (3 + len(blocks)))
    scale = reference.width / screen.width
    for enc, q in VARIANTS:
        data = encode(reference, enc, q)  # type: ignore[arg-type]
        decoded = Image.open(io.BytesIO(data)).convert("RGB")
        accs = []
        for _, (x0, y0, x1, y1), truth in blocks:
            box = tuple(int(v * scale) for v in (x0, y0, x1, y1))
            accs.append(ocr_accuracy(decoded.crop(box), truth))
        print(
            f"| {'png (lossless)' if enc == 'png' else f'{enc} q{q}'} | {len(data) / 1024:.0f} | {psnr(reference, decoded):.1f} | "
            + " | ".join(f"{a:.3f}" for a in accs)
            + " |"
        )


if __name__ == "__main__":
    main()
