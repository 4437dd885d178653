"""Parsing of Qwen3-VL's OCR answers: fences, Python quotes, truncation, 0..1000 boxes to pixels."""

from __future__ import annotations

import pytest

from qwen3vl_agent.ocr.model import Box
from qwen3vl_agent.ocr.parsing import (
    markdown_to_text,
    parse_html,
    parse_json_value,
    parse_lines,
    strip_fences,
    to_pixels,
)


def test_boxes_map_from_the_0_1000_grid_to_page_pixels_and_are_clamped() -> None:
    assert to_pixels([100, 200, 500, 250], 2000, 1000) == Box(200.0, 200.0, 1000.0, 250.0)
    assert to_pixels([-5, 1200, 30, 0], 1000, 1000) == Box(0.0, 0.0, 30.0, 1000.0)
    assert to_pixels([1, 2, 3], 100, 100) is None
    assert to_pixels(["a", 2, 3, 4], 100, 100) is None


def test_fenced_line_spotting_answer() -> None:
    answer = (
        "Here you go:\n```json\n"
        '[{"bbox_2d": [10, 20, 500, 40], "text_content": "Invoice 42"},\n'
        ' {"bbox_2d": [10, 50, 300, 70], "text_content": "Total: 12.50"}]\n```'
    )
    lines = parse_lines(answer, 1000, 2000)
    assert [ln.text for ln in lines] == ["Invoice 42", "Total: 12.50"]
    assert lines[0].box == Box(10.0, 40.0, 500.0, 80.0)


def test_truncated_and_python_quoted_answers_keep_their_complete_items() -> None:
    truncated = (
        '```json\n[{"bbox_2d": [0, 0, 10, 10], "text_content": "one"}, {"bbox_2d": [0, 20, 10, 30], "text_con'
    )
    assert [ln.text for ln in parse_lines(truncated, 100, 100)] == ["one"]
    quoted = "[{'bbox_2d': [0, 0, 10, 10], 'text_content': 'single'}]"
    assert [ln.text for ln in parse_lines(quoted, 100, 100)] == ["single"]
    assert parse_lines("no json at all", 100, 100) == []


def test_html_with_positions_becomes_lines_and_text() -> None:
    answer = (
        "```html\n<html><body>\n"
        '<h1 data-bbox="100 50 900 100">Annual report</h1>\n'
        '<p data-bbox="100 120 900 200">Revenue grew &amp; costs fell.</p>\n'
        "<table><tr><td>A</td><td>1</td></tr></table>\n"
        "</body></html>\n```"
    )
    html, lines, text = parse_html(answer, 1000, 1000)
    assert html.startswith("<html>")
    assert [ln.text for ln in lines] == ["Annual report", "Revenue grew & costs fell."]
    assert lines[1].box == Box(100.0, 120.0, 900.0, 200.0)
    assert "Annual report" in text and "Revenue grew & costs fell." in text and "A 1" in text


def test_markdown_to_text_drops_markup_but_keeps_words() -> None:
    md = "# Title\n\nSome **bold** text.\n\n| a | b |\n|---|---|\n| 1 | 2 |\n- item"
    assert markdown_to_text(md) == "Title\n\nSome bold text.\n\na b\n1 2\nitem"


def test_json_values_fenced_or_with_chatter() -> None:
    assert parse_json_value('```json\n{"a": 1}\n```') == {"a": 1}
    assert parse_json_value('The data is {"a": [1, 2]} as asked.') == {"a": [1, 2]}
    with pytest.raises(ValueError):
        parse_json_value("nothing here")
    assert strip_fences("plain") == "plain"
