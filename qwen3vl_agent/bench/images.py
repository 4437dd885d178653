"""Benchmark images: rendered forms, documents and desktop-like screens, or noise for comparison.

Real screenshots are mostly flat colour and text: they compress to a few hundred KiB as PNG,
while noise (what `vllm bench serve --dataset-name random-mm` sends) compresses to nothing and
overstates the cost of moving and decoding images. Each image drawn for a request gets a nonce
stamped into a corner, so no two requests share pixels unless a repeat is asked for on purpose.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

SCREEN_SIZE = (1920, 1080)
PAGE_SIZE = (1240, 1754)  # A4 at 150 dpi
FONT_DIRS = (
    Path("/usr/share/fonts/truetype/dejavu"),
    Path("/usr/share/fonts/dejavu"),
    Path("/usr/share/fonts/TTF"),
)
WORDS = [
    "invoice",
    "customer",
    "address",
    "payment",
    "total",
    "amount",
    "date",
    "order",
    "number",
    "shipping",
    "billing",
    "city",
    "country",
    "email",
    "phone",
    "name",
    "submit",
    "cancel",
    "settings",
    "profile",
    "account",
    "search",
    "results",
    "document",
    "report",
    "status",
    "project",
    "budget",
    "quarter",
    "revenue",
    "contract",
    "supplier",
    "delivery",
    "warehouse",
    "item",
    "quantity",
    "price",
    "tax",
    "discount",
    "notes",
    "approved",
    "pending",
    "review",
    "schedule",
    "meeting",
    "agenda",
    "owner",
    "team",
    "region",
    "product",
]
FIELD_LABELS = (
    "First name",
    "Last name",
    "Email",
    "Phone",
    "Street",
    "City",
    "Postcode",
    "Country",
    "Company",
    "Order number",
    "Amount",
    "Date of birth",
    "Account",
    "Reference",
)


class ImageKind(StrEnum):
    FORM = "form"
    DOCUMENT = "document"
    DESKTOP = "desktop"
    PAGE = "page"  # a scanned-looking document page (OCR workload), A4 portrait
    NOISE = "noise"


REALISTIC_SCREEN_KINDS = (ImageKind.FORM, ImageKind.DOCUMENT, ImageKind.DESKTOP)


@lru_cache(maxsize=32)
def _font(name: str, size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    for folder in FONT_DIRS:
        path = folder / name
        if path.exists():
            return ImageFont.truetype(str(path), size)
    return ImageFont.load_default(size=size)


def _sans(size: int, bold: bool = False) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return _font("DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf", size)


def _serif(size: int, bold: bool = False) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return _font("DejaVuSerif-Bold.ttf" if bold else "DejaVuSerif.ttf", size)


def _mono(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return _font("DejaVuSansMono.ttf", size)


def _sentence(rng: random.Random, lo: int, hi: int) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(lo, hi))]
    return " ".join(words).capitalize() + "."


def _wrap(draw: ImageDraw.ImageDraw, text: str, font: object, width: int) -> list[str]:
    lines: list[str] = []
    line = ""
    for word in text.split():
        trial = f"{line} {word}".strip()
        if draw.textlength(trial, font=font) <= width:  # type: ignore[arg-type]
            line = trial
        else:
            lines.append(line)
            line = word
    if line:
        lines.append(line)
    return lines


def _title_bar(d: ImageDraw.ImageDraw, box: tuple[int, int, int, int], title: str) -> None:
    x0, y0, x1, _ = box
    d.rectangle([x0, y0, x1, y0 + 34], fill=(228, 228, 232))
    d.text((x0 + 12, y0 + 8), title, font=_sans(16, bold=True), fill=(25, 25, 25))
    for i, colour in enumerate([(237, 106, 94), (245, 191, 79), (98, 197, 84)]):
        cx = x1 - 20 - i * 24
        d.ellipse([cx - 7, y0 + 10, cx + 7, y0 + 24], fill=colour)


def _taskbar(d: ImageDraw.ImageDraw, rng: random.Random, w: int, h: int) -> None:
    d.rectangle([0, h - 44, w, h], fill=(32, 33, 36))
    x = 12
    for name in ("Files", "Browser", "Terminal", "Mail", "Editor", "Calendar")[: rng.randint(3, 6)]:
        tw = int(d.textlength(name, font=_sans(15)))
        d.rounded_rectangle([x, h - 38, x + tw + 24, h - 6], radius=6, fill=(60, 62, 68))
        d.text((x + 12, h - 30), name, font=_sans(15), fill=(235, 235, 235))
        x += tw + 36
    d.text(
        (w - 80, h - 30),
        f"{rng.randint(8, 18):02d}:{rng.randint(0, 59):02d}",
        font=_sans(15),
        fill=(235, 235, 235),
    )


def render_form(seed: int, size: tuple[int, int] = SCREEN_SIZE) -> Image.Image:
    """A browser window with a web form: labels, input boxes (some filled), checkboxes, buttons."""
    rng = random.Random(seed)
    w, h = size
    img = Image.new("RGB", size, (rng.randint(20, 60), rng.randint(60, 100), rng.randint(100, 140)))
    d = ImageDraw.Draw(img)
    _taskbar(d, rng, w, h)
    box = (40, 30, w - 40, h - 64)
    d.rectangle(box, fill=(250, 250, 250), outline=(140, 140, 140))
    _title_bar(d, box, f"{rng.choice(WORDS).title()} registration — Browser")
    d.rectangle([box[0], box[1] + 35, box[2], box[1] + 75], fill=(241, 243, 244))
    d.rounded_rectangle(
        [box[0] + 90, box[1] + 42, box[2] - 200, box[1] + 68], radius=12, fill=(255, 255, 255)
    )
    d.text(
        (box[0] + 106, box[1] + 47),
        f"https://portal.example.com/{rng.choice(WORDS)}/form?id={rng.randint(1000, 99999)}",
        font=_sans(14),
        fill=(60, 60, 60),
    )
    left = box[0] + 120
    y = box[1] + 110
    d.text(
        (left, y),
        f"{rng.choice(WORDS).title()} {rng.choice(WORDS)} form",
        font=_sans(30, bold=True),
        fill=(20, 20, 20),
    )
    y += 56
    for line in _wrap(d, _sentence(rng, 18, 30), _sans(16), 1100):
        d.text((left, y), line, font=_sans(16), fill=(80, 80, 80))
        y += 24
    y += 20
    labels = rng.sample(FIELD_LABELS, k=min(len(FIELD_LABELS), rng.randint(8, 12)))
    col_w = 780
    for i, label in enumerate(labels):
        cx = left + (i % 2) * (col_w + 60)
        cy = y + (i // 2) * 86
        d.text(
            (cx, cy),
            label + (" *" if rng.random() < 0.4 else ""),
            font=_sans(16, bold=True),
            fill=(45, 45, 45),
        )
        d.rectangle([cx, cy + 26, cx + col_w, cy + 62], outline=(160, 160, 170), fill=(255, 255, 255))
        if rng.random() < 0.5:
            d.text(
                (cx + 10, cy + 34),
                " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 3))).title(),
                font=_sans(17),
                fill=(20, 20, 20),
            )
    y += ((len(labels) + 1) // 2) * 86 + 10
    for i in range(rng.randint(2, 3)):
        d.rectangle(
            [left, y + i * 34, left + 20, y + i * 34 + 20], outline=(90, 90, 90), fill=(255, 255, 255)
        )
        if rng.random() < 0.5:
            d.line(
                [left + 4, y + i * 34 + 10, left + 9, y + i * 34 + 16, left + 17, y + i * 34 + 4],
                fill=(20, 110, 220),
                width=3,
            )
        d.text((left + 32, y + i * 34 + 1), _sentence(rng, 5, 10), font=_sans(16), fill=(40, 40, 40))
    by = min(y + 120, box[3] - 70)
    d.rounded_rectangle([left, by, left + 160, by + 46], radius=6, fill=(26, 115, 232))
    d.text((left + 48, by + 12), "Submit", font=_sans(18, bold=True), fill=(255, 255, 255))
    d.rounded_rectangle(
        [left + 180, by, left + 340, by + 46], radius=6, outline=(120, 120, 120), fill=(245, 245, 245)
    )
    d.text((left + 226, by + 12), "Cancel", font=_sans(18), fill=(40, 40, 40))
    return img


def render_document(seed: int, size: tuple[int, int] = SCREEN_SIZE) -> Image.Image:
    """A document viewer on a desktop: a page with headings, paragraphs and a table."""
    rng = random.Random(seed)
    w, h = size
    img = Image.new("RGB", size, (90, 92, 96))
    d = ImageDraw.Draw(img)
    _taskbar(d, rng, w, h)
    box = (0, 0, w, h - 44)
    _title_bar(d, box, f"{rng.choice(WORDS)}_{rng.choice(WORDS)}_{rng.randint(2019, 2026)}.pdf — Viewer")
    d.rectangle([0, 35, 260, h - 44], fill=(60, 62, 66))
    for i in range(8):
        d.rectangle([40, 60 + i * 120, 220, 160 + i * 120], fill=(245, 245, 245))
    page_w = int(w * 0.55)
    px = 260 + (w - 260 - page_w) // 2
    d.rectangle([px, 55, px + page_w, h - 44], fill=(255, 255, 255))
    _draw_page_content(d, rng, (px + 70, 100, px + page_w - 70, h - 60), scale=1.0)
    return img


def _draw_page_content(
    d: ImageDraw.ImageDraw, rng: random.Random, box: tuple[int, int, int, int], scale: float
) -> None:
    x0, y0, x1, y1 = box
    y = y0
    s = lambda v: max(8, int(v * scale))  # noqa: E731
    d.text(
        (x0, y),
        f"{rng.choice(WORDS).title()} {rng.choice(WORDS).title()} Report",
        font=_serif(s(30), bold=True),
        fill=(0, 0, 0),
    )
    y += s(56)
    while y < y1 - s(40):
        r = rng.random()
        if r < 0.15:
            d.text(
                (x0, y),
                f"{rng.randint(1, 9)}. {rng.choice(WORDS).title()} {rng.choice(WORDS)}",
                font=_serif(s(21), bold=True),
                fill=(10, 10, 10),
            )
            y += s(38)
        elif r < 0.3 and y < y1 - s(220):
            cols = rng.randint(3, 5)
            rows = rng.randint(3, 6)
            cw = (x1 - x0) // cols
            for rr in range(rows + 1):
                for cc in range(cols):
                    cell = [x0 + cc * cw, y, x0 + (cc + 1) * cw, y + s(30)]
                    d.rectangle(cell, outline=(120, 120, 120), fill=(235, 235, 240) if rr == 0 else None)
                    text = (
                        rng.choice(WORDS).title()
                        if rr == 0
                        else (f"{rng.uniform(0, 9999):.2f}" if cc else rng.choice(WORDS))
                    )
                    d.text(
                        (cell[0] + 6, cell[1] + s(6)),
                        text,
                        font=_sans(s(15), bold=rr == 0),
                        fill=(20, 20, 20),
                    )
                y += s(30)
            y += s(20)
        else:
            font = _serif(s(17))
            for line in _wrap(d, _sentence(rng, 25, 60), font, x1 - x0):
                if y > y1 - s(30):
                    break
                d.text((x0, y), line, font=font, fill=(25, 25, 25))
                y += s(26)
            y += s(14)


def render_desktop(seed: int, size: tuple[int, int] = SCREEN_SIZE) -> Image.Image:
    """Overlapping windows: a file list, a terminal, a mail list and a settings panel."""
    rng = random.Random(seed)
    w, h = size
    img = Image.new("RGB", size, (38 + rng.randint(0, 30), 64, 96))
    d = ImageDraw.Draw(img)
    for i in range(rng.randint(4, 8)):
        d.rectangle([24, 24 + i * 100, 88, 88 + i * 100], fill=(200, 200, 120) if i % 2 else (160, 190, 230))
        d.text((16, 92 + i * 100), rng.choice(WORDS)[:9], font=_sans(13), fill=(255, 255, 255))
    _taskbar(d, rng, w, h)
    windows = [(140, 50, 1080, 760), (980, 90, 1860, 620), (520, 560, 1500, 1010)]
    rng.shuffle(windows)
    for n, box in enumerate(windows):
        d.rectangle(box, fill=(250, 250, 250), outline=(110, 110, 110))
        kind = (n + seed) % 3
        if kind == 0:
            _title_bar(d, box, "Files — " + rng.choice(WORDS))
            y = box[1] + 50
            while y < box[3] - 24:
                d.rectangle([box[0] + 16, y + 2, box[0] + 32, y + 18], fill=(230, 190, 80))
                name = f"{rng.choice(WORDS)}_{rng.choice(WORDS)}.{rng.choice(['pdf', 'csv', 'png', 'docx'])}"
                d.text((box[0] + 44, y), name, font=_sans(15), fill=(30, 30, 30))
                d.text(
                    (box[2] - 260, y),
                    f"{rng.randint(1, 999)} KB   2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
                    font=_sans(15),
                    fill=(90, 90, 90),
                )
                y += 26
        elif kind == 1:
            d.rectangle([box[0], box[1] + 35, box[2], box[3]], fill=(24, 24, 28))
            _title_bar(d, box, "Terminal")
            y = box[1] + 48
            while y < box[3] - 20:
                line = f"$ {rng.choice(['ls', 'cat', 'grep', 'git log', 'python'])} {rng.choice(WORDS)} {rng.choice(WORDS)}"
                d.text(
                    (box[0] + 12, y),
                    line if rng.random() < 0.4 else _sentence(rng, 3, 9),
                    font=_mono(15),
                    fill=(80, 220, 120) if line[0] == "$" else (220, 220, 220),
                )
                y += 21
        else:
            _title_bar(d, box, "Settings — " + rng.choice(WORDS).title())
            y = box[1] + 56
            while y < box[3] - 40:
                label = rng.choice(FIELD_LABELS)
                d.text((box[0] + 24, y + 4), label, font=_sans(16), fill=(40, 40, 40))
                if rng.random() < 0.5:
                    on = rng.random() < 0.5
                    d.rounded_rectangle(
                        [box[2] - 90, y, box[2] - 40, y + 26],
                        radius=13,
                        fill=(52, 120, 246) if on else (190, 190, 190),
                    )
                    cx = box[2] - 53 if on else box[2] - 77
                    d.ellipse([cx - 11, y + 2, cx + 11, y + 24], fill=(255, 255, 255))
                else:
                    d.rectangle(
                        [box[2] - 300, y, box[2] - 40, y + 28], outline=(160, 160, 160), fill=(255, 255, 255)
                    )
                    d.text((box[2] - 292, y + 5), rng.choice(WORDS), font=_sans(15), fill=(30, 30, 30))
                y += 44
    return img


def render_page(seed: int, size: tuple[int, int] = PAGE_SIZE) -> Image.Image:
    """A document page as a scanner or a PDF renderer gives it (white, A4 portrait)."""
    rng = random.Random(seed)
    img = Image.new("RGB", size, (255, 255, 255))
    d = ImageDraw.Draw(img)
    margin = int(size[0] * 0.09)
    _draw_page_content(d, rng, (margin, margin, size[0] - margin, size[1] - margin), scale=size[0] / 1000)
    d.text(
        (size[0] // 2 - 20, size[1] - margin // 2),
        f"- {rng.randint(1, 40)} -",
        font=_serif(18),
        fill=(60, 60, 60),
    )
    return img


def render_noise(seed: int, size: tuple[int, int] = SCREEN_SIZE) -> Image.Image:
    """Uniform noise: incompressible, like vLLM's random-mm dataset."""
    arr = np.random.default_rng(seed).integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
    return Image.fromarray(arr, "RGB")


