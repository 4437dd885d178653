"""Parse what Qwen3-VL writes in each OCR mode, tolerantly.

The model fences JSON and HTML in ``` blocks, sometimes writes Python-style quotes, and can be
cut off by the token limit; we take every complete item we can read and map its 0..1000
coordinates back to page pixels (clamped).
"""

from __future__ import annotations

import ast
import json
import re
from html.parser import HTMLParser
from typing import Any

from qwen3vl_agent.ocr.model import Box, OcrLine

MODEL_SCALE = 1000.0
_FENCE = re.compile(r"```[a-zA-Z0-9_-]*\s*\n?(.*?)(?:```|$)", re.DOTALL)


def strip_fences(text: str) -> str:
    """The content of the first ``` block, or the text itself when there is none."""
    match = _FENCE.search(text)
    return match.group(1).strip() if match else text.strip()


def to_pixels(bbox: Any, width: int, height: int) -> Box | None:
    """A 0..1000 [x1, y1, x2, y2] box as page pixels (clamped, ordered), or None if malformed."""
    if not isinstance(bbox, list | tuple) or len(bbox) != 4:
        return None
    try:
        x1, y1, x2, y2 = (float(v) for v in bbox)
    except (TypeError, ValueError):
        return None

    def clamp(v: float) -> float:
        return min(MODEL_SCALE, max(0.0, v))

    x1, x2 = sorted((clamp(x1), clamp(x2)))
    y1, y2 = sorted((clamp(y1), clamp(y2)))
    sx, sy = width / MODEL_SCALE, height / MODEL_SCALE
    return Box(round(x1 * sx, 1), round(y1 * sy, 1), round(x2 * sx, 1), round(y2 * sy, 1))


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    try:
        return ast.literal_eval(text)  # single-quoted Python literals
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None


def parse_json_value(text: str) -> Any:
    """The JSON value in a (possibly fenced) answer; raises ValueError when there is none."""
    body = strip_fences(text)
    value = _loads(body)
    if value is not None:
        return value
    for opener, closer in (("{", "}"), ("[", "]")):
        start, end = body.find(opener), body.rfind(closer)
        if 0 <= start < end:
            value = _loads(body[start : end + 1])
            if value is not None:
                return value
    raise ValueError("the answer holds no readable JSON")


_OBJECT = re.compile(r"\{[^{}]*\}", re.DOTALL)


def parse_lines(text: str, width: int, height: int) -> list[OcrLine]:
    """Line spotting output (`[{"bbox_2d": [...], "text_content": "..."}]`) as lines in page pixels.

    Items are read one by one, so a truncated list still gives its complete items.
    """
    body = strip_fences(text)
    items: list[Any]
    whole = _loads(body)
    if isinstance(whole, list):
        items = whole
    elif isinstance(whole, dict):
        items = [whole]
    else:
        items = [v for v in (_loads(m.group(0)) for m in _OBJECT.finditer(body)) if v is not None]
    lines: list[OcrLine] = []
    for item in items:
        if not isinstance(item, dict):
            continue
        content = item.get("text_content", item.get("text", item.get("label")))
        if not isinstance(content, str) or not content.strip():
            continue
        lines.append(OcrLine(text=content.strip(), box=to_pixels(item.get("bbox_2d"), width, height)))
    return lines


_BLOCK_TAGS = {"p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "li", "tr", "br", "table", "section", "body"}
_CELL_TAGS = {"td", "th"}


class _HtmlLines(HTMLParser):
    """Collect the text of elements carrying `data-bbox` and the page's plain text."""

    def __init__(self, width: int, height: int) -> None:
        super().__init__(convert_charrefs=True)
        self.width, self.height = width, height
        self.stack: list[tuple[str, Box | None, list[str]]] = []
        self.lines: list[OcrLine] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCK_TAGS or tag in _CELL_TAGS:
            self.text.append("\n" if tag in _BLOCK_TAGS else " ")
        bbox = dict(attrs).get("data-bbox")
        if bbox is not None:
            parts = re.split(r"[\s,]+", bbox.strip().strip("[]"))
            self.stack.append((tag, to_pixels(parts, self.width, self.height), []))

    def handle_endtag(self, tag: str) -> None:
        if self.stack and self.stack[-1][0] == tag:
            _, box, chunks = self.stack.pop()
            content = re.sub(r"\s+", " ", "".join(chunks)).strip()
            if content:
                self.lines.append(OcrLine(text=content, box=box))
        if tag in _BLOCK_TAGS:
            self.text.append("\n")

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self.stack:
            self.stack[-1][2].append(data)


def parse_html(text: str, width: int, height: int) -> tuple[str, list[OcrLine], str]:
    """`qwenvl html` output: (html, positioned lines in page pixels, plain text)."""
    body = strip_fences(text)
    parser = _HtmlLines(width, height)
    try:
        parser.feed(body)
        parser.close()
    except Exception:  # malformed HTML from a cut-off answer: keep what was read
        pass
    plain = "\n".join(
        line.strip() for line in re.sub(r"[ \t]+", " ", "".join(parser.text)).split("\n") if line.strip()
    )
    return body, parser.lines, plain


_MD_MARKUP = re.compile(r"^\s{0,3}(#{1,6}\s+|[-*+]\s+|>\s?)|[*_`]{1,3}")


def markdown_to_text(markdown: str) -> str:
    """Plain text from Markdown (headings, emphasis and list markers removed, tables kept as rows)."""
    out = []
    for line in markdown.splitlines():
        if re.fullmatch(r"\s*\|?[\s:|-]+\|?\s*", line) and "-" in line:
            continue  # table rule
        line = line.strip().strip("|").replace("|", " ")
        out.append(re.sub(r"[ \t]+", " ", _MD_MARKUP.sub("", line)).strip())
    return re.sub(r"\n{3,}", "\n\n", "\n".join(out)).strip()
