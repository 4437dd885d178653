"""The Chat pane on the real core: a message with an image goes to the real tiny vLLM engine and
the answer streams into the transcript; conversations persist, are searchable, and images
pasted into the composer become attachments."""

from __future__ import annotations

from typing import Any

import pytest
from PIL import Image, ImageDraw
from PySide6.QtCore import QMimeData
from PySide6.QtGui import QImage

from qwen3vl_agent.config import Settings
from qwen3vl_agent.inference.request import SamplingParams
from qwen3vl_agent.ui.chat_pane import CURSOR


def screenshot_like() -> Image.Image:
    img = Image.new("RGB", (640, 400), "white")
    d = ImageDraw.Draw(img)
    d.rectangle((20, 20, 300, 60), outline="black")
    d.text((30, 30), "Total: 42 EUR", fill="black")
    return img


@pytest.mark.engine
@pytest.mark.slow
def test_message_with_image_streams_answer_from_tiny_engine(
    make_window: Any, qloop: Any, tiny_engine: Any
) -> None:
    from qwen3vl_agent.ui.chat_widgets import PendingImage

    settings = Settings.model_validate(
        {
            "engine": {
                "mode": "endpoints",
                "endpoints": [tiny_engine.endpoint_settings().model_dump()],
                "limit_mm_images": 2,
            },
            "images": {"chat_budget_tokens": 256},
        }
    )
    window = make_window(settings)
    qloop.wait_until(
        lambda: window.ctx.core.engine_ready.is_set() or window.ctx.core.engine_error, 120, "the engine"
    )
    assert window.ctx.core.engine_error is None
    qloop.wait_until(lambda: window.status.engine.view.state == "ready", 10, "ready in the status bar")
    assert window.status.model.text() == tiny_engine.served_model_name

    chat = window.chat
    chat.sampling = SamplingParams(max_tokens=48)
    deltas: list[str] = []
    partial_views: list[str] = []

    def on_delta(_token: int, text: str) -> None:
        deltas.append(text)
        partial_views.append(chat.transcript.toPlainText())

    window.ctx.bridge.chat_delta.connect(on_delta)
    chat.add_image(PendingImage("region", screenshot_like()))
    assert chat.attachments.count() == 1 and chat.attachments.isVisible()
    chat.input.setPlainText("What is the total on this invoice?")
    chat.primary_action()
    assert chat.attachments.count() == 0 and chat.stop_button.isEnabled()
    qloop.wait_until(lambda: not chat.busy, 180, "the answer")

    answer = chat.history[-1]
    assert answer.role == "assistant" and answer.status == "done", answer.text
    assert len(deltas) > 3  # streamed, not delivered at once
    assert "".join(deltas) == answer.text
    assert answer.text.strip()
    chat.render_transcript()
    assert (
        answer.text.strip()[:20] in chat.transcript.toPlainText().replace("\n", " ")
        or answer.text.split()[0] in chat.transcript.toPlainText()
    )
    assert any(v for v in partial_views)  # the transcript was repainted while streaming

    stored = window.ctx.conversations.messages(chat.conversation_id)
    assert [m.role for m in stored] == ["user", "assistant"]
    assert stored[0].attachments[0].label == "region" and stored[0].attachments[0].width == 640
    assert stored[1].text == answer.text

    # stop mid-answer keeps what streamed so far
    chat.sampling = SamplingParams(max_tokens=2000, ignore_eos=True)  # a long answer to stop
    chat.input.setPlainText("Describe it in great detail.")
    chat.primary_action()
    qloop.wait_until(
        lambda: len(chat.controller.streaming.get(chat.controller.stream_msg_id or -1, "")) > 5,
        120,
        "streaming to start",
    )
    chat.stop_action()
    qloop.wait_until(lambda: not chat.busy, 30, "the stop")
    last = window.ctx.conversations.messages(chat.conversation_id)[-1]
    assert last.status == "stopped" and len(last.text) > 5


def test_conversations_persist_and_search(make_window: Any, qloop: Any) -> None:
    settings = Settings.model_validate({"engine": {"vllm_executable": "/nonexistent/vllm"}})
    window = make_window(settings, start_engine=False)
    store = window.ctx.conversations
    a = store.create("Invoice 42")
    store.add_message(a.id, "user", "what is the total")
    b = store.create("Holiday photos")
    store.add_message(b.id, "user", "where was this taken? near the lighthouse")
    chat = window.chat
    chat.refresh_conversations()
    qloop.wait_until(lambda: chat.conversations.count() == 2, 10, "the list")
    chat.search.setText("lighthouse")
    qloop.wait_until(lambda: chat.conversations.count() == 1, 10, "the search")
    assert chat.conversations.item(0).text() == "Holiday photos"
    chat.conversations.setCurrentRow(0)
    qloop.wait_until(lambda: chat.conversation_id == b.id and chat.history, 10, "opening it")
    assert "lighthouse" in chat.transcript.toPlainText()


def test_pasted_image_becomes_an_attachment(make_window: Any) -> None:
    settings = Settings.model_validate({"engine": {"vllm_executable": "/nonexistent/vllm"}})
    window = make_window(settings, start_engine=False)
    image = QImage(120, 80, QImage.Format.Format_RGB32)
    image.fill(0x3366CC)
    mime = QMimeData()
    mime.setImageData(image)
    window.chat.input.insertFromMimeData(mime)
    strip = window.chat.attachments
    assert strip.count() == 1
    assert strip.images[0].image.size == (120, 80)
    assert strip.images[0].image.getpixel((5, 5)) == (0x33, 0x66, 0xCC)
    strip.remove(0)
    assert strip.count() == 0 and not strip.isVisible()