RENDERERS = {
    ImageKind.FORM: render_form,
    ImageKind.DOCUMENT: render_document,
    ImageKind.DESKTOP: render_desktop,
    ImageKind.PAGE: render_page,
    ImageKind.NOISE: render_noise,
}


def render(kind: ImageKind, seed: int) -> Image.Image:
    return RENDERERS[kind](seed)


def stamp_nonce(image: Image.Image, nonce: str) -> Image.Image:
    """A copy of `image` with `nonce` drawn in the bottom-left corner (a few hundred pixels change)."""
    out = image.copy()
    d = ImageDraw.Draw(out)
    font = _mono(13)
    tw = int(d.textlength(nonce, font=font))
    d.rectangle([2, out.height - 18, 8 + tw, out.height - 2], fill=(0, 0, 0))
    d.text((5, out.height - 17), nonce, font=font, fill=(255, 255, 0))
    return out


@dataclass
class ImagePool:
    """A few base images, each drawn once; `make(i, nonce)` gives request i its own variant cheaply."""

    bases: list[Image.Image]
    names: list[str]

    def make(self, index: int, nonce: str | None) -> Image.Image:
        base = self.bases[index % len(self.bases)]
        return stamp_nonce(base, nonce) if nonce else base

    def __len__(self) -> int:
        return len(self.bases)


