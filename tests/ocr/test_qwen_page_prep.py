"""The Qwen3-VL engine gets the CPU engine's page preparation: upright, straight, and a visual
budget that keeps 9 pt print legible. The model's answer is scripted here (a real model cannot
run on this machine; the tiny test engine's words are noise): only what the engine SENDS, and how
it maps the answer back, are under test."""

from __future__ import annotations

import io

from PIL import Image

from qwen3vl_agent.inference.request import DeltaCallback, InferenceRequest, InferenceResult
from qwen3vl_agent.ocr.inputs import PageInput, PageRef
from qwen3vl_agent.ocr.page_prep import estimate_skew
from qwen3vl_agent.ocr.qwen_engine import QwenOcrEngine, QwenOptions, legible_budget
from tests.support.ocr_documents import paragraphs_page


class _Scripted:
    """Records the request and answers one line spotted at the top left of the page."""

    def __init__(self) -> None:
        self.requests: list[InferenceRequest] = []

    async def submit(
        self, request: InferenceRequest, on_delta: DeltaCallback | None = None
    ) -> InferenceResult:
        self.requests.append(request)
        return InferenceResult(text='[{"bbox_2d": [100, 80, 900, 95], "text_content": "first line"}]')


def test_legible_budget_raises_small_budgets_to_a_150_dpi_page_and_no_further() -> None:
    assert legible_budget(1240, 1754, 150, 1024) == 2124  # A4 at 150 dpi
    assert legible_budget(2480, 3508, 300, 1024) == 2124  # the same page scanned at 300 dpi
    assert legible_budget(1240, 1754, None, 8000) == 8000  # a larger budget is kept
    assert legible_budget(5000, 7000, None, 1024) == 4096  # capped
    assert legible_budget(640, 480, None, 1024) == 1024


async def test_a_turned_skewed_page_is_sent_upright_and_straight_with_a_legible_budget() -> None:
    page = paragraphs_page().image.convert("L").rotate(5, fillcolor=255).rotate(90, expand=True)
    service = _Scripted()
    engine = QwenOcrEngine(service, QwenOptions(mode="lines", budget_tokens=512))
    result = await engine.recognise(PageInput(PageRef("page.png", "image", 0), page.width, page.height, page))
    (request,) = service.requests
    (sent,) = request.messages[0].images()
    image = Image.open(io.BytesIO(sent.data))
    assert image.height > image.width  # portrait again: the page was turned upright
    assert abs(estimate_skew(image)) < 0.5  # and straightened
    assert sent.width * sent.height >= 0.9 * 2124 * 32 * 32  # 512 tokens raised to a 150 dpi page
    assert result.rotation == 90 and abs(result.skew - 5) <= 0.3
    assert (result.width, result.height) == (page.height, page.width)  # boxes on the upright page
    (line,) = result.lines
    assert line.box is not None and line.box.left == result.width * 0.1
