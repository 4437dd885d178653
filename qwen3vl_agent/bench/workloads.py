"""Benchmark workloads: turn a planned request into the app's own `InferenceRequest`.

* `chat`: a 1920x1080 screenshot + a question padded to about 256 text tokens (the seed's
  workload: one 1080p image + 256-token prompt, 64 tokens out).
* `agent`: one agent step at the agent budget: system prompt + the `computer_use` tool + the task
  + the current screenshot, greedy decoding.
* `ocr`: one A4 document page at the OCR budget with Qwen-VL's `qwenvl markdown` prompt.

Images go through the app's image preparation (`imaging.prep`): resized to the task's
visual-token budget and encoded on the client. `full_res` sends the 1080p pixels as they are
(what a client without a budget does; the server then resizes).
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from PIL import Image

from qwen3vl_agent.bench.images import REALISTIC_SCREEN_KINDS, ImageKind, ImagePool, stamp_nonce
from qwen3vl_agent.bench.plan import RequestSpec
from qwen3vl_agent.config import ImageSettings
from qwen3vl_agent.imaging.prep import MIME, encode, pixel_hash, prepare_image
from qwen3vl_agent.imaging.prep_memo import PreparedMemo
from qwen3vl_agent.inference.request import (
    CachePolicy,
    ImagePart,
    InferenceRequest,
    Message,
    PreparedImage,
    SamplingParams,
    TaskKind,
    TextPart,
)


class Workload(StrEnum):
    CHAT = "chat"
    AGENT = "agent"
    OCR = "ocr"


CHAT_QUESTIONS = (
    "What is on this screen? Describe the main window.",
    "Which fields of the form are still empty?",
    "Summarise the document that is open.",
    "What is the total amount shown here?",
    "Where is the Submit button?",
    "List the files in the file manager window.",
    "Which settings are switched on?",
    "What does the terminal output say?",
)
AGENT_TASKS = (
    "Fill the form with: First name Ada, Last name Lovelace, Email ada@example.com, then submit it.",
    "Open the settings window and switch on the first toggle.",
    "Type the order number 48213 into the Reference field.",
    "Find the invoice file from October and open it.",
)
OCR_PROMPTS = ("qwenvl markdown",)
FILLER_WORDS = [
    "context",
    "note",
    "the",
    "user",
    "works",
    "on",
    "a",
    "desktop",
    "with",
    "several",
    "windows",
    "open",
    "and",
    "wants",
    "a",
    "short",
    "precise",
    "answer",
    "about",
    "what",
    "is",
    "visible",
    "without",
    "guessing",
    "anything",
    "that",
    "is",
    "not",
    "on",
    "the",
    "screen",
    "please",
    "keep",
    "numbers",
    "exactly",
    "as",
    "shown",
    "and",
    "name",
    "the",
    "window",
    "each",
    "fact",
    "comes",
    "from",
]


def load_agent_prompt() -> tuple[str, list[dict[str, Any]], str]:
    """The agent's system prompt and `computer_use` tool from `resources/computer_use/` (the
    app's own; no copy here that could drift). Returns (system prompt, tools, source)."""
    from qwen3vl_agent.resources_loader import computer_use_system_prompt, computer_use_tool

    return computer_use_system_prompt(), [computer_use_tool()], "resources/computer_use"


def image_kinds(workload: Workload) -> tuple[ImageKind, ...]:
    return (ImageKind.PAGE,) if workload is Workload.OCR else REALISTIC_SCREEN_KINDS


@dataclass
class WorkloadConfig:
    workload: Workload = Workload.CHAT
    budget_tokens: int | None = None  # None = the task's budget from settings
    full_res: bool = False
    max_tokens: int = 64
    ignore_eos: bool = True
    use_cache: bool = True
    prompt_words: int = 180  # chat filler: with the question about 256 text tokens
    stream: bool = True  # False: one JSON answer (no TTFT on the client; the server's is in `server`)
    images: ImageSettings = field(default_factory=ImageSettings)
    # a repeat mix sends the same screenshot again: remember prepared images, as the chat does
    remember_prepared: bool = False

    def effective_budget(self) -> int:
        if self.budget_tokens is not None:
            return self.budget_tokens
        return {
            Workload.CHAT: self.images.chat_budget_tokens,
            Workload.AGENT: self.images.agent_budget_tokens,
            Workload.OCR: self.images.ocr_budget_tokens,
        }[self.workload]


