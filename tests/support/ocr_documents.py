"""Documents with known text for the OCR tests and benchmarks, rendered with real fonts.

Each generator returns the page image (150 dpi A4 unless said) and the exact text on it, in
reading order. PDFs are written with reportlab: with a text layer (real PDF text) or as scans
(the page images only). `cer` is the character error rate after whitespace normalisation.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFilter, ImageFont

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
SANS = FONT_DIR / "DejaVuSans.ttf"
SERIF = FONT_DIR / "DejaVuSerif.ttf"
DPI = 150
A4_PX = (1240, 1754)  # A4 at 150 dpi

SENTENCES = [
    "The quarterly report shows that revenue grew by twelve percent compared with last year.",
    "Please return the signed contract before the end of the month to the address below.",
    "Our warehouse in Hamburg ships orders within two working days of receiving payment.",
    "Die Lieferung erfolgt innerhalb von zwei Wochen nach Eingang der Bestellung.",
    "Les résultats de l'étude seront présentés lors de la réunion du conseil en juin.",
    "All measurements were taken at room temperature and repeated three times for accuracy.",
    "The committee approved the budget for the new library and the renovation of the hall.",
    "Für Rückfragen steht Ihnen unser Kundendienst montags bis freitags gerne zur Verfügung.",
    "Veuillez trouver ci-joint la facture correspondant à votre commande du mois dernier.",
    "Invoice number 48213 is due on 15 March 2024; the total amount is 1,284.50 EUR.",
    "Each participant received a printed copy of the agenda and a list of open questions.",
    "The system processes about nine hundred documents per hour on a single workstation.",
]


@dataclass
class GeneratedPage:
    name: str
    image: Image.Image
    text: str


def font(size_pt: float, path: Path = SANS, dpi: int = DPI) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(path), round(size_pt * dpi / 72))


def _wrap(draw: ImageDraw.ImageDraw, text: str, fnt: ImageFont.FreeTypeFont, width: int) -> list[str]:
    lines: list[str] = []
    current = ""
    for word in text.split():
        trial = f"{current} {word}".strip()
        if draw.textlength(trial, font=fnt) <= width:
            current = trial
        else:
            lines.append(current)
            current = word
    if current:
        lines.append(current)
    return lines


def _paragraphs(rng: random.Random, count: int, per: int = 3) -> list[str]:
    return [" ".join(rng.sample(SENTENCES, per)) for _ in range(count)]


def _draw_column(
    draw: ImageDraw.ImageDraw, paragraphs: list[str], fnt: ImageFont.FreeTypeFont, x: int, y: int, width: int
) -> tuple[list[str], int]:
    line_h = round(fnt.size * 1.35)
    out: list[str] = []
    for para in paragraphs:
        for line in _wrap(draw, para, fnt, width):
            draw.text((x, y), line, font=fnt, fill=0)
            out.append(line)
            y += line_h
        y += line_h // 2
    return out, y


def paragraphs_page(seed: int = 1, size_pt: float = 11, paragraphs: int = 4) -> GeneratedPage:
    rng = random.Random(seed)
    image = Image.new("L", A4_PX, 255)
    draw = ImageDraw.Draw(image)
    lines, _ = _draw_column(
        draw, _paragraphs(rng, paragraphs), font(size_pt, SERIF), 120, 140, A4_PX[0] - 240
    )
    return GeneratedPage(f"paragraphs-{size_pt}pt", image.convert("RGB"), "\n".join(lines))


def small_print_page(seed: int = 2) -> GeneratedPage:
    page = paragraphs_page(seed, size_pt=9, paragraphs=5)
    page.name = "small-9pt"
    return page


def two_column_page(seed: int = 3) -> GeneratedPage:
    rng = random.Random(seed)
    image = Image.new("L", A4_PX, 255)
    draw = ImageDraw.Draw(image)
    fnt = font(10, SERIF)
    col_w = (A4_PX[0] - 240 - 60) // 2
    left, _ = _draw_column(draw, _paragraphs(rng, 3, 2), fnt, 120, 140, col_w)
    right, _ = _draw_column(draw, _paragraphs(rng, 3, 2), fnt, 120 + col_w + 60, 140, col_w)
    return GeneratedPage("two-column", image.convert("RGB"), "\n".join(left + right))


def table_page(seed: int = 4) -> GeneratedPage:
    rng = random.Random(seed)
    image = Image.new("L", A4_PX, 255)
    draw = ImageDraw.Draw(image)
    fnt = font(11)
    header = ["Item", "Quantity", "Unit price", "Total"]
    items = ["Paper A4", "Toner black", "Stapler", "Envelopes", "Folders", "Pens blue", "Notebook", "Labels"]
    rows = [header]
    for item in items:
        qty = rng.randint(1, 40)
        price = rng.randint(100, 9999) / 100
        rows.append([item, str(qty), f"{price:.2f}", f"{qty * price:.2f}"])
    col_x = [120, 470, 720, 960]
    row_h = 60
    y = 160
    for r, row in enumerate(rows):
        for c, cell in enumerate(row):
            draw.text((col_x[c] + 12, y + 14), cell, font=fnt, fill=0)
        draw.line([(120, y), (1120, y)], fill=0, width=2)
        y += row_h
        if r == len(rows) - 1:
            draw.line([(120, y), (1120, y)], fill=0, width=2)
    for x in [*col_x, 1120]:
        draw.line([(x, 160), (x, y)], fill=0, width=2)
    text = "\n".join(" ".join(row) for row in rows)
    return GeneratedPage("table", image.convert("RGB"), text)


def digit_table_page(seed: int = 7) -> GeneratedPage:
    """A table of figures without ruling lines (Tesseract alone reads it column by column)."""
    rng = random.Random(seed)
    image = Image.new("L", A4_PX, 255)
    draw = ImageDraw.Draw(image)
    fnt = font(11)
    title = "Quarterly figures by region"
    draw.text((120, 100), title, font=fnt, fill=0)
    rows = []
    for r in range(14):
        row = [
            str(rng.randint(1000, 99999)),
            f"{rng.randint(10, 999)}.{rng.randint(0, 99):02d}",
            f"{rng.randint(0, 100)}%",
            f"{rng.randint(100000, 9999999):,}",
        ]
        for cell, x in zip(row, (120, 420, 720, 920), strict=True):
            draw.text((x, 180 + 45 * r), cell, font=fnt, fill=0)
        rows.append(" ".join(row))
    return GeneratedPage("digit-table", image.convert("RGB"), "\n".join([title, *rows]))


def rotated_scan_page(seed: int = 5, quarter_turns: int = 1, skew_deg: float = 1.5) -> GeneratedPage:
    """A page turned by 90° steps, slightly skewed, blurred and speckled like a cheap scan."""
    page = paragraphs_page(seed, size_pt=12, paragraphs=3)
    rng = random.Random(seed)
    image = page.image.convert("L").rotate(skew_deg, resample=Image.Resampling.BICUBIC, fillcolor=255)
    image = image.filter(ImageFilter.GaussianBlur(0.6))
    px = image.load()
    assert px is not None
    for _ in range(3000):
        px[rng.randrange(image.width), rng.randrange(image.height)] = rng.choice((0, 90, 200))
    image = image.rotate(90 * quarter_turns, expand=True)
    return GeneratedPage("rotated-scan", image.convert("RGB"), page.text)


def benchmark_pages() -> list[GeneratedPage]:
    return [paragraphs_page(), two_column_page(), table_page(), small_print_page(), rotated_scan_page()]


# ------------------------------------------------------------------ Chinese and Japanese

CJK_FONT = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")  # Debian fonts-noto-cjk
CJK_FACE = {"ja": 0, "zh": 2}  # faces in the collection: JP, KR, SC, TC, HK
ZH_SENTENCES = [
    "本季度报告显示，公司收入比去年同期增长了百分之十二。",
    "请在本月底之前将签好的合同寄回下面的地址。",
    "我们在上海的仓库会在收到付款后两个工作日内发货。",
    "所有测量都在室温下进行，并重复三次以保证准确。",
    "委员会批准了新图书馆的预算以及大厅的翻修计划。",
    "每位参会者都收到了一份打印的议程和待解决问题清单。",
]
JA_SENTENCES = [
    "今四半期の報告によると、売上高は前年同期比で十二パーセント増加しました。",
    "署名済みの契約書を月末までに下記の住所へご返送ください。",
    "東京の倉庫では、お支払いを確認してから二営業日以内に発送いたします。",
    "すべての測定は室温で行い、正確さのために三回繰り返しました。",
]
MIXED_INVOICE = [
    "发票号码 INV-2024-0815 开票日期 2024年3月15日",
    "客户名称 上海明远科技有限公司",
    "商品 Laptop ThinkPad X1 数量 2 单价 9,850.00 元",
    "商品 USB-C Dock 数量 3 单价 1,299.00 元",
    "合计金额 23,597.00 元 (含税 VAT 13%)",
    "备注 Payment due within 30 days 请按时付款",
]


def cjk_font(size_pt: float, script: str = "zh") -> ImageFont.FreeTypeFont:
    if not CJK_FONT.exists():
        raise FileNotFoundError(f"{CJK_FONT} is missing: run scripts/install-system-deps.sh (fonts-noto-cjk)")
    return ImageFont.truetype(str(CJK_FONT), round(size_pt * DPI / 72), index=CJK_FACE[script])


def cjk_lines_page(name: str, lines: list[str], script: str = "zh", size_pt: float = 11) -> GeneratedPage:
    """One line of text per printed line (no wrapping), 1.6 line heights apart."""
    fnt = cjk_font(size_pt, script)
    image = Image.new("L", A4_PX, 255)
    draw = ImageDraw.Draw(image)
    for i, line in enumerate(lines):
        draw.text((120, 140 + i * round(fnt.size * 1.6)), line, font=fnt, fill=0)
    return GeneratedPage(name, image.convert("RGB"), "\n".join(lines))


def chinese_page() -> GeneratedPage:
    return cjk_lines_page("chinese", ZH_SENTENCES)


def japanese_page() -> GeneratedPage:
    return cjk_lines_page("japanese", JA_SENTENCES, "ja")


def mixed_invoice_page() -> GeneratedPage:
    return cjk_lines_page("mixed-invoice", MIXED_INVOICE)


def chinese_two_column_page(seed: int = 3) -> GeneratedPage:
    """Two columns of paragraphs wrapped character by character (Chinese has no spaces)."""
    rng = random.Random(seed)
    fnt = cjk_font(10)
    image = Image.new("L", A4_PX, 255)
    draw = ImageDraw.Draw(image)
    col_w = (A4_PX[0] - 240 - 60) // 2
    out: list[str] = []
    for x in (120, 120 + col_w + 60):
        y = 140
        for _ in range(3):
            line = ""
            for ch in "".join(rng.sample(ZH_SENTENCES, 3)):
                if line and draw.textlength(line + ch, font=fnt) > col_w:
                    draw.text((x, y), line, font=fnt, fill=0)
                    out.append(line)
                    y += round(fnt.size * 1.5)
                    line = ""
                line += ch
            draw.text((x, y), line, font=fnt, fill=0)
            out.append(line)
            y += round(fnt.size * 2.5)
    return GeneratedPage("chinese-two-column", image.convert("RGB"), "\n".join(out))


# ------------------------------------------------------------------ PDFs


def write_scanned_pdf(path: Path, images: list[Image.Image], dpi: int = DPI) -> Path:
    """A PDF whose pages are only images (no text layer), like a scanner makes."""
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    c = canvas.Canvas(str(path))
    for image in images:
        w_pt, h_pt = image.width * 72 / dpi, image.height * 72 / dpi
        c.setPageSize((w_pt, h_pt))
        c.drawImage(ImageReader(image.convert("L")), 0, 0, w_pt, h_pt)
        c.showPage()
    c.save()
    return path


def write_text_pdf(path: Path, pages: list[list[str]], font_size: float = 11) -> Path:
    """A PDF with real text (a text layer), one list of lines per page."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    from reportlab.pdfgen import canvas

    if "DejaVuSans" not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(TTFont("DejaVuSans", str(SANS)))
    c = canvas.Canvas(str(path), pagesize=A4)
    for lines in pages:
        c.setFont("DejaVuSans", font_size)
        y = A4[1] - 72
        for line in lines:
            c.drawString(60, y, line)
            y -= font_size * 1.4
        c.showPage()
    c.save()
    return path


