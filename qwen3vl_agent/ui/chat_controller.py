"""One chat turn, without widgets: store the question, stream the answer, store the answer.

`ChatController` is what the Chat pane drives; it knows the conversation store, the model
service and the settings, and nothing of Qt, so its request logic is tested without a window.
The pane is its `ChatView`: told when the history changed (render it whole) and when a piece
of the answer arrived (append it). The answer is stored while it streams, so closing the app or
stopping mid-answer keeps what was said so far; a stop stores the answer as "stopped" and the
cancellation then goes on to the caller (the turn's task ends cancelled, not "done").
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING, Any, Protocol

from PIL import Image

from qwen3vl_agent.inference.request import (
    DeltaCallback,
    ImagePart,
    InferenceRequest,
    Message,
    SamplingParams,
    TaskKind,
    TextPart,
)
from qwen3vl_agent.ui.tasks import TaskTracker, describe_error

if TYPE_CHECKING:
    from qwen3vl_agent.config import Settings
    from qwen3vl_agent.imaging.prep_memo import MemoStats, PreparedMemo
    from qwen3vl_agent.inference.service import InferenceService
    from qwen3vl_agent.storage.conversations import ChatMessage

SAVE_EVERY_S = 1.5  # store the streaming answer this often (and at its end)


def chat_system_prompt() -> str:
    return (
        (resources.files("qwen3vl_agent.resources") / "chat" / "system_prompt.txt")
        .read_text(encoding="utf-8")
        .strip()
    )


def build_request(
    history: list[ChatMessage],
    prepared: dict[int, Any],
    max_images: int,
    sampling: SamplingParams | None = None,
) -> InferenceRequest:
    """The chat request: system prompt, the conversation's text, and its newest images (<= max_images)."""
    budget = max_images
    keep: set[int] = set()
    for msg in reversed(history):
        for att in reversed(msg.attachments):
            if budget > 0 and att.id in prepared:
                keep.add(att.id)
                budget -= 1
    messages = [Message.system(chat_system_prompt())]
    for msg in history:
        if msg.role == "assistant":
            if msg.text.strip():
                messages.append(Message.assistant(msg.text))
            continue
        parts: list[Any] = [ImagePart(prepared[a.id]) for a in msg.attachments if a.id in keep]
        parts.append(TextPart(msg.text or "Describe this image."))
        messages.append(Message("user", tuple(parts)))
    return InferenceRequest(messages=messages, kind=TaskKind.CHAT, sampling=sampling or SamplingParams())


class Conversations(Protocol):
    """The conversation store (`storage.conversations.ConversationStore`, or the UI's lazy one)."""

    def create(self, title: str) -> Any: ...
    def add_message(self, *args: Any) -> Any: ...
    def update_message(self, message_id: int, text: str, status: str) -> None: ...
    def messages(self, conversation_id: int) -> Any: ...


class ImageToSend(Protocol):
    """An attached image (the pane's `PendingImage`)."""

    label: str
    image: Image.Image

    def png(self) -> bytes: ...


class ChatView(Protocol):
    def history_changed(self) -> None:
        """The history (or which message streams) changed: show it whole."""

    def turn_began(self) -> None:
        """A question was stored: its conversation is the newest one now."""

    def answer_grew(self, message_id: int, delta: str) -> None:
        """`delta` was appended to the streaming answer `message_id`."""


@dataclass(frozen=True)
class TurnEnd:
    """How a turn ended: "done" or "error" (a stop raises CancelledError instead)."""

    message_id: int
    status: str
    text: str


