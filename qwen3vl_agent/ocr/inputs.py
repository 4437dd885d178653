"""What OCR can read: image files (multi-page TIFF too), PDFs, a screen region, the clipboard, folders.

Documents are addressed page by page (`PageRef`), so a job can render one page at a time: a
2,000-page PDF is never loaded whole, and a worker process can load its own page from a small,
picklable reference. PDFium is not thread-safe, so every PDFium call in this process goes
through `PDFIUM_LOCK`. Problems with a file become `DocumentError`s with a clear reason.
"""

from __future__ import annotations

import fnmatch
import io
import math
import threading
import warnings
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, ImageOps

from qwen3vl_agent.errors import UserFacingError
from qwen3vl_agent.imaging.loading import to_rgb
from qwen3vl_agent.ocr.model import Box, OcrLine

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp", ".gif"}
PDF_SUFFIXES = {".pdf"}
DEFAULT_MAX_PIXELS = 200_000_000
MIN_TEXT_LAYER_CHARS = 3
# a page that is mostly one scanned image with only a stamped line of text is still a scan
SCAN_IMAGE_COVERAGE = 0.5
SCAN_MAX_STAMP_CHARS = 100

PDFIUM_LOCK = threading.RLock()


class DocumentError(UserFacingError):
    """A document or one of its pages cannot be read (encrypted, truncated, empty, too large...)."""


@dataclass(frozen=True)
class PageRef:
    """One page of one document: enough to load it again in any process."""

    path: str
    kind: str  # "image" | "pdf" | "memory"
    index: int


@dataclass
class PageInput:
    """A loaded page: its image (None when the PDF's text layer is used) or its text layer."""

    ref: PageRef
    width: int
    height: int
    image: Image.Image | None = None
    text_lines: list[OcrLine] | None = None  # the PDF's own text, in page pixels at `dpi`
    dpi: int | None = None

    @property
    def text_layer_text(self) -> str:
        return "\n".join(ln.text for ln in self.text_lines or [])


@dataclass(frozen=True)
class LoadOptions:
    dpi: int = 200
    use_text_layer: bool = True
    max_pixels: int = DEFAULT_MAX_PIXELS


def document_kind(path: Path) -> str | None:
    suffix = path.suffix.lower()
    if suffix in PDF_SUFFIXES:
        return "pdf"
    if suffix in IMAGE_SUFFIXES:
        return "image"
    return None


# ---------------------------------------------------------------- discovery


def _matches(rel: str, name: str, patterns: Sequence[str]) -> bool:
    return any(fnmatch.fnmatch(rel, p) or fnmatch.fnmatch(name, p) for p in patterns)


def discover(
    paths: Sequence[str | Path], include: Sequence[str] = (), exclude: Sequence[str] = ()
) -> list[Path]:
    """Files to read, in a stable order: explicit files as given, folders recursively.

    In folders only known document types count; `include`/`exclude` are glob patterns matched
    against the path relative to the folder and against the file name.
    """
    found: list[Path] = []
    seen: set[Path] = set()
    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                if not child.is_file() or document_kind(child) is None:
                    continue
                rel = child.relative_to(path).as_posix()
                if include and not _matches(rel, child.name, include):
                    continue
                if exclude and _matches(rel, child.name, exclude):
                    continue
                if child.resolve() not in seen:
                    seen.add(child.resolve())
                    found.append(child)
        elif path.exists():
            if path.resolve() not in seen:
                seen.add(path.resolve())
                found.append(path)
        else:
            raise DocumentError(f"No such file or folder: {path}")
    return found


# ---------------------------------------------------------------- PDFs

_open_pdfs: OrderedDict[str, Any] = OrderedDict()
_MAX_OPEN_PDFS = 2


def _pdf_error(path: str, exc: Exception) -> DocumentError:
    text = str(exc)
    if "password" in text.lower():
        return DocumentError(f"{path} is an encrypted PDF", "decrypt it first (e.g. qpdf --decrypt)")
    # PDFium gives no specific error for an empty page tree (its error code is then stale)
    return DocumentError(f"{path} is not a readable PDF (damaged, truncated or without pages): {text}")


def _open_pdf(path: str) -> Any:
    """An open PdfDocument from a small per-process LRU (call with PDFIUM_LOCK held)."""
    import pypdfium2 as pdfium

    doc = _open_pdfs.get(path)
    if doc is not None:
        _open_pdfs.move_to_end(path)
        return doc
    try:
        doc = pdfium.PdfDocument(path)
    except (pdfium.PdfiumError, OSError) as exc:
        raise _pdf_error(path, exc) from exc
    _open_pdfs[path] = doc
    while len(_open_pdfs) > _MAX_OPEN_PDFS:
        _, old = _open_pdfs.popitem(last=False)
        old.close()
    return doc


