"""The chat history store: persisted, searchable, attachments kept byte for byte."""

from __future__ import annotations

from pathlib import Path

from qwen3vl_agent.storage.conversations import Attachment, ConversationStore


def test_conversation_round_trip_and_search(tmp_path: Path) -> None:
    store = ConversationStore(tmp_path / "db.sqlite3")
    first = store.create("Invoice questions")
    second = store.create("Other")
    png = b"\x89PNG fake bytes"
    user = store.add_message(first.id, "user", "what is the total?", [Attachment("region", png, 10, 20)])
    answer = store.add_message(first.id, "assistant", "", status="streaming")
    store.update_message(answer.id, "The total is 42 EUR", "done")
    store.add_message(second.id, "user", "hello")
    store.close()

    reopened = ConversationStore(tmp_path / "db.sqlite3")
    msgs = reopened.messages(first.id)
    assert [m.role for m in msgs] == ["user", "assistant"]
    assert msgs[0].id == user.id
    assert msgs[0].attachments[0].data == png
    assert (msgs[0].attachments[0].width, msgs[0].attachments[0].height) == (10, 20)
    assert msgs[1].text == "The total is 42 EUR" and msgs[1].status == "done"
    assert [c.id for c in reopened.conversations(search="42 eur")] == [first.id]
    assert [c.id for c in reopened.conversations(search="other")] == [second.id]
    assert {c.id for c in reopened.conversations()} == {first.id, second.id}

    reopened.rename(second.id, "Renamed")
    assert reopened.get(second.id).title == "Renamed"  # type: ignore[union-attr]
    reopened.delete(first.id)
    assert reopened.messages(first.id) == []
    assert [c.id for c in reopened.conversations()] == [second.id]
