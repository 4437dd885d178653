"""What OCR can read: image files (multi-page TIFF too), PDFs, a screen region, the clipboard, folders.

Documents are addressed page by page (`PageRef`), so a job can render one page at a time: a
2,000-page PDF is never loaded whole, and a worker process can load its own page from a small,
picklable reference. PDFium is not thread-safe, so every PDFium call in this process goes
through `PDFIUM_LOCK`. Problems with a file become `DocumentError`s with a clear reason.

A scanned PDF page is one image: it is read at the image's own resolution (its pixels as they
are, not a re-render at `--dpi`, whose resampling and changed scale cost Tesseract's layout
analysis whole tables: 84 % CER on a gridded table rendered at 200 dpi from a 150 dpi scan, 0 %
from the scan's own pixels). Pages with more on them than their image render at `--dpi`, or at
the image's resolution when it is finer.
"""

from __future__ import annotations

import fnmatch
import io
import math
import os
import threading
import warnings
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from qwen3vl_agent.errors import UserFacingError
from qwen3vl_agent.imaging.loading import EXIF_ORIENTATION, to_rgb
from qwen3vl_agent.ocr.model import Box, OcrLine

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp", ".gif"}
PDF_SUFFIXES = {".pdf"}
DEFAULT_MAX_PIXELS = 200_000_000
# Pages larger than this are downscaled while they are decoded (JPEG in the DCT, PDFs rendered
# smaller, other images reduced strip by strip): 36 Mpx is an A4 page at 500 dpi, more than OCR
# gains from, and it keeps one page's pixels near 100 MB however large the file claims to be.
DEFAULT_MAX_DECODE_PIXELS = 36_000_000
MIN_TEXT_LAYER_CHARS = 3
# a page that is mostly one scanned image with only a stamped line of text is still a scan
SCAN_IMAGE_COVERAGE = 0.5
SCAN_MAX_STAMP_CHARS = 100
# one image covering this much of the page, and nothing else drawn: the page IS that image
SCAN_FULL_PAGE = 0.9
SCAN_MAX_DPI = 600  # an image finer than this is rendered at this resolution instead

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
    max_pixels: int = DEFAULT_MAX_PIXELS  # larger pages are refused
    max_decode_pixels: int = DEFAULT_MAX_DECODE_PIXELS  # larger pages are downscaled while decoding


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


@dataclass
class Discovery:
    """What `discover_inputs` found, and the symbolic links it did not follow out of a folder."""

    files: list[Path]
    skipped_links: list[Path]


def _inside(path: Path, root: Path) -> bool:
    return path == root or path.is_relative_to(root)


def _walk(folder: Path, follow_symlinks: bool, skipped: list[Path]) -> Iterator[Path]:
    """Files under `folder`, sorted. A symbolic link that leads out of the folder is skipped (and
    listed) unless `follow_symlinks`; links to folders are followed only then (each folder once)."""
    root = folder.resolve()
    visited: set[Path] = set()
    for current, dirs, files in os.walk(folder, followlinks=follow_symlinks):
        here = Path(current)
        real = here.resolve()
        if real in visited:
            dirs[:] = []  # a link loop, or a folder reached twice
            continue
        visited.add(real)
        kept = []
        for name in sorted(dirs):
            child = here / name
            if child.is_symlink() and not follow_symlinks:
                if not _inside(child.resolve(), root):
                    skipped.append(child)
                continue  # a link to a folder inside is read through its real path
            kept.append(name)
        dirs[:] = kept
        for name in sorted(files):
            child = here / name
            if child.is_symlink() and not follow_symlinks and not _inside(child.resolve(), root):
                skipped.append(child)
                continue
            yield child


def discover_inputs(
    paths: Sequence[str | Path],
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    *,
    follow_symlinks: bool = False,
) -> Discovery:
    """Files to read, in a stable order: explicit files as given, folders recursively.

    In folders only known document types count; `include`/`exclude` are glob patterns matched
    against the path relative to the folder and against the file name. Symbolic links inside a
    folder are not followed out of it unless `follow_symlinks` (a path named explicitly is read).
    """
    found: list[Path] = []
    skipped: list[Path] = []
    seen: set[Path] = set()
    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            for child in sorted(_walk(path, follow_symlinks, skipped)):
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
    return Discovery(found, skipped)


def discover(
    paths: Sequence[str | Path],
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    *,
    follow_symlinks: bool = False,
) -> list[Path]:
    """The files of `discover_inputs` (links out of a folder skipped unless `follow_symlinks`)."""
    return discover_inputs(paths, include, exclude, follow_symlinks=follow_symlinks).files