def close_cached_pdfs() -> None:
    with PDFIUM_LOCK:
        while _open_pdfs:
            _, doc = _open_pdfs.popitem()
            doc.close()


def pdf_page_count(path: str) -> int:
    with PDFIUM_LOCK:
        return len(_open_pdf(path))


def _pdf_text_lines(textpage: Any, page_height_pt: float, scale: float) -> list[OcrLine]:
    """The text layer as lines with pixel boxes (PDF points, origin bottom-left, to pixels)."""
    lines: list[OcrLine] = []
    for i in range(textpage.count_rects()):
        left, bottom, right, top = textpage.get_rect(i)
        text = textpage.get_text_bounded(left, bottom, right, top).strip()
        if not text:
            continue
        box = Box(
            left * scale, (page_height_pt - top) * scale, right * scale, (page_height_pt - bottom) * scale
        )
        lines.append(OcrLine(text=text.replace("\r\n", " ").replace("\n", " "), box=box, confidence=1.0))
    return lines


def _image_coverage(page: Any, w_pt: float, h_pt: float) -> float:
    """Share of the page covered by its largest image (a scan is one page-sized image)."""
    import pypdfium2.raw as pdfium_c

    largest = 0.0
    for obj in page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE], max_depth=2):
        left, bottom, right, top = obj.get_bounds()
        largest = max(largest, max(0.0, right - left) * max(0.0, top - bottom))
    return largest / max(1.0, w_pt * h_pt)


def _usable_text_layer(page: Any, lines: list[OcrLine], w_pt: float, h_pt: float) -> bool:
    chars = sum(len(ln.text) for ln in lines)
    if chars < MIN_TEXT_LAYER_CHARS:
        return False
    # a scan with a stamped page number or header: read the scan
    return chars >= SCAN_MAX_STAMP_CHARS or _image_coverage(page, w_pt, h_pt) < SCAN_IMAGE_COVERAGE


def _load_pdf_page(ref: PageRef, options: LoadOptions) -> PageInput:
    scale = options.dpi / 72.0
    with PDFIUM_LOCK:
        doc = _open_pdf(ref.path)
        if not 0 <= ref.index < len(doc):
            raise DocumentError(f"{ref.path} has no page {ref.index + 1}")
        page = doc[ref.index]
        try:
            w_pt, h_pt = page.get_size()
            width, height = math.ceil(w_pt * scale), math.ceil(h_pt * scale)  # as pdfium renders
            if options.use_text_layer:
                textpage = page.get_textpage()
                try:
                    lines = _pdf_text_lines(textpage, h_pt, scale)
                finally:
                    textpage.close()
                if _usable_text_layer(page, lines, w_pt, h_pt):
                    return PageInput(ref, width, height, text_lines=lines, dpi=options.dpi)
            if width * height > options.max_pixels:
                raise DocumentError(
                    f"Page {ref.index + 1} of {ref.path} would be {width}x{height} pixels at {options.dpi} dpi",
                    "choose a lower --dpi",
                )
            bitmap = page.render(scale=scale, may_draw_forms=True)
            try:
                image = bitmap.to_pil().convert("RGB")  # a copy: the bitmap can go now
            finally:
                bitmap.close()
        except DocumentError:
            raise
        except Exception as exc:
            raise DocumentError(f"Page {ref.index + 1} of {ref.path} cannot be rendered: {exc}") from exc
        finally:
            page.close()
    return PageInput(ref, image.width, image.height, image=image, dpi=options.dpi)


# ---------------------------------------------------------------- images