@dataclass(frozen=True)
class BuiltRequest:
    request: InferenceRequest
    image: PreparedImage
    prep_s: float
    text: str  # the user text (for the sync baseline and the JSONL export)


class RequestFactory:
    """Builds requests for one workload over one image pool (thread-safe: the memo locks itself)."""

    def __init__(self, config: WorkloadConfig, pool: ImagePool) -> None:
        self.config = config
        self.pool = pool
        self.memo = PreparedMemo() if config.remember_prepared else None
        self.system, self.tools, self.tool_source = load_agent_prompt()
        self.questions: tuple[str, ...] = {
            Workload.CHAT: CHAT_QUESTIONS,
            Workload.AGENT: AGENT_TASKS,
            Workload.OCR: OCR_PROMPTS,
        }[config.workload]

    def text_for(self, spec: RequestSpec) -> str:
        question = self.questions[spec.question_index % len(self.questions)]
        if self.config.workload is Workload.CHAT:
            r = random.Random(spec.nonce)
            filler = " ".join(r.choice(FILLER_WORDS) for _ in range(self.config.prompt_words))
            return f"[{spec.nonce}] {filler}\n\n{question}"
        if self.config.workload is Workload.AGENT:
            return f"[{spec.nonce}] Task: {question}\nThe current screenshot is attached. Decide the next action."
        return f"[{spec.nonce}] {question}"

    def raw_image(self, spec: RequestSpec) -> Image.Image:
        return stamp_nonce(self.pool.bases[spec.image_index % len(self.pool)], spec.nonce)

    def prepare(self, image: Image.Image) -> PreparedImage:
        cfg = self.config
        if cfg.full_res:
            data = encode(image, cfg.images.encoding, cfg.images.jpeg_quality)
            salt = "" if cfg.images.encoding == "png" else f"{cfg.images.encoding}:q{cfg.images.jpeg_quality}"
            return PreparedImage(
                data=data,
                mime=MIME[cfg.images.encoding],
                width=image.width,
                height=image.height,
                source_width=image.width,
                source_height=image.height,
                pixel_hash=pixel_hash(image, salt),
            )
        prepare = self.memo.prepare if self.memo is not None else prepare_image
        return prepare(image, cfg.effective_budget(), cfg.images.encoding, quality=cfg.images.jpeg_quality)

    def build(self, spec: RequestSpec) -> BuiltRequest:
        """Stamp, prepare and wrap one request (CPU work: run it in a worker thread)."""
        t0 = time.perf_counter()
        prepared = self.prepare(self.raw_image(spec))
        return self.wrap(spec, prepared, time.perf_counter() - t0)

    def wrap(self, spec: RequestSpec, prepared: PreparedImage, prep_s: float) -> BuiltRequest:
        cfg = self.config
        text = self.text_for(spec)
        user = Message("user", (ImagePart(prepared), TextPart(text)))
        kind = {Workload.CHAT: TaskKind.CHAT, Workload.AGENT: TaskKind.AGENT, Workload.OCR: TaskKind.OCR}[
            cfg.workload
        ]
        # greedy everywhere: agent steps and OCR are greedy in the app, and a greedy chat
        # request is cacheable, which the repeat mix needs
        sampling = SamplingParams(
            temperature=0.0,
            top_p=1.0,
            top_k=-1,
            presence_penalty=0.0,
            max_tokens=cfg.max_tokens,
            ignore_eos=cfg.ignore_eos,
        )
        messages = [Message.system(self.system), user] if cfg.workload is Workload.AGENT else [user]
        request = InferenceRequest(
            messages=messages,
            kind=kind,
            sampling=sampling,
            # the shipped system prompt already lists the tool; sending `tools` too would
            # render it twice in the chat template
            tools=self.tools if cfg.workload is Workload.AGENT and "<tools>" not in self.system else None,
            cache=CachePolicy(use=cfg.use_cache),
            stream=cfg.stream,
        )
        return BuiltRequest(request, prepared, prep_s, text)
