"""What every pane shares: settings, the bridge, the task tracker, the core session, the stores."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from PySide6.QtWidgets import QWidget

from qwen3vl_agent.config import Settings
from qwen3vl_agent.storage.conversations import ConversationStore
from qwen3vl_agent.ui.bridge import CoreBridge
from qwen3vl_agent.ui.core_session import CoreSession
from qwen3vl_agent.ui.tasks import TaskTracker


@dataclass
class AppContext:
    settings: Settings
    bridge: CoreBridge
    tasks: TaskTracker
    core: CoreSession
    conversations: ConversationStore
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