class ChatController:
    """The conversation shown, its messages, the answer streaming now; `send` runs one turn."""

    def __init__(
        self,
        store: Conversations,
        tasks: TaskTracker,
        settings: Callable[[], Settings],
        service: Callable[[], InferenceService],
        sink_for: Callable[[int], DeltaCallback] | None = None,
        save_every_s: float = SAVE_EVERY_S,
    ) -> None:
        """`settings`, `service`: asked for at each turn (settings change; the service may not be
        up yet).
        `sink_for(message_id)`: where the service sends the answer's pieces (the UI: a Qt signal
        that comes back to `add_delta`); None: straight to `add_delta`."""
        self.store, self.tasks, self.settings = store, tasks, settings
        self.service = service
        self.sink_for = sink_for or (lambda message_id: lambda delta: self.add_delta(message_id, delta))
        self.save_every_s = save_every_s
        self.sampling = SamplingParams()  # the model card's chat sampling; max_tokens bounds an answer
        self.conversation_id: int | None = None
        self.history: list[ChatMessage] = []
        self.streaming: dict[int, str] = {}  # assistant message id -> text so far
        self.stream_msg_id: int | None = None
        self.view: ChatView | None = None
        # every turn sends the conversation's images again: each is prepared once, not per turn
        self._prepared: PreparedMemo | None = None

    # ---- the answer's pieces -----------------------------------------------------------------
    def add_delta(self, message_id: int, delta: str) -> None:
        if message_id in self.streaming:
            self.streaming[message_id] += delta
            if self.view is not None:
                self.view.answer_grew(message_id, delta)

    @property
    def streaming_shown(self) -> int | None:
        """The answer streaming now, if it belongs to the conversation shown (one may open
        another conversation while an answer streams)."""
        sid = self.stream_msg_id
        return sid if sid is not None and any(m.id == sid for m in self.history) else None

    def text_of(self, message: ChatMessage) -> str:
        """The message's text, or what streamed of it so far."""
        return self.streaming.get(message.id, message.text)

    # ---- conversations -----------------------------------------------------------------------
    def start_new(self) -> None:
        """No conversation shown: the next turn starts one."""
        self.conversation_id = None
        self.history = []
        self._changed()

    async def open(self, conversation_id: int | None) -> None:
        self.conversation_id = conversation_id
        self.history = (
            [] if conversation_id is None else await self.tasks.run_db(self.store.messages, conversation_id)
        )
        self._changed()

    def _changed(self) -> None:
        if self.view is not None:
            self.view.history_changed()

    # ---- one turn ----------------------------------------------------------------------------
    async def send(self, text: str, images: Sequence[ImageToSend]) -> TurnEnd:
        """Store the message, stream the answer (stored as it grows), store the answer.

        A failure ends the turn with status "error" (the answer says why); a cancellation stores
        what streamed with status "stopped" and is raised again."""
        from qwen3vl_agent.storage.conversations import Attachment

        store, t = self.store, self.tasks
        if self.conversation_id is None:
            title = (text or (images[0].label if images else "Conversation")).splitlines()[0][:60]
            conv = await t.run_db(store.create, title)
            self.conversation_id = conv.id
            self.history = []
        pngs = [await t.run_io(p.png) for p in images]
        atts = [
            Attachment(p.label, data, p.image.width, p.image.height)
            for p, data in zip(images, pngs, strict=True)
        ]
        cid = self.conversation_id
        await t.run_db(store.add_message, cid, "user", text, atts)
        answer = await t.run_db(store.add_message, cid, "assistant", "", (), "streaming")
        self.history = await t.run_db(store.messages, cid)
        self.streaming[answer.id] = ""
        self.stream_msg_id = answer.id
        self._changed()
        if self.view is not None:
            self.view.turn_began()
        try:
            final = await self._answer(answer.id)
            status = "done"
        except asyncio.CancelledError:
            await self._finish(answer.id, self.streaming.get(answer.id, ""), "stopped")
            raise
        except Exception as exc:
            status = "error"
            final = self.streaming.get(answer.id, "") + f"\n\n> ⚠ {describe_error(exc)}"
        await self._finish(answer.id, final, status)
        return TurnEnd(answer.id, status, final)

    async def _answer(self, message_id: int) -> str:
        """Ask the model; store the answer as it grows; its whole text at the end."""
        request = await self.request(self.history)
        job = asyncio.ensure_future(self.service().submit(request, self.sink_for(message_id)))
        try:
            last_save = time.monotonic()
            while not job.done():
                await asyncio.wait({job}, timeout=self.save_every_s)
                if time.monotonic() - last_save >= self.save_every_s and not job.done():
                    text = self.streaming.get(message_id, "")
                    await self.tasks.run_db(self.store.update_message, message_id, text, "streaming")
                    last_save = time.monotonic()
        finally:
            if not job.done():  # cancelled while waiting: the request goes too (aborted on the server)
                job.cancel()
                await asyncio.gather(job, return_exceptions=True)
        return job.result().text or self.streaming.get(message_id, "")

    async def _finish(self, message_id: int, text: str, status: str) -> None:
        """Store the answer's end, shielded: a second cancel cannot lose it."""

        async def store() -> None:
            await self.tasks.run_db(self.store.update_message, message_id, text, status)
            self.streaming.pop(message_id, None)
            self.stream_msg_id = None
            if self.conversation_id is not None:
                self.history = await self.tasks.run_db(self.store.messages, self.conversation_id)
            self._changed()

        await asyncio.shield(asyncio.ensure_future(store()))

    def prepared_stats(self) -> MemoStats | None:
        """How often a turn's images came from memory (None before the first turn with images)."""
        return self._prepared.stats() if self._prepared is not None else None

    async def request(self, history: list[ChatMessage]) -> InferenceRequest:
        """The conversation as a request: its newest images prepared to the chat budget."""
        from qwen3vl_agent.imaging.prep_memo import PreparedMemo  # numpy and the encoder: on first use

        if self._prepared is None:
            self._prepared = PreparedMemo()
        s = self.settings()
        prepared: dict[int, Any] = {}
        wanted = [a for m in reversed(history) for a in m.attachments if a.id is not None]
        for att in wanted[: s.engine.limit_mm_images]:
            assert att.id is not None
            prepared[att.id] = await self.tasks.run_io(
                self._prepared.prepare, att.data, s.images.chat_budget_tokens, s.images.encoding
            )
        return build_request(history, prepared, s.engine.limit_mm_images, self.sampling)
