"""The Qwen3-VL OCR engine: one page = one request through the inference service at batch priority.

Modes: `text` (plain), `markdown` (`qwenvl markdown`), `html` (`qwenvl html`, elements carry
`data-bbox` positions), `lines` (line spotting: `bbox_2d` + `text_content`, 0..1000 scale mapped
back to page pixels) and `json` (key-value extraction into the user's JSON schema with
structured output, validated again here). Prompts are data: resources/ocr/prompts.toml.

Pages get the same preparation as on the CPU engine (`page_prep`: turned upright by Tesseract's
orientation detection, straightened) and a visual-token budget of at least what keeps 9 pt
print legible: the page at 150 dpi (an A4 page ≈ 2,100 tokens, 9 pt ≈ 19 px a line), capped.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
import math
import tomllib
from dataclasses import dataclass
from importlib import resources
from typing import Any, Literal, Protocol

from qwen3vl_agent.errors import UserFacingError
from qwen3vl_agent.inference.request import (
    DeltaCallback,
    ImagePart,
    InferenceRequest,
    InferenceResult,
    Message,
    PreparedImage,
    SamplingParams,
    TaskKind,
)
from qwen3vl_agent.ocr import page_prep
from qwen3vl_agent.ocr.cpu_engine import page_from_text_layer
from qwen3vl_agent.ocr.inputs import PageInput
from qwen3vl_agent.ocr.model import OcrPage
from qwen3vl_agent.ocr.parsing import (
    markdown_to_text,
    parse_html,
    parse_json_value,
    parse_lines,
    strip_fences,
)

Mode = Literal["text", "markdown", "html", "lines", "json"]
MODES: tuple[Mode, ...] = ("text", "markdown", "html", "lines", "json")
ENGINE_NAME = "qwen3-vl"
LEGIBLE_DPI = 150  # 9 pt print is ≈19 px a line there
LEGIBLE_MAX_TOKENS = 4096  # the floor never asks for more than this per page
_TOKEN_PIXELS = 32 * 32

LINES_SCHEMA: dict[str, Any] = {
    "type": "array",
    "items": {
        "type": "object",
        "properties": {
            "bbox_2d": {
                "type": "array",
                "items": {"type": "integer", "minimum": 0, "maximum": 1000},
                "minItems": 4,
                "maxItems": 4,
            },
            "text_content": {"type": "string"},
        },
        "required": ["bbox_2d", "text_content"],
        "additionalProperties": False,
    },
}


class OcrOutputError(UserFacingError):
    """The model's answer for a page could not be used (e.g. JSON that does not fit the schema)."""


class SchemaError(UserFacingError):
    """The user's JSON schema is not a valid JSON Schema."""


class OcrSubmitter(Protocol):
    """What the engine needs from the inference service."""

    async def submit(
        self, request: InferenceRequest, on_delta: DeltaCallback | None = None
    ) -> InferenceResult: ...


@functools.lru_cache(maxsize=1)
def prompts() -> dict[str, dict[str, Any]]:
    text = resources.files("qwen3vl_agent.resources").joinpath("ocr/prompts.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


def check_schema(schema: Any) -> dict[str, Any]:
    """The schema itself must be valid JSON Schema (draft 2020-12) and an object."""
    import jsonschema

    if not isinstance(schema, dict):
        raise SchemaError("The JSON schema must be a JSON object")
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise SchemaError(f"The JSON schema is not valid: {exc.message}") from exc
    return schema


def validate_against(value: Any, schema: dict[str, Any]) -> None:
    import jsonschema

    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(value), key=lambda e: list(e.path))
    if errors:
        where = "/".join(str(p) for p in errors[0].path) or "(root)"
        raise OcrOutputError(f"The extracted JSON does not match the schema at {where}: {errors[0].message}")


@dataclass(frozen=True)
class QwenOptions:
    mode: Mode = "text"
    schema: dict[str, Any] | None = None  # required for mode "json"
    budget_tokens: int = 2048
    encoding: Literal["png", "webp", "jpeg"] = "png"
    structured_lines: bool = True  # constrain `lines` answers to the spotting JSON shape
    max_tokens: int | None = None  # None = the prompt file's value per mode


@dataclass(frozen=True)
class PreparedPage:
    """A page ready for the model: its size and text layer, and its image already shrunk to the
    token budget and encoded (None when the text layer is used). Small enough to pass between
    processes, so full-size pixels never leave the worker that decoded them."""

    page: PageInput  # without its full-size image; its size is the upright, straight page's
    image: PreparedImage | None
    rotation: int = 0  # degrees the page was turned clockwise to stand upright
    skew: float = 0.0  # degrees it was straightened by


def legible_budget(width: int, height: int, dpi: int | None, requested: int) -> int:
    """`requested`, raised to what shows the page at `LEGIBLE_DPI` (a page of unknown resolution
    is taken as scanned at that resolution), never above `LEGIBLE_MAX_TOKENS` by this rule."""
    scale = min(1.0, LEGIBLE_DPI / dpi) if dpi else 1.0
    needed = math.ceil(width * height * scale * scale / _TOKEN_PIXELS)
    return max(requested, min(LEGIBLE_MAX_TOKENS, needed))