def write_many_page_pdf(path: Path, pages: int) -> Path:
    """A large PDF made cheaply: one short text line per page, written with reportlab."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    c = canvas.Canvas(str(path), pagesize=A4, pageCompression=1)
    for i in range(pages):
        c.setFont("Helvetica", 14)
        c.drawString(72, A4[1] - 100, f"Page {i + 1} of a long report")
        c.showPage()
    c.save()
    return path


def write_zero_page_pdf(path: Path) -> Path:
    """A syntactically valid PDF whose page tree is empty (/Count 0)."""
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [] /Count 0 >>"]
    out = b"%PDF-1.4\n"
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 3\n0000000000 65535 f \n" + b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size 3 /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % xref
    path.write_bytes(out)
    return path


def write_huge_png(path: Path, width: int = 30000, height: int = 30000) -> Path:
    """A real, valid 1-bit PNG of width x height white pixels (about 100 KB on disk)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\x00" + b"\xff" * ((width + 7) // 8)
    comp = zlib.compressobj(9)
    body = b"".join(comp.compress(row) for _ in range(height)) + comp.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", body) + chunk(b"IEND", b""))
    return path


# ------------------------------------------------------------------ scoring


def normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def levenshtein(a: str, b: str) -> int:
    """Edit distance (Myers' bit-parallel algorithm on Python ints: fast for page-sized texts)."""
    if not a:
        return len(b)
    if not b:
        return len(a)
    peq: dict[str, int] = {}
    for i, ch in enumerate(a):
        peq[ch] = peq.get(ch, 0) | (1 << i)
    m = len(a)
    mask = (1 << m) - 1
    last = 1 << (m - 1)
    pv, mv, score = mask, 0, m
    for ch in b:
        eq = peq.get(ch, 0)
        xv = eq | mv
        xh = (((eq & pv) + pv) ^ pv) | eq
        ph = (mv | ~(xh | pv)) & mask
        mh = pv & xh
        if ph & last:
            score += 1
        elif mh & last:
            score -= 1
        ph = ((ph << 1) | 1) & mask
        mh = (mh << 1) & mask
        pv = (mh | ~(xv | ph)) & mask
        mv = ph & xv
    return score


