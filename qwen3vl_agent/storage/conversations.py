"""Chat conversations, their messages and attached images, persisted in the app database.

The desktop app's chat pane lists, searches and reloads conversations from here; a message
is written before it is sent and the answer is updated as it streams, so closing the app
mid-answer loses nothing. Blocking (SQLite): callers on an event loop use an executor.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import sqlite_utils

from qwen3vl_agent.storage.database import Database, Migration, register_migrations

COMPONENT = "conversations"


def _v1(db: sqlite_utils.Database) -> None:
    db.execute(
        "CREATE TABLE conversations (id INTEGER PRIMARY KEY, title TEXT NOT NULL,"
        " created_at REAL NOT NULL, updated_at REAL NOT NULL)"
    )
    db.execute(
        "CREATE TABLE chat_messages (id INTEGER PRIMARY KEY,"
        " conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,"
        " role TEXT NOT NULL, text TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'done',"
        " created_at REAL NOT NULL)"
    )
    db.execute("CREATE INDEX chat_messages_conv ON chat_messages(conversation_id, id)")
    db.execute(
        "CREATE TABLE chat_attachments (id INTEGER PRIMARY KEY,"
        " message_id INTEGER NOT NULL REFERENCES chat_messages(id) ON DELETE CASCADE,"
        " position INTEGER NOT NULL, label TEXT NOT NULL, mime TEXT NOT NULL, data BLOB NOT NULL,"
        " width INTEGER NOT NULL, height INTEGER NOT NULL)"
    )
    db.execute("CREATE INDEX chat_attachments_msg ON chat_attachments(message_id, position)")


register_migrations(COMPONENT, [Migration(1, "conversations, messages, attachments", _v1)])


@dataclass(frozen=True)
class Attachment:
    """An image attached to a message: encoded bytes (PNG) and where it came from."""

    label: str
    data: bytes
    width: int
    height: int
    mime: str = "image/png"
    id: int | None = None


@dataclass(frozen=True)
class ChatMessage:
    id: int
    conversation_id: int
    role: str  # "user" | "assistant"
    text: str
    status: str  # "done" | "streaming" | "stopped" | "error"
    created_at: float
    attachments: tuple[Attachment, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class Conversation:
    id: int
    title: str
    created_at: float
    updated_at: float


class ConversationStore:
    """Conversations in SQLite; one connection per thread through `Database`."""

    def __init__(self, path: Path) -> None:
        self._db = Database(path, components=[COMPONENT], what="chat history")

    @property
    def path(self) -> Path:
        return self._db.path

    def _conn(self) -> sqlite_utils.Database:
        return self._db.connection()

    def create(self, title: str = "New conversation") -> Conversation:
        now = time.time()
        db = self._conn()
        with db.conn:
            cur = db.execute(
                "INSERT INTO conversations (title, created_at, updated_at) VALUES (?, ?, ?)",
                [title, now, now],
            )
        return Conversation(int(cur.lastrowid or 0), title, now, now)

    def rename(self, conversation_id: int, title: str) -> None:
        db = self._conn()
        with db.conn:
            db.execute("UPDATE conversations SET title = ? WHERE id = ?", [title, conversation_id])

    def delete(self, conversation_id: int) -> None:
        db = self._conn()
        with db.conn:
            db.execute("DELETE FROM conversations WHERE id = ?", [conversation_id])

    def conversations(self, search: str | None = None, limit: int = 500) -> list[Conversation]:
        """Newest first; `search` matches titles and message text (case-insensitive)."""
        db = self._conn()
        if search:
            like = f"%{search}%"
            rows = db.execute(
                "SELECT c.id, c.title, c.created_at, c.updated_at FROM conversations c"
                " WHERE c.title LIKE ? OR EXISTS (SELECT 1 FROM chat_messages m"
                " WHERE m.conversation_id = c.id AND m.text LIKE ?)"
                " ORDER BY c.updated_at DESC, c.id DESC LIMIT ?",
                [like, like, limit],
            ).fetchall()
        else:
            rows = db.execute(
                "SELECT id, title, created_at, updated_at FROM conversations"
                " ORDER BY updated_at DESC, id DESC LIMIT ?",
                [limit],
            ).fetchall()
        return [Conversation(int(r[0]), str(r[1]), float(r[2]), float(r[3])) for r in rows]

    def get(self, conversation_id: int) -> Conversation | None:
        rows = self._conn().query(
            "SELECT id, title, created_at, updated_at FROM conversations WHERE id = ?", [conversation_id]
        )
        row = next(iter(rows), None)
        if row is None:
            return None
        return Conversation(
            int(row["id"]), str(row["title"]), float(row["created_at"]), float(row["updated_at"])
        )

    def add_message(
        self,
        conversation_id: int,
        role: str,
        text: str,
        attachments: tuple[Attachment, ...] | list[Attachment] = (),
        status: str = "done",
    ) -> ChatMessage:
        now = time.time()
        db = self._conn()
        with db.conn:
            cur = db.execute(
                "INSERT INTO chat_messages (conversation_id, role, text, status, created_at)"
                " VALUES (?, ?, ?, ?, ?)",
                [conversation_id, role, text, status, now],
            )
            message_id = int(cur.lastrowid or 0)
            for position, att in enumerate(attachments):
                db.execute(
                    "INSERT INTO chat_attachments (message_id, position, label, mime, data, width, height)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [message_id, position, att.label, att.mime, att.data, att.width, att.height],
                )
            db.execute("UPDATE conversations SET updated_at = ? WHERE id = ?", [now, conversation_id])
        return ChatMessage(message_id, conversation_id, role, text, status, now, tuple(attachments))

    def update_message(self, message_id: int, text: str, status: str) -> None:
        """Store the answer so far (called while streaming and when it ends)."""
        db = self._conn()
        with db.conn:
            db.execute(
                "UPDATE chat_messages SET text = ?, status = ? WHERE id = ?", [text, status, message_id]
            )

    def messages(self, conversation_id: int) -> list[ChatMessage]:
        db = self._conn()
        rows = db.execute(
            "SELECT id, conversation_id, role, text, status, created_at FROM chat_messages"
            " WHERE conversation_id = ? ORDER BY id",
            [conversation_id],
        ).fetchall()
        atts: dict[int, list[Attachment]] = {}
        for a in db.execute(
            "SELECT a.message_id, a.id, a.label, a.mime, a.data, a.width, a.height FROM chat_attachments a"
            " JOIN chat_messages m ON m.id = a.message_id WHERE m.conversation_id = ?"
            " ORDER BY a.message_id, a.position",
            [conversation_id],
        ).fetchall():
            atts.setdefault(int(a[0]), []).append(
                Attachment(str(a[2]), bytes(a[4]), int(a[5]), int(a[6]), str(a[3]), int(a[1]))
            )
        return [
            ChatMessage(
                int(r[0]),
                int(r[1]),
                str(r[2]),
                str(r[3]),
                str(r[4]),
                float(r[5]),
                tuple(atts.get(int(r[0]), [])),
            )
            for r in rows
        ]

    def close(self) -> None:
        self._db.close()