def prepare_page(
    page: PageInput, budget_tokens: int, encoding: str = "png", orientation: bool = True
) -> PreparedPage:
    """Upright, straight, shrunk to a legible budget and encoded (in a worker process, usually)."""
    from qwen3vl_agent.imaging.prep import prepare_image

    if page.image is None:
        return PreparedPage(page, None)
    upright = page_prep.prepare_page(page.image, orientation=orientation)
    w, h = upright.image.size
    budget = legible_budget(w, h, page.dpi, budget_tokens)
    prepared = prepare_image(upright.image, budget, encoding)  # type: ignore[arg-type]
    page = dataclasses.replace(page, image=None, width=w, height=h)
    return PreparedPage(page, prepared, upright.rotation, upright.skew)


class QwenOcrEngine:
    """Read pages with Qwen3-VL through an `OcrSubmitter` (the app's InferenceService)."""

    def __init__(self, service: OcrSubmitter, options: QwenOptions | None = None) -> None:
        self.service = service
        self.options = options or QwenOptions()
        if self.options.mode not in MODES:
            raise UserFacingError(f"Unknown OCR mode {self.options.mode!r}; choose one of {', '.join(MODES)}")
        if self.options.mode == "json":
            if self.options.schema is None:
                raise SchemaError("The json mode needs a JSON schema (--schema FILE)")
            check_schema(self.options.schema)

    @property
    def name(self) -> str:
        return f"{ENGINE_NAME}:{self.options.mode}"

    def build_request(self, page: PageInput) -> InferenceRequest:
        from qwen3vl_agent.imaging.prep import prepare_image

        assert page.image is not None
        budget = legible_budget(page.width, page.height, page.dpi, self.options.budget_tokens)
        return self.request_for(prepare_image(page.image, budget, self.options.encoding))

    def request_for(self, prepared: PreparedImage) -> InferenceRequest:
        """The request for a page image already shrunk to the budget and encoded."""
        opts = self.options
        spec = prompts()[opts.mode]
        prompt = str(spec["prompt"])
        if opts.mode == "json":
            prompt = prompt.replace("{schema}", json.dumps(opts.schema, ensure_ascii=False))
        schema = opts.schema if opts.mode == "json" else None
        if opts.mode == "lines" and opts.structured_lines:
            schema = LINES_SCHEMA
        return InferenceRequest(
            messages=[Message.user(ImagePart(prepared), prompt)],
            kind=TaskKind.OCR,
            sampling=SamplingParams.greedy(max_tokens=opts.max_tokens or int(spec["max_tokens"])),
            json_schema=schema,
            # nobody reads an OCR page token by token: a whole answer spares the server's front
            # end the per-token SSE work (docs/benchmarks.md, "Streamed or whole answers")
            stream=False,
        )

    def parse(self, answer: str, page: PageInput) -> OcrPage:
        """Turn the model's answer into the page result (raises `OcrOutputError`)."""
        mode, w, h = self.options.mode, page.width, page.height
        result = OcrPage(index=page.ref.index, width=w, height=h, text="", engine=self.name, dpi=page.dpi)
        if mode == "text":
            result.text = strip_fences(answer)
        elif mode == "markdown":
            result.markdown = strip_fences(answer)
            result.text = markdown_to_text(result.markdown)
        elif mode == "html":
            result.html, result.lines, result.text = parse_html(answer, w, h)
        elif mode == "lines":
            result.lines = parse_lines(answer, w, h)
            result.text = "\n".join(line.text for line in result.lines)
        else:
            try:
                value = parse_json_value(answer)
            except ValueError as exc:
                raise OcrOutputError(f"The model's answer is not JSON: {answer[:80]!r}") from exc
            assert self.options.schema is not None
            validate_against(value, self.options.schema)
            result.data = value
            result.text = json.dumps(value, ensure_ascii=False, indent=2)
        return result

    async def recognise(self, page: PageInput) -> OcrPage:
        """Read one loaded page (pages with a usable PDF text layer skip the model)."""
        if page.text_lines is not None and self.options.mode != "json":
            return page_from_text_layer(page)
        if page.image is None:
            raise OcrOutputError("The page has no image to read")
        opts = self.options
        prepared = await asyncio.to_thread(prepare_page, page, opts.budget_tokens, opts.encoding)
        return await self.recognise_prepared(prepared)

    async def recognise_prepared(self, prepared: PreparedPage) -> OcrPage:
        """Read a page prepared by `prepare_page` (in a worker process, usually)."""
        page = prepared.page
        if page.text_lines is not None and self.options.mode != "json":
            return page_from_text_layer(page)
        if prepared.image is None:
            raise OcrOutputError("The page has no image to read")
        result = await self.service.submit(self.request_for(prepared.image))
        parsed = self.parse(result.text, page)
        parsed.rotation, parsed.skew = prepared.rotation, prepared.skew
        return parsed
