"""The values that travel through the inference path: requests, prepared images, results.

One request type serves chat, agent steps, OCR pages and benchmarks; the queue orders them by
`priority`, the cache keys them by content, the engine client turns them into OpenAI-compatible
JSON. Images are prepared (resized, encoded, hashed) before they get here.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum
from typing import Any


class Priority(IntEnum):
    """Lower runs first: interactive chat, then agent steps, then batch OCR."""

    CHAT = 0
    AGENT = 1
    BATCH = 2


class TaskKind(StrEnum):
    CHAT = "chat"
    AGENT = "agent"
    OCR = "ocr"
    BENCH = "bench"


DEFAULT_PRIORITY = {
    TaskKind.CHAT: Priority.CHAT,
    TaskKind.AGENT: Priority.AGENT,
    TaskKind.OCR: Priority.BATCH,
    TaskKind.BENCH: Priority.CHAT,
}


@dataclass(frozen=True)
class PreparedImage:
    """An image ready for the wire: encoded bytes plus the hash of the pixels they decode to."""

    data: bytes
    mime: str
    width: int
    height: int
    source_width: int
    source_height: int
    pixel_hash: str  # exact hash of the decoded RGB pixels that are sent (size included)
    phash: str | None = None  # perceptual hash, only computed when near-duplicate matching is asked

    @property
    def visual_tokens(self) -> int:
        """Qwen3-VL visual tokens for this image (one per 32x32 block)."""
        return (self.width // 32) * (self.height // 32)


@dataclass(frozen=True)
class TextPart:
    text: str


@dataclass(frozen=True)
class ImagePart:
    image: PreparedImage


ContentPart = TextPart | ImagePart


@dataclass(frozen=True)
class Message:
    role: str  # "system" | "user" | "assistant"
    content: tuple[ContentPart, ...] | str

    @staticmethod
    def user(*parts: ContentPart | str) -> Message:
        return Message("user", tuple(TextPart(p) if isinstance(p, str) else p for p in parts))

    @staticmethod
    def system(text: str) -> Message:
        return Message("system", text)

    @staticmethod
    def assistant(text: str) -> Message:
        return Message("assistant", text)

    def images(self) -> list[PreparedImage]:
        if isinstance(self.content, str):
            return []
        return [p.image for p in self.content if isinstance(p, ImagePart)]


@dataclass(frozen=True)
class SamplingParams:
    """Model-card defaults for chat; agent steps, grounding and OCR use temperature 0."""

    temperature: float = 0.7
    top_p: float = 0.8
    top_k: int = 20
    presence_penalty: float = 1.5
    max_tokens: int = 1024
    seed: int | None = None
    stop: tuple[str, ...] = ()
    ignore_eos: bool = False

    @property
    def deterministic(self) -> bool:
        return self.temperature == 0 or self.seed is not None

    @staticmethod
    def greedy(max_tokens: int = 1024) -> SamplingParams:
        return SamplingParams(
            temperature=0.0, top_p=1.0, top_k=-1, presence_penalty=0.0, max_tokens=max_tokens
        )


@dataclass(frozen=True)
class CachePolicy:
    """How the result cache treats a request.

    `use`: None = automatic (only deterministic requests are cached), True/False forces it.
    `near_duplicate_max_distance`: opt-in perceptual-hash matching (Hamming distance); never
    the default, because a form with one changed digit has the same perceptual hash.
    """

    use: bool | None = None
    near_duplicate_max_distance: int | None = None


_ids = itertools.count(1)


@dataclass
class InferenceRequest:
    messages: list[Message]
    kind: TaskKind = TaskKind.CHAT
    priority: Priority | None = None
    sampling: SamplingParams = field(default_factory=SamplingParams)
    json_schema: dict[str, Any] | None = None  # structured output (response_format json_schema)
    tools: list[dict[str, Any]] | None = None
    mm_processor_kwargs: dict[str, Any] | None = None
    # seconds from submission (to the request queue, or to the engine client called directly),
    # waiting and running; None = the queue's default
    deadline_s: float | None = None
    cache: CachePolicy = field(default_factory=CachePolicy)
    stream: bool = True
    model: str | None = None  # None = the engine's served model
    request_id: int = field(default_factory=lambda: next(_ids))

    @property
    def effective_priority(self) -> Priority:
        return self.priority if self.priority is not None else DEFAULT_PRIORITY[self.kind]

    def images(self) -> list[PreparedImage]:
        return [img for m in self.messages for img in m.images()]


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass(frozen=True)
class Timings:
    queue_wait_s: float = 0.0
    service_s: float = 0.0  # engine call, first byte sent to last byte received
    ttft_s: float | None = None  # from engine call start to first content token
    total_s: float = 0.0


@dataclass(frozen=True)
class InferenceResult:
    text: str
    finish_reason: str | None = None
    usage: Usage = field(default_factory=Usage)
    timings: Timings = field(default_factory=Timings)
    cached: str | None = None  # None, "l1", "l2", "coalesced"
    endpoint: str | None = None
    model: str | None = None


DeltaCallback = Callable[[str], None]
