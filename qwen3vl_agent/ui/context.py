"""What every pane shares: settings, the bridge, the task tracker, the core session, the stores."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtWidgets import QWidget

from qwen3vl_agent.config import Settings
from qwen3vl_agent.ui.bridge import CoreBridge
from qwen3vl_agent.ui.core_session import CoreSession
from qwen3vl_agent.ui.tasks import TaskTracker

if TYPE_CHECKING:
    from qwen3vl_agent.storage.conversations import ConversationStore


class LazyConversationStore:
    """The chat history store, created on first use — on the DB thread, where every call goes.

    Importing the store pulls in sqlite-utils (and numpy, and pandas when installed): about half
    a second that must not sit between starting the app and an interactive window.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._store: ConversationStore | None = None
        self._lock = threading.Lock()

    def store(self) -> ConversationStore:
        with self._lock:
            if self._store is None:
                from qwen3vl_agent.storage.conversations import ConversationStore

                self._store = ConversationStore(self.path)
            return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()

    def conversations(self, *args: Any, **kwargs: Any) -> Any:
        return self.store().conversations(*args, **kwargs)

    def messages(self, *args: Any, **kwargs: Any) -> Any:
        return self.store().messages(*args, **kwargs)

    def create(self, *args: Any, **kwargs: Any) -> Any:
        return self.store().create(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        return self.store().delete(*args, **kwargs)

    def rename(self, *args: Any, **kwargs: Any) -> Any:
        return self.store().rename(*args, **kwargs)

    def get(self, *args: Any, **kwargs: Any) -> Any:
        return self.store().get(*args, **kwargs)

    def add_message(self, *args: Any, **kwargs: Any) -> Any:
        return self.store().add_message(*args, **kwargs)

    def update_message(self, *args: Any, **kwargs: Any) -> Any:
        return self.store().update_message(*args, **kwargs)


@dataclass
class AppContext:
    settings: Settings
    bridge: CoreBridge
    tasks: TaskTracker
    core: CoreSession
    conversations: LazyConversationStore
    # the app's own top-level windows: hidden (or masked) whenever a screenshot is taken
    own_windows: list[QWidget] = field(default_factory=list)
    extras: dict[str, Any] = field(default_factory=dict)


def _migrate_all() -> None:
    """Open the app database once with every component's migrations registered."""
    import qwen3vl_agent.agents.ocr_job_store
    import qwen3vl_agent.storage.conversations
    import qwen3vl_agent.storage.trajectories  # noqa: F401
    from qwen3vl_agent.paths import app_paths
    from qwen3vl_agent.storage.database import Database

    db = Database(app_paths().database_file)
    db.connection()
    db.close()


async def ensure_database(ctx: AppContext) -> None:
    """Run all migrations on the DB thread before a job's own thread opens the database.

    Two threads migrating one fresh file at once would both try to create the same tables;
    the single DB thread serializes this with the panes' own store calls.
    """
    if ctx.extras.get("db_ready"):
        return
    await ctx.tasks.run_db(_migrate_all)
    ctx.extras["db_ready"] = True
