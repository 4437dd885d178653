"""Agent workspaces: X displays of the app's own, each running the target app (see workspace.py)."""

from qwen3vl_agent.workspace.errors import LaunchError, WorkspaceError, WorkspaceStartError
from qwen3vl_agent.workspace.workspace import Workspace, WorkspaceSpec

__all__ = ["LaunchError", "Workspace", "WorkspaceError", "WorkspaceSpec", "WorkspaceStartError"]
