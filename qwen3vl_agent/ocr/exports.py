"""Per-document exports: .txt, .md, .json, .html and a searchable .pdf, each written atomically.

Output names follow the input: `report.pdf` -> `OUT/report.txt`, `OUT/report.md`, ...,
`OUT/report.searchable.pdf` (never the input's own name); documents
from folders keep their relative sub-folders so equal names never collide.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from pathlib import Path

from qwen3vl_agent.ocr.atomic import write_text_atomic
from qwen3vl_agent.ocr.model import OcrDocument
from qwen3vl_agent.ocr.safe_html import CONTENT_SECURITY_POLICY, sanitise_html
from qwen3vl_agent.ocr.searchable_pdf import write_searchable_pdf

FORMATS = ("txt", "md", "json", "html", "pdf")
PAGE_BREAK = "\f"


def render_txt(doc: OcrDocument) -> str:
    return PAGE_BREAK.join(p.text.rstrip() + "\n" for p in doc.pages)


def render_md(doc: OcrDocument) -> str:
    parts = []
    for p in doc.pages:
        parts.append(f"<!-- page {p.index + 1} -->\n\n{p.as_markdown().strip()}\n")
    for f in doc.failures:
        parts.append(f"<!-- page {f.index + 1} failed: {f.reason} -->\n")
    return "\n".join(parts)


def render_json(doc: OcrDocument) -> str:
    return json.dumps(doc.to_dict(), ensure_ascii=False, indent=1)


def render_html(doc: OcrDocument) -> str:
    title = html.escape(Path(doc.path).name)
    body = []
    for p in doc.pages:
        body.append(
            f'<section class="page" id="page-{p.index + 1}" data-width="{p.width}" data-height="{p.height}">'
        )
        body.append(sanitise_html(p.as_html()))  # the model's HTML is untrusted (safe_html.py)
        body.append("</section>")
    for f in doc.failures:
        body.append(
            f'<section class="page failed" id="page-{f.index + 1}"><p>{html.escape(f.reason)}</p></section>'
        )
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CONTENT_SECURITY_POLICY}">'
        f"<title>{title}</title></head>\n<body>\n" + "\n".join(body) + "\n</body></html>\n"
    )


def output_stem(document: Path, out_dir: Path, root: Path | None = None) -> Path:
    """Where a document's exports go (without suffix)."""
    if root is not None:
        try:
            rel = document.resolve().relative_to(root.resolve())
            return out_dir / rel.with_suffix("")
        except ValueError:
            pass
    return out_dir / document.stem


def export_document(
    doc: OcrDocument, formats: Sequence[str], out_dir: Path, root: Path | None = None
) -> list[Path]:
    """Write the asked formats for one document; raises `ExportError` (nothing half-written)."""
    stem = output_stem(Path(doc.path), out_dir, root)
    written: list[Path] = []
    renderers = {"txt": render_txt, "md": render_md, "json": render_json, "html": render_html}
    for fmt in formats:
        if fmt == "pdf":
            by_index = {p.index: p for p in doc.pages}
            pages = [by_index.get(i) for i in range(doc.page_count)]
            written.append(
                write_searchable_pdf(doc.path, pages, stem.with_name(stem.name + ".searchable.pdf"))
            )
        elif fmt in renderers:
            written.append(write_text_atomic(stem.with_name(f"{stem.name}.{fmt}"), renderers[fmt](doc)))
        else:
            raise ValueError(f"unknown export format {fmt!r}")
    return written
