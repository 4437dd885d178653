"""Reading order from boxes alone (pure): columns, then blocks, then rows read left to right."""

from __future__ import annotations

import random

from qwen3vl_agent.ocr.model import Box, OcrLine
from qwen3vl_agent.ocr.reading_order import ordered_lines_and_text


def _line(text: str, left: float, top: float, width: float, height: float = 20) -> OcrLine:
    return OcrLine(text, Box(left, top, left + width, top + height), 0.9)


def test_two_columns_under_a_title_read_column_by_column() -> None:
    lines = [_line("Title across both columns", 100, 40, 900, 30)]
    for i in range(6):  # the columns' lines sit at the same heights, as they usually do
        lines.append(_line(f"left {i}", 100, 120 + 30 * i, 420))
        lines.append(_line(f"right {i}", 580, 120 + 30 * i, 420))
    random.Random(1).shuffle(lines)
    _, text = ordered_lines_and_text(lines)
    words = text.split()
    assert words[:4] == ["Title", "across", "both", "columns"]
    order = [w for w in text.replace("\n", " ").split(" ") if w.isdigit()]
    assert order == [str(i) for i in range(6)] * 2
    assert text.index("left 5") < text.index("right 0")


def test_a_table_reads_row_by_row_with_its_cells_left_to_right() -> None:
    lines = []
    for r in range(5):
        for c, x in enumerate((120, 470, 720, 960)):
            lines.append(_line(f"r{r}c{c}", x, 160 + 60 * r, 90))
    random.Random(2).shuffle(lines)
    ordered, _ = ordered_lines_and_text(lines)
    assert [ln.text for ln in ordered] == [" ".join(f"r{r}c{c}" for c in range(4)) for r in range(5)]
    assert ordered[0].box == Box(120, 160, 1050, 180)


def test_lines_without_boxes_keep_their_place_at_the_end() -> None:
    ordered, text = ordered_lines_and_text([OcrLine("loose"), _line("boxed", 10, 10, 100)])
    assert text.split() == ["boxed", "loose"] and len(ordered) == 2
    assert ordered_lines_and_text([]) == ([], "")