# ---------------------------------------------------------------- PDFs

_open_pdfs: OrderedDict[str, Any] = OrderedDict()
_MAX_OPEN_PDFS = 2


def _pdf_error(path: str, exc: Exception) -> DocumentError:
    text = str(exc)
    if "password" in text.lower():
        return DocumentError(f"{path} is an encrypted PDF", "decrypt it first (e.g. qpdf --decrypt)")
    # PDFium gives no specific error for an empty page tree: its stale error code then reads
    # "Success", which would tell the user nothing
    if text.rstrip(".)").endswith("Success"):
        return DocumentError(
            f"{path}: the PDF has no pages (a PDF without pages, or its page tree is damaged)"
        )
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


def _largest_image(page: Any) -> tuple[Any, float]:
    """The page's largest image object and its area in square points (None, 0 without images)."""
    import pypdfium2.raw as pdfium_c

    best, largest = None, 0.0
    for obj in page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE], max_depth=2):
        left, bottom, right, top = obj.get_bounds()
        area = max(0.0, right - left) * max(0.0, top - bottom)
        if area > largest:
            best, largest = obj, area
    return best, largest


def _image_coverage(page: Any, w_pt: float, h_pt: float) -> float:
    """Share of the page covered by its largest image (a scan is one page-sized image)."""
    return _largest_image(page)[1] / max(1.0, w_pt * h_pt)


def _image_dpi(obj: Any) -> float:
    """The resolution an image object is drawn at on the page (pixels per inch along its width)."""
    px_w = obj.get_px_size()[0]
    a, b = obj.get_matrix().get()[:2]
    along = math.hypot(a, b)  # the drawn length of the image's own x axis, sideways or not
    return float(px_w) * 72.0 / max(1e-6, along) if px_w else 0.0


def _only_images(page: Any) -> bool:
    """Nothing but images (possibly inside form XObjects) is drawn on the page."""
    import pypdfium2.raw as pdfium_c

    kinds = {obj.type for obj in page.get_objects(max_depth=2)}
    return kinds <= {pdfium_c.FPDF_PAGEOBJ_IMAGE, pdfium_c.FPDF_PAGEOBJ_FORM}


def _scan_image(page: Any, w_pt: float, h_pt: float, max_pixels: int) -> tuple[Image.Image, int] | None:
    """The page's one full-page image at its own resolution, upright as the page shows it.

    PDFium draws the image object alone (its matrix and masks applied) at its native size; the
    page's /Rotate is then applied as a viewer would. None when the page is not such a scan.
    """
    obj, area = _largest_image(page)
    if obj is None or area < SCAN_FULL_PAGE * w_pt * h_pt or not _only_images(page):
        return None
    dpi = _image_dpi(obj)
    px_w, px_h = obj.get_px_size()
    if not 36 <= dpi <= SCAN_MAX_DPI or px_w * px_h > max_pixels:
        return None
    # a copy: the PIL image of a PDFium bitmap shares its buffer, which PDFium frees
    image = obj.get_bitmap(render=True, scale_to_original=True).to_pil().copy()
    image = to_rgb(image)  # transparent parts are the paper: white
    rotation = page.get_rotation() % 360
    if rotation:
        image = image.rotate(-rotation, expand=True)  # /Rotate is clockwise, PIL turns anticlockwise
    return image, round(dpi)


def _render_dpi(page: Any, w_pt: float, h_pt: float, requested: int) -> int:
    """`requested`, or the resolution of a page-sized image when that is finer (capped)."""
    obj, area = _largest_image(page)
    if obj is None or area < SCAN_IMAGE_COVERAGE * w_pt * h_pt:
        return requested
    return max(requested, min(SCAN_MAX_DPI, round(_image_dpi(obj))))


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
            scan = _scan_image(page, w_pt, h_pt, min(options.max_pixels, options.max_decode_pixels))
            if scan is not None:
                return PageInput(ref, scan[0].width, scan[0].height, image=scan[0], dpi=scan[1])
            dpi = _render_dpi(page, w_pt, h_pt, options.dpi)
            scale = dpi / 72.0
            width, height = math.ceil(w_pt * scale), math.ceil(h_pt * scale)
            if width * height > options.max_pixels:
                raise DocumentError(
                    f"Page {ref.index + 1} of {ref.path} would be {width}x{height} pixels at {dpi} dpi",
                    "choose a lower --dpi",
                )
            render_scale = _decode_scale(width * height, options.max_decode_pixels) * scale
            bitmap = page.render(scale=render_scale, may_draw_forms=True)
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
    return PageInput(ref, image.width, image.height, image=image, dpi=round(dpi * render_scale / scale))