def _open_image(path: str, max_pixels: int) -> Image.Image:
    """Open an image lazily, refusing decompression bombs before any pixel is decoded."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            old = Image.MAX_IMAGE_PIXELS
            Image.MAX_IMAGE_PIXELS = None  # we apply our own, clearer limit below
            try:
                image = Image.open(path)
            finally:
                Image.MAX_IMAGE_PIXELS = old
    except FileNotFoundError as exc:
        raise DocumentError(f"No such file: {path}") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise DocumentError(f"{path} is not a readable image: {exc}") from exc
    w, h = image.size
    if w <= 0 or h <= 0:
        image.close()
        raise DocumentError(f"{path} is an empty image")
    if w * h > max_pixels:
        image.close()
        raise DocumentError(
            f"{path} is too large to read: {w}x{h} pixels (limit {max_pixels:,} pixels)",
            "scale it down or raise images.max_input_pixels",
        )
    return image


def image_page_count(path: str, max_pixels: int = DEFAULT_MAX_PIXELS) -> int:
    image = _open_image(path, max_pixels)
    try:
        return int(getattr(image, "n_frames", 1) or 1)
    finally:
        image.close()


def _load_image_page(ref: PageRef, options: LoadOptions) -> PageInput:
    image = _open_image(ref.path, options.max_pixels)
    try:
        if ref.index:
            image.seek(ref.index)
        if image.size[0] * image.size[1] > options.max_pixels:
            raise DocumentError(f"Page {ref.index + 1} of {ref.path} is too large: {image.size}")
        image.load()
        loaded = ImageOps.exif_transpose(image) or image
        rgb = to_rgb(loaded)
    except EOFError as exc:
        raise DocumentError(f"{ref.path} has no page {ref.index + 1}") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise DocumentError(f"{ref.path} is truncated or damaged: {exc}") from exc
    finally:
        image.close()
    return PageInput(ref, rgb.width, rgb.height, image=rgb)


# ---------------------------------------------------------------- in-memory pages (screen, clipboard)

_memory_pages: dict[str, bytes] = {}


def register_memory_image(name: str, image: Image.Image) -> PageRef:
    """Keep an in-memory image (a screen grab, the clipboard) addressable as a one-page document."""
    buf = io.BytesIO()
    to_rgb(image).save(buf, format="PNG", compress_level=1)
    _memory_pages[name] = buf.getvalue()
    return PageRef(name, "memory", 0)


def capture_screen_region(left: int, top: int, width: int, height: int) -> Image.Image:
    """Grab a region of the desktop (virtual-desktop pixels) with the app's capturer, so the
    user's privacy masks apply to OCR too."""
    from qwen3vl_agent.config import load_settings
    from qwen3vl_agent.screen.capture import CaptureTarget, ScreenCapturer
    from qwen3vl_agent.screen.geometry import Rect

    try:
        with ScreenCapturer.from_settings(load_settings()) as capturer:
            shot = capturer.capture(CaptureTarget.region(Rect(left, top, width, height)))
    except UserFacingError:
        raise
    except Exception as exc:
        raise DocumentError(f"Cannot capture the screen region: {exc}", "is a display available?") from exc
    return shot.image.convert("RGB")


def clipboard_image() -> Image.Image:
    """The image on the clipboard, or a clear error when there is none."""
    from PIL import ImageGrab

    try:
        grabbed = ImageGrab.grabclipboard()
    except Exception as exc:
        raise DocumentError(f"Cannot read the clipboard: {exc}", "install xclip or wl-clipboard") from exc
    if isinstance(grabbed, Image.Image):
        return to_rgb(grabbed)
    if isinstance(grabbed, list) and grabbed:
        return _load_image_page(PageRef(str(grabbed[0]), "image", 0), LoadOptions()).image  # type: ignore[return-value]
    raise DocumentError("The clipboard holds no image")


def _load_memory_page(ref: PageRef) -> PageInput:
    data = _memory_pages.get(ref.path)
    if data is None:
        raise DocumentError(f"The in-memory image {ref.path} is gone (it does not survive a restart)")
    image = Image.open(io.BytesIO(data)).convert("RGB")
    return PageInput(ref, image.width, image.height, image=image)


# ---------------------------------------------------------------- entry points


def page_count(path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> int:
    """Pages in a document; raises `DocumentError` for unreadable, encrypted or empty ones."""
    p = str(path)
    kind = document_kind(Path(p))
    if kind == "pdf":
        n = pdf_page_count(p)
    elif kind == "image":
        n = image_page_count(p, max_pixels)
    else:
        raise DocumentError(f"{p} is not a supported document (images: PNG, JPEG, WebP, TIFF; or PDF)")
    if n <= 0:
        raise DocumentError(f"{p} has no pages")
    return n


def page_refs(path: str | Path, count: int) -> list[PageRef]:
    kind = document_kind(Path(path)) or "image"
    return [PageRef(str(path), kind, i) for i in range(count)]


def load_page(ref: PageRef, options: LoadOptions | None = None) -> PageInput:
    """Load one page (rendered image or text layer); raises `DocumentError` with the reason."""
    options = options or LoadOptions()
    if ref.kind == "pdf":
        return _load_pdf_page(ref, options)
    if ref.kind == "memory":
        return _load_memory_page(ref)
    return _load_image_page(ref, options)


def iter_pages(path: str | Path, options: LoadOptions | None = None) -> Iterator[PageInput]:
    """Stream a document's pages one at a time (memory stays bounded by one page)."""
    count = page_count(path, (options or LoadOptions()).max_pixels)
    for ref in page_refs(path, count):
        yield load_page(ref, options)


def save_snapshot(image: Image.Image, folder: Path, name: str) -> Path:
    """Keep a screen grab or clipboard image as a PNG file, so a job can read (and resume) it."""
    import time

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}-{id(image) % 10000:04d}.png"
    image.save(path, format="PNG", compress_level=1)
    return path