def generate_pool(kinds: Sequence[ImageKind], count: int, seed: int = 0) -> ImagePool:
    """`count` base images cycling through `kinds`, seeded so every run draws the same set."""
    bases: list[Image.Image] = []
    names: list[str] = []
    for i in range(count):
        kind = kinds[i % len(kinds)]
        bases.append(render(kind, seed * 100_003 + i))
        names.append(f"{kind.value}-{seed}-{i:03d}")
    return ImagePool(bases, names)


def load_pool(folder: Path, limit: int | None = None) -> ImagePool:
    """Images from a folder of real screenshots or pages (png, jpg, jpeg, webp, bmp), sorted by name."""
    from qwen3vl_agent.errors import ImageError

    files = sorted(
        p for p in folder.iterdir() if p.suffix.lower() in {".png", ".jpg", ".jpeg", ".webp", ".bmp"}
    )
    if limit:
        files = files[:limit]
    if not files:
        raise ImageError(
            f"No images (png, jpg, webp, bmp) in {folder}", "point --image-dir at a folder of screenshots"
        )
    bases: list[Image.Image] = []
    for f in files:
        try:
            with Image.open(f) as im:
                bases.append(im.convert("RGB"))
        except OSError as exc:
            raise ImageError(f"Cannot read image {f}: {exc}") from exc
    return ImagePool(bases, [f.name for f in files])


def write_pool(pool: ImagePool, folder: Path) -> list[Path]:
    """Save the pool's base images as PNG (e.g. to build a folder for `--image-dir`)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for img, name in zip(pool.bases, pool.names, strict=True):
        path = folder / f"{name}.png"
        img.save(path, "PNG", compress_level=6)
        paths.append(path)
    return paths