def cer(reference: str, hypothesis: str) -> float:
    ref, hyp = normalise(reference), normalise(hypothesis)
    return levenshtein(ref, hyp) / max(1, len(ref))


_CJK = "\u3000-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef"
_SPACE_BY_CJK = re.compile(rf"(?<=[{_CJK}])\s+|\s+(?=[{_CJK}])")


def cjk_cer(reference: str, hypothesis: str) -> float:
    """CER as for Chinese text: whitespace next to a CJK character does not count (whether a
    space separates 号码 from INV is typography, not content; the recogniser drops it)."""
    ref = _SPACE_BY_CJK.sub("", normalise(reference))
    hyp = _SPACE_BY_CJK.sub("", normalise(hypothesis))
    return levenshtein(ref, hyp) / max(1, len(ref))


@pytest.fixture(scope="session")
def ocr_corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Generated documents on disk: PNGs of each page kind, a multi-page TIFF, scanned and text PDFs."""
    root = tmp_path_factory.mktemp("ocr-corpus")
    pages = benchmark_pages()
    files: dict[str, Path] = {}
    for page in pages:
        files[page.name] = root / f"{page.name}.png"
        page.image.save(files[page.name])
    files["tiff"] = root / "two-pages.tiff"
    pages[0].image.copy().save(
        files["tiff"], save_all=True, append_images=[pages[3].image.copy()], compression="tiff_deflate"
    )
    files["scanned-pdf"] = write_scanned_pdf(
        root / "scanned.pdf", [pages[0].image, pages[1].image, pages[2].image]
    )
    files["text-pdf"] = write_text_pdf(
        root / "text.pdf", [["Hello text layer", SENTENCES[0]], [SENTENCES[3]]]
    )
    return files