def test_a_large_image_is_attached_with_a_thumbnail_made_off_the_qt_thread(
    make_window: Any, qloop: Any
) -> None:
    """Images over 1024 px take the off-thread thumbnail path (it used to fail there)."""
    from qwen3vl_agent.ui.chat_widgets import PendingImage

    settings = Settings.model_validate({"engine": {"vllm_executable": "/nonexistent/vllm"}})
    window = make_window(settings, start_engine=False)
    window.chat.add_image(PendingImage("screen", Image.new("RGB", (2560, 1440), (200, 40, 40))))
    strip = window.chat.attachments
    qloop.wait_until(lambda: strip.count() == 1, 10, "the large attachment")
    assert strip.images[0].image.size == (2560, 1440) and not strip.item(0).icon().isNull()


@pytest.mark.parametrize("fmt", ["Format_ARGB32", "Format_ARGB32_Premultiplied", "Format_RGBA8888"])
def test_a_pasted_transparent_image_lands_on_white(make_window: Any, fmt: str) -> None:
    """Dark text on a transparent background (a screenshot tool's cut-out): converted straight to
    RGB, the background came out black and the text unreadable."""
    settings = Settings.model_validate({"engine": {"vllm_executable": "/nonexistent/vllm"}})
    window = make_window(settings, start_engine=False)
    image = QImage(120, 80, getattr(QImage.Format, fmt))
    image.fill(0x00000000)  # fully transparent black
    for x in range(20, 100):
        for y in range(30, 50):
            image.setPixel(x, y, 0xFF101010)  # opaque dark "text"
    mime = QMimeData()
    mime.setImageData(image)
    window.chat.input.insertFromMimeData(mime)
    [pending] = window.chat.attachments.images
    assert pending.image.mode == "RGB"
    assert pending.image.getpixel((5, 5)) == (255, 255, 255)
    assert pending.image.getpixel((60, 40)) == (0x10, 0x10, 0x10)


@pytest.mark.xvfb
def test_region_dragged_on_the_overlay_becomes_an_attachment(make_window: Any, qloop: Any, xvfb: Any) -> None:
    from PySide6.QtCore import QRect
    from PySide6.QtWidgets import QApplication

    from qwen3vl_agent.ui.region_overlay import RegionOverlay

    settings = Settings.model_validate({"engine": {"vllm_executable": "/nonexistent/vllm"}})
    window = make_window(settings, start_engine=False)
    chat = window.chat
    task = window.ctx.tasks.spawn(chat.attach_capture("region"))

    def overlay() -> Any:
        return next(
            (w for w in QApplication.topLevelWidgets() if isinstance(w, RegionOverlay) and w.isVisible()),
            None,
        )

    qloop.wait_until(lambda: overlay() is not None, 30, "the region overlay")
    ov = overlay()
    scale = ov._scale
    ov.select_logical(QRect(100, 50, 200, 120))
    qloop.wait_until(task.done, 10, "the capture")
    assert window.isVisible()  # hidden only for the grab, back afterwards
    assert chat.attachments.count() == 1
    image = chat.attachments.images[0].image
    assert abs(image.width - 200 * scale) <= 2 and abs(image.height - 120 * scale) <= 2


def test_escape_on_the_overlay_cancels(qloop: Any) -> None:
    from PIL import Image as PILImage
    from PySide6.QtCore import QRect, Qt
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    from qwen3vl_agent.ui.region_overlay import RegionOverlay, pick_region

    shot = PILImage.new("RGB", (400, 300), "white")
    task = qloop.loop.create_task(pick_region(shot, QRect(0, 0, 400, 300)))
    qloop.wait_until(
        lambda: any(isinstance(w, RegionOverlay) and w.isVisible() for w in QApplication.topLevelWidgets()),
        10,
        "overlay",
    )
    ov = next(w for w in QApplication.topLevelWidgets() if isinstance(w, RegionOverlay) and w.isVisible())
    QTest.keyClick(ov, Qt.Key.Key_Escape)
    qloop.wait_until(task.done, 10, "cancel")
    assert task.result() is None


def test_a_streamed_answer_is_appended_not_re_rendered_per_piece(
    make_window: Any, qloop: Any, policy_server: Any
) -> None:
    answer = "The total is **42 EUR**. " * 40  # about 40 pieces of 24 characters
    policy_server.planner = lambda ctx: answer
    window = make_window(Settings.model_validate(policy_server.settings_overrides()))
    qloop.wait_until(lambda: window.ctx.core.engine_ready.is_set(), 30, "the endpoint")
    chat = window.chat
    pieces: list[str] = []
    views: list[str] = []

    def on_delta(_token: int, text: str) -> None:  # connected after the pane: sees its transcript
        pieces.append(text)
        views.append(chat.transcript.toPlainText())

    window.ctx.bridge.chat_delta.connect(on_delta)
    renders = chat.full_renders
    chat.input.setPlainText("What is the total?")
    chat.primary_action()
    qloop.wait_until(lambda: not chat.busy, 60, "the answer")
    assert chat.history[-1].status == "done" and chat.history[-1].text == answer
    assert len(pieces) > 10
    assert chat.full_renders - renders == 2  # the turn's start and end, not once per piece
    so_far = ""
    for piece, view in zip(pieces, views, strict=True):  # each piece was in view as it arrived
        so_far += piece
        assert view.endswith("\n" + so_far + CURSOR)
    final = chat.transcript.toPlainText()
    assert "The total is 42 EUR." in final and "**" not in final  # the finished answer as Markdown
    assert CURSOR.strip() not in final
