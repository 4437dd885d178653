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
