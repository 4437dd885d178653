"""A chat turn without widgets (`ui.chat_controller`): the real runtime against the scripted
OpenAI-compatible server, a real conversation store; the view is a recorder."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from qwen3vl_agent.config import Settings
from qwen3vl_agent.runtime import build_runtime
from qwen3vl_agent.storage.conversations import ConversationStore
from qwen3vl_agent.ui.chat_controller import ChatController
from qwen3vl_agent.ui.tasks import TaskTracker
from tests.support.policy_server import Fault, PolicyServer

ANSWER = "The total is 42 EUR. " * 40  # streamed by the server in pieces of 24 characters


class Recorder:
    def __init__(self) -> None:
        self.history_changes = 0
        self.pieces: list[str] = []
        self.turns = 0

    def history_changed(self) -> None:
        self.history_changes += 1

    def turn_began(self) -> None:
        self.turns += 1

    def answer_grew(self, message_id: int, delta: str) -> None:
        self.pieces.append(delta)


@asynccontextmanager
async def chat_session(policy_server: PolicyServer, tmp_path: Path) -> AsyncIterator[ChatController]:
    settings = Settings(**policy_server.settings_overrides(), cache={"enabled": False})
    runtime = await build_runtime(settings)
    store = ConversationStore(tmp_path / "chat.db")
    errors: list[str] = []
    tasks = TaskTracker(errors.append)
    chat = ChatController(store, tasks, lambda: settings, lambda: runtime.service)
    chat.view = Recorder()
    try:
        yield chat
    finally:
        await runtime.close()
        await tasks.run_db(store.close)
        tasks.shutdown_executors()
    assert errors == []


def stored_messages(tmp_path: Path, chat: ChatController) -> list[Any]:
    """The conversation as the database has it (read afresh: the session's store is closed)."""
    assert chat.conversation_id is not None
    store = ConversationStore(tmp_path / "chat.db")
    try:
        return store.messages(chat.conversation_id)
    finally:
        store.close()


def recorder(chat: ChatController) -> Recorder:
    assert isinstance(chat.view, Recorder)
    return chat.view


async def test_a_turn_streams_piece_by_piece_and_stores_the_answer(
    policy_server: PolicyServer, tmp_path: Path
) -> None:
    policy_server.planner = lambda ctx: ANSWER
    async with chat_session(policy_server, tmp_path) as controller:
        end = await controller.send("What is the total?", [])
    view = recorder(controller)
    assert (end.status, end.text) == ("done", ANSWER)
    assert len(view.pieces) > 10 and "".join(view.pieces) == ANSWER  # piece by piece
    assert view.history_changes == 2 and view.turns == 1  # the turn's start and end: not once per piece
    stored = stored_messages(tmp_path, controller)
    assert [(m.role, m.status) for m in stored] == [("user", "done"), ("assistant", "done")]
    assert stored[1].text == ANSWER and controller.streaming == {}


async def test_a_stop_stores_the_answer_as_stopped_and_the_cancellation_goes_on(
    policy_server: PolicyServer, tmp_path: Path
) -> None:
    policy_server.fault = Fault("silence", silence_s=60)  # the request is in flight until cancelled
    async with chat_session(policy_server, tmp_path) as controller:
        turn = asyncio.ensure_future(controller.send("Describe it in great detail.", []))
        while policy_server.chat_requests < 1:
            await asyncio.sleep(0.02)
        turn.cancel()
        with pytest.raises(asyncio.CancelledError):
            await turn
    assert turn.cancelled()  # not swallowed: the caller sees a cancelled turn
    stored = stored_messages(tmp_path, controller)
    assert [(m.role, m.status) for m in stored] == [("user", "done"), ("assistant", "stopped")]
    assert controller.stream_msg_id is None and recorder(controller).history_changes == 2


async def test_another_conversation_opened_mid_answer_shows_none_of_it(
    policy_server: PolicyServer, tmp_path: Path
) -> None:
    policy_server.planner = lambda ctx: ANSWER
    policy_server.delay_s = 1.0  # the request is in flight while the other conversation opens
    async with chat_session(policy_server, tmp_path) as controller:
        other = await controller.tasks.run_db(controller.store.create, "Other")
        turn = asyncio.ensure_future(controller.send("What is the total?", []))
        while policy_server.chat_requests < 1:
            await asyncio.sleep(0.02)
        asking = controller.conversation_id
        assert controller.streaming_shown is not None
        await controller.open(other.id)
        assert controller.streaming_shown is None  # the pane renders no streaming answer here
        assert controller.stream_msg_id is not None  # though the answer still streams
        end = await turn
        assert controller.conversation_id == other.id and controller.history == []
    assert end.status == "done" and end.text == ANSWER
    assert asking is not None and asking != other.id
    store = ConversationStore(tmp_path / "chat.db")
    try:
        assert [(m.role, m.status, m.text) for m in store.messages(asking)][1] == (
            "assistant",
            "done",
            ANSWER,
        )
    finally:
        store.close()


class Shot:
    """An attached screenshot, as the pane's PendingImage gives it."""

    def __init__(self, image: Any, label: str = "screen") -> None:
        self.image, self.label = image, label

    def png(self) -> bytes:
        import io

        out = io.BytesIO()
        self.image.save(out, format="PNG")
        return out.getvalue()


async def test_each_turn_resends_earlier_images_prepared_once(
    policy_server: PolicyServer, tmp_path: Path
) -> None:
    from tests.imaging.test_image_prep import screenshot

    sent: list[list[str]] = []

    def answer(ctx: Any) -> str:
        urls = [
            part["image_url"]["url"]
            for message in ctx.body["messages"]
            if isinstance(message["content"], list)
            for part in message["content"]
            if part.get("type") == "image_url"
        ]
        sent.append(urls)
        return "Seen."

    policy_server.planner = answer
    async with chat_session(policy_server, tmp_path) as controller:
        await controller.send("What is on the screen?", [Shot(screenshot())])
        await controller.send("And the total?", [])
        await controller.send("Compare with this one.", [Shot(screenshot(text="Total: 99.00"))])
        stats = controller.prepared_stats()
    assert [len(urls) for urls in sent] == [1, 1, 2]
    assert sent[1][0] == sent[0][0]  # the same bytes on the wire, from memory
    assert sent[0][0] in sent[2] and len(set(sent[2])) == 2  # the first again, and the new one
    assert (stats.misses, stats.hits) == (2, 2)