def _decode_scale(pixels: int, max_decode_pixels: int) -> float:
    """The linear factor (<= 1) that brings `pixels` down to the decode limit."""
    return 1.0 if pixels <= max_decode_pixels else math.sqrt(max_decode_pixels / pixels)


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


_ORIENTATION = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_STRIP_ROWS = 256


def _downscaled_rgb(image: Image.Image, factor: int) -> Image.Image:
    """An RGB copy `factor` times smaller per side, built strip by strip: the only full-size
    buffer is the decoded image itself (no full-size RGB copy, whatever the file's mode)."""
    w, h = image.size
    out = Image.new("RGB", (math.ceil(w / factor), math.ceil(h / factor)), "white")
    rows = factor * max(1, _STRIP_ROWS // factor)
    for top in range(0, h, rows):
        strip = to_rgb(image.crop((0, top, w, min(h, top + rows))))
        out.paste(strip.reduce(factor), (0, top // factor))
    return out


def _bytes_per_pixel(mode: str) -> int:
    """Bytes Pillow keeps per pixel: one for 1-bit, grey and palette images, two for 16-bit grey,
    four for everything else (RGB is stored padded, as RGBX)."""
    if mode in ("1", "L", "P"):
        return 1
    return 2 if mode.startswith("I;16") else 4


def decode_bytes(ref: PageRef, options: LoadOptions | None = None) -> int:
    """About how many bytes of pixels loading this page holds at its peak (read from the file's
    header or the PDF's page size, nothing decoded): what a job's memory budget counts."""
    options = options or LoadOptions()
    if ref.kind == "pdf":
        with PDFIUM_LOCK:
            doc = _open_pdf(ref.path)
            if not 0 <= ref.index < len(doc):
                raise DocumentError(f"{ref.path} has no page {ref.index + 1}")
            w_pt, h_pt = doc.get_page_size(ref.index)
            page = doc[ref.index]
            try:  # a scanned page is read at its image's resolution, which may be finer
                dpi = _render_dpi(page, w_pt, h_pt, options.dpi)
            finally:
                page.close()
        pixels = math.ceil(w_pt * dpi / 72.0) * math.ceil(h_pt * dpi / 72.0)
        return min(pixels, options.max_decode_pixels) * (4 + 4)  # the rendered BGRA bitmap + its RGB copy
    if ref.kind == "memory":
        data = _memory_pages.get(ref.path, b"")
        with Image.open(io.BytesIO(data)) as held:
            return held.width * held.height * 4 * 2
    image = _open_image(ref.path, options.max_pixels)
    try:
        width, height = image.size
        native = width * height * _bytes_per_pixel(image.mode)
    finally:
        image.close()
    if width * height <= options.max_decode_pixels:
        return native + width * height * 4  # the file's pixels + their RGB copy
    strip = _STRIP_ROWS * width * (_bytes_per_pixel(image.mode) + 4)
    return native + options.max_decode_pixels * 4 + strip  # + the downscaled copy and one strip


def _load_image_page(ref: PageRef, options: LoadOptions) -> PageInput:
    image = _open_image(ref.path, options.max_pixels)
    rgb: Image.Image | None = None
    try:
        if ref.index:
            image.seek(ref.index)
        w, h = image.size
        if w * h > options.max_pixels:
            raise DocumentError(f"Page {ref.index + 1} of {ref.path} is too large: {image.size}")
        factor = math.ceil(1 / _decode_scale(w * h, options.max_decode_pixels))
        if factor > 1 and image.format == "JPEG":
            image.draft("RGB", (math.ceil(w / factor), math.ceil(h / factor)))  # scaled in the DCT
        image.load()
        w, h = image.size
        factor = math.ceil(1 / _decode_scale(w * h, options.max_decode_pixels))
        orientation = image.getexif().get(EXIF_ORIENTATION, 1)
        rgb = _downscaled_rgb(image, factor) if factor > 1 else to_rgb(image)
        if rgb is image and getattr(image, "n_frames", 1) > 1:
            rgb = image.copy()  # a frame of a multi-page file: the file is closed below
        if orientation in _ORIENTATION:
            rgb = rgb.transpose(_ORIENTATION[orientation])
    except EOFError as exc:
        raise DocumentError(f"{ref.path} has no page {ref.index + 1}") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise DocumentError(f"{ref.path} is truncated or damaged: {exc}") from exc
    finally:
        if rgb is not image:  # a single-frame RGB image is its own result (its file closed on load)
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
