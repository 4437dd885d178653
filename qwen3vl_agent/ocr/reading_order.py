"""Reading order rebuilt from line boxes: columns first, then blocks, then lines left to right.

Why: detectors such as PaddleOCR's return boxes in row order, so a two-column page interleaves
its columns (69 % CER measured on such a page, /work/shared/reference/cpu-ocr.md), and the
model's `lines` mode returns boxes in whatever order it wrote them. This is a recursive XY-cut:
a region is split at a whitespace gutter into columns when both sides look like text columns
(wide, filled by their lines), otherwise at its widest horizontal gaps into blocks, down to
single rows, whose boxes are read left to right. A gutter between table cells does not make
columns (their cells are narrow), so tables are read row by row.
"""

from __future__ import annotations

from collections.abc import Sequence
from statistics import median

from qwen3vl_agent.ocr.model import Box, OcrLine

_COLUMN_MIN_WIDTH = 12.0  # a text column is at least this many line heights wide
_COLUMN_MIN_FILL = 0.5  # ... and its lines fill at least this share of its width (median)
_GUTTER_MIN = 0.8  # a column gutter is at least this many line heights wide
_BAND_GAP_SHARE = 0.8  # horizontal cuts at gaps within this share of the region's widest gap

Row = list[OcrLine]


def _box(line: OcrLine) -> Box:
    assert line.box is not None
    return line.box


def _gaps(spans: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """Empty intervals between the union of `spans` (sorted by start): (gap start, gap end)."""
    ordered = sorted(spans)
    gaps: list[tuple[float, float]] = []
    reach = ordered[0][1]
    for start, end in ordered[1:]:
        if start > reach:
            gaps.append((reach, start))
        reach = max(reach, end)
    return gaps


def _split(lines: list[OcrLine], cuts: list[float], vertical: bool) -> list[list[OcrLine]]:
    groups: list[list[OcrLine]] = [[] for _ in range(len(cuts) + 1)]
    for line in lines:
        b = _box(line)
        centre = (b.left + b.right) / 2 if vertical else (b.top + b.bottom) / 2
        groups[sum(centre > c for c in cuts)].append(line)
    return [g for g in groups if g]


def _is_text_column(lines: list[OcrLine], line_height: float) -> bool:
    left = min(_box(ln).left for ln in lines)
    right = max(_box(ln).right for ln in lines)
    width = right - left
    if len(lines) < 2 or width < _COLUMN_MIN_WIDTH * line_height:
        return False
    return median(_box(ln).width for ln in lines) >= _COLUMN_MIN_FILL * width


def _columns(lines: list[OcrLine], line_height: float) -> list[list[OcrLine]] | None:
    gaps = [
        g
        for g in _gaps([(_box(ln).left, _box(ln).right) for ln in lines])
        if g[1] - g[0] >= _GUTTER_MIN * line_height
    ]
    if not gaps:
        return None
    columns = _split(lines, [(a + b) / 2 for a, b in gaps], vertical=True)
    if len(columns) > 1 and all(_is_text_column(c, line_height) for c in columns):
        return columns
    return None


def _bands(lines: list[OcrLine]) -> list[list[OcrLine]] | None:
    gaps = _gaps([(_box(ln).top, _box(ln).bottom) for ln in lines])
    if not gaps:
        return None
    widest = max(b - a for a, b in gaps)
    cuts = [(a + b) / 2 for a, b in gaps if b - a >= _BAND_GAP_SHARE * widest]
    return _split(lines, cuts, vertical=False)


def _row_groups(lines: list[OcrLine]) -> list[Row]:
    """Boxes that overlap vertically (a row of table cells, a line cut in pieces) form one row."""
    rows: list[Row] = []
    for line in sorted(lines, key=lambda ln: (_box(ln).top + _box(ln).bottom) / 2):
        b = _box(line)
        centre = (b.top + b.bottom) / 2
        if rows:
            last = rows[-1]
            top = min(_box(x).top for x in last)
            bottom = max(_box(x).bottom for x in last)
            if top <= centre <= bottom:
                last.append(line)
                continue
        rows.append([line])
    return [sorted(row, key=lambda ln: _box(ln).left) for row in rows]


def _order(lines: list[OcrLine], line_height: float, out: list[list[Row]]) -> None:
    if len(lines) > 1:
        columns = _columns(lines, line_height)
        if columns:
            for column in columns:
                _order(column, line_height, out)
            return
        bands = _bands(lines)
        if bands and len(bands) > 1:
            if all(len(b) == 1 for b in bands):  # single lines, evenly spaced: one block
                out.append([b for b in bands])
                return
            for band in bands:
                _order(band, line_height, out)
            return
    out.append(_row_groups(lines))


def reading_order(lines: Sequence[OcrLine]) -> list[list[Row]]:
    """Blocks of rows of boxes in reading order; lines without a box keep their place at the end."""
    boxed = [ln for ln in lines if ln.box is not None and ln.text.strip()]
    if not boxed:
        return [[[ln] for ln in lines if ln.text.strip()]] if lines else []
    line_height = median(max(1.0, _box(ln).height) for ln in boxed)
    blocks: list[list[Row]] = []
    _order(boxed, line_height, blocks)
    loose = [[ln] for ln in lines if ln.box is None and ln.text.strip()]
    if loose:
        blocks.append(loose)
    return blocks


def in_reading_order(lines: Sequence[OcrLine]) -> list[OcrLine]:
    """The same lines (boxes untouched), re-ordered: blocks, rows, cells left to right."""
    return [ln for block in reading_order(lines) for row in block for ln in row]


def ordered_lines_and_text(lines: Sequence[OcrLine], joiner: str = " ") -> tuple[list[OcrLine], str]:
    """The lines in reading order (one per row: a row's cells joined) and the page text, blocks
    separated by a blank line."""
    ordered: list[OcrLine] = []
    parts: list[str] = []
    for block in reading_order(lines):
        texts = []
        for row in block:
            text = joiner.join(ln.text.strip() for ln in row)
            boxes = [ln.box for ln in row if ln.box is not None]
            box = (
                Box(
                    min(b.left for b in boxes),
                    min(b.top for b in boxes),
                    max(b.right for b in boxes),
                    max(b.bottom for b in boxes),
                )
                if boxes
                else None
            )
            scored = [(ln.confidence, len(ln.text)) for ln in row if ln.confidence is not None]
            weight = sum(n for _, n in scored)
            conf = sum(c * n for c, n in scored) / weight if scored and weight else None
            ordered.append(OcrLine(text=text, box=box, confidence=conf))
            texts.append(text)
        parts.append("\n".join(texts))
    return ordered, "\n\n".join(p for p in parts if p)
