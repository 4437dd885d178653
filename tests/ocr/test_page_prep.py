"""Page preparation shared by the engines: skew estimate, straightening, orientation detection."""

from __future__ import annotations

import pytest
from PIL import Image

from qwen3vl_agent.ocr.cpu_engine import recognise_image
from qwen3vl_agent.ocr.page_prep import estimate_skew, prepare_page
from qwen3vl_agent.ocr.tesseract_api import detect_orientation, image_data
from tests.support.ocr_documents import cer, paragraphs_page, table_page, two_column_page

SKEWED_PAGE_CER_MAX = 0.01  # measured 0.0–0.44 % for 6° and 9° either way (docs/benchmarks.md)


def _skewed(image: Image.Image, degrees: float) -> Image.Image:
    return image.convert("L").rotate(degrees, resample=Image.Resampling.BICUBIC, fillcolor=255)


@pytest.mark.parametrize("degrees", [-9.5, -3.0, 0.7, 6.0])
def test_the_skew_of_text_pages_is_measured_to_a_fifth_of_a_degree(degrees: float) -> None:
    for page in (paragraphs_page(), two_column_page(), table_page()):
        assert abs(estimate_skew(_skewed(page.image, degrees)) - degrees) <= 0.2, page.name


def test_a_page_without_text_has_no_skew() -> None:
    assert estimate_skew(Image.new("L", (800, 1100), 255)) == 0.0
    dots = Image.new("L", (800, 1100), 255)
    dots.putpixel((10, 10), 0)
    assert estimate_skew(dots) == 0.0


def test_orientation_and_script_come_from_tesseract() -> None:
    page = paragraphs_page().image.convert("L")
    found = detect_orientation(page.rotate(90, expand=True))  # turned anticlockwise
    assert found is not None and found.rotate_cw == 90 and found.script == "Latin"
    prepared = prepare_page(page.rotate(180, expand=True).rotate(4, fillcolor=255))
    assert prepared.rotation == 180 and abs(prepared.skew - 4) <= 0.3
    assert prepared.image.size == (page.width, page.height)


def test_tesseract_words_come_with_boxes_and_confidences() -> None:
    data = image_data(table_page().image.convert("L"), "eng", 3)
    words = [w for w, c in zip(data["text"], data["conf"], strict=True) if c >= 0 and w.strip()]
    assert words[:4] == ["Item", "Quantity", "Unit", "price"]
    assert len(data["left"]) == len(data["text"]) == len(data["block_num"])


@pytest.mark.parametrize(("turn", "degrees"), [(0, -9.0), (270, 7.0)])
def test_a_skewed_or_turned_and_skewed_page_reads_below_one_percent(turn: int, degrees: float) -> None:
    page = paragraphs_page()
    image = _skewed(page.image, degrees).rotate(turn, expand=True)
    result = recognise_image(image)
    assert result.rotation == turn and abs(result.skew - degrees) <= 0.3  # PIL turned it anticlockwise
    assert cer(page.text, result.text) <= SKEWED_PAGE_CER_MAX
