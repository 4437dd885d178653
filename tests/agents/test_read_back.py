"""Read-back before Submit, with the real CPU OCR engine (Tesseract) on a drawn form.

A form left half-filled by an interrupted row shows "Alice AdamsBruno Bauer": the next row's
"Bruno Bauer" must not count as seen, and a click on Submit over it must be refused before it
happens; the same click over a clean form goes through, and a click elsewhere is not checked.
"""

from __future__ import annotations

from PIL import Image, ImageDraw, ImageFont

from qwen3vl_agent.actions.model import Action, ActionType, ResolvedAction
from qwen3vl_agent.agents.ports import Observation
from qwen3vl_agent.agents.read_back import SubmitCheck, value_seen, visible_values
from qwen3vl_agent.executor.secrets import MASK
from qwen3vl_agent.inference.request import PreparedImage

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
SIZE = (1000, 500)


def form(name: str, city: str) -> Image.Image:
    image = Image.new("RGB", SIZE, "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(FONT, 28)
    draw.text((40, 60), "Name", fill="black", font=font)
    draw.rectangle((200, 50, 900, 100), outline="gray")
    draw.text((210, 60), name, fill="black", font=font)
    draw.text((40, 160), "City", fill="black", font=font)
    draw.rectangle((200, 150, 900, 200), outline="gray")
    draw.text((210, 160), city, fill="black", font=font)
    draw.rectangle((60, 395, 220, 445), outline="black")
    draw.text((80, 405), "Submit", fill="black", font=font)
    return image


def observe(image: Image.Image) -> Observation:
    return Observation(
        image=PreparedImage(b"", "image/png", image.width, image.height, image.width, image.height, "x"),
        geometry=None,
        screen_hash="x",
        source=image,
    )


def click(px: tuple[int, int]) -> ResolvedAction:
    grid = (px[0] / SIZE[0] * 1000, px[1] / SIZE[1] * 1000)  # the model's 0..1000 grid
    return ResolvedAction(Action(ActionType.LEFT_CLICK, coordinate=grid), point=px)


def test_values_must_stand_as_whole_words() -> None:
    assert not value_seen("Bruno Bauer", "Name Alice AdamsBruno Bauer")
    assert not value_seen("Hamburg", "City BostonHamburg")
    assert value_seen("Bruno Bauer", "Name | Bruno Bauer |")
    assert visible_values({"name": "Ada", "password": "x", "pin2": MASK, "memo": MASK}) == {"name": "Ada"}


async def test_submit_over_a_dirty_form_is_refused_before_it_happens() -> None:
    row = {"name": "Bruno Bauer", "city": "Hamburg", "subscribe": "yes"}
    check = SubmitCheck(row)
    dirty = observe(form("Alice AdamsBruno Bauer", "BostonHamburg"))
    refusal = await check(click((140, 420)), dirty)
    assert refusal is not None and "name='Bruno Bauer'" in refusal and "city='Hamburg'" in refusal
    assert await check(click((500, 75)), dirty) is None  # a click into a field is not a Submit
    clean = observe(form("Bruno Bauer", "Hamburg"))
    assert await check(click((140, 420)), clean) is None
