"""The OCR result model shared by every engine, the job store and the exports.

A document has pages; a page has lines, each with its text, a box in page pixels (of the image
the engine saw, whose size the page records) and a confidence in 0..1 when the engine gives one.
Pages also carry whole-page text and, from the Qwen modes that produce them, Markdown, HTML and
extracted JSON. Everything round-trips through plain dicts (the job store keeps them as JSON).
"""

from __future__ import annotations

import html
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Box:
    """Pixel box (left, top, right, bottom) in the page image's coordinates."""

    left: float
    top: float
    right: float
    bottom: float

    @property
    def width(self) -> float:
        return self.right - self.left

    @property
    def height(self) -> float:
        return self.bottom - self.top

    def as_list(self) -> list[float]:
        return [self.left, self.top, self.right, self.bottom]


@dataclass(frozen=True)
class OcrLine:
    text: str
    box: Box | None = None
    confidence: float | None = None  # 0..1; None when the engine gives none


@dataclass
class OcrPage:
    """One page's result. `index` is 0-based within its document."""

    index: int
    width: int
    height: int
    text: str
    lines: list[OcrLine] = field(default_factory=list)
    markdown: str | None = None
    html: str | None = None
    data: Any = None  # json mode: the extracted value (valid against the user's schema)
    engine: str = ""
    source: str = "ocr"  # "ocr" or "text-layer" (the PDF's own text was used)
    dpi: int | None = None
    rotation: int = 0  # degrees the page was turned (clockwise) before recognition
    skew: float = 0.0  # degrees the page was straightened by (its lines rose that much to the right)

    @property
    def confidence(self) -> float | None:
        """Mean line confidence, weighted by text length."""
        scored = [(ln.confidence, len(ln.text)) for ln in self.lines if ln.confidence is not None]
        total = sum(n for _, n in scored)
        if not scored or total == 0:
            return None
        return sum(c * n for c, n in scored) / total

    def as_markdown(self) -> str:
        return self.markdown if self.markdown is not None else self.text

    def as_html(self) -> str:
        """The page's HTML: the model's own, else the lines as absolutely positioned spans."""
        if self.html is not None:
            return self.html
        parts = [f'<div class="page" data-page="{self.index + 1}" style="position:relative">']
        for line in self.lines:
            text = html.escape(line.text)
            if line.box is None:
                parts.append(f"<p>{text}</p>")
                continue
            b = line.box
            parts.append(
                f'<p class="line" data-bbox="{b.left:.0f} {b.top:.0f} {b.right:.0f} {b.bottom:.0f}"'
                + (f' data-confidence="{line.confidence:.3f}"' if line.confidence is not None else "")
                + f">{text}</p>"
            )
        if not self.lines and self.text:
            parts.extend(f"<p>{html.escape(p)}</p>" for p in self.text.split("\n\n") if p.strip())
        parts.append("</div>")
        return "\n".join(parts)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["lines"] = [
            {
                "text": ln.text,
                "box": ln.box.as_list() if ln.box else None,
                "confidence": ln.confidence,
            }
            for ln in self.lines
        ]
        d["confidence"] = self.confidence
        return d

    @staticmethod
    def from_dict(d: dict[str, Any]) -> OcrPage:
        lines = [
            OcrLine(
                text=ln["text"],
                box=Box(*ln["box"]) if ln.get("box") else None,
                confidence=ln.get("confidence"),
            )
            for ln in d.get("lines", [])
        ]
        return OcrPage(
            index=d["index"],
            width=d["width"],
            height=d["height"],
            text=d.get("text", ""),
            lines=lines,
            markdown=d.get("markdown"),
            html=d.get("html"),
            data=d.get("data"),
            engine=d.get("engine", ""),
            source=d.get("source", "ocr"),
            dpi=d.get("dpi"),
            rotation=d.get("rotation", 0),
            skew=d.get("skew", 0.0),
        )


@dataclass(frozen=True)
class PageFailure:
    index: int
    reason: str


@dataclass
class OcrDocument:
    """A document's pages in order; pages that failed are listed with their reason."""

    path: str
    pages: list[OcrPage] = field(default_factory=list)
    failures: list[PageFailure] = field(default_factory=list)
    page_count: int = 0
    mode: str = "text"

    def text(self) -> str:
        return "\f".join(p.text for p in self.pages)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "mode": self.mode,
            "page_count": self.page_count,
            "pages": [p.to_dict() for p in self.pages],
            "failures": [asdict(f) for f in self.failures],
        }
