"""The action executor: plays resolved GUI actions with pyautogui, safely (see executor.py)."""

from qwen3vl_agent.executor.errors import (
    ClipboardError,
    DisplayUnavailableError,
    ExecutionStopped,
    ExecutorError,
    MonitorGoneError,
    UnknownKeyError,
)
from qwen3vl_agent.executor.executor import ActionExecutor, ExecutionResult
from qwen3vl_agent.executor.safety import (
    ActionContext,
    ConfirmationRequest,
    RiskAssessment,
    RiskAssessor,
    SafetyMode,
)

__all__ = [
    "ActionContext",
    "ActionExecutor",
    "ClipboardError",
    "ConfirmationRequest",
    "DisplayUnavailableError",
    "ExecutionResult",
    "ExecutionStopped",
    "ExecutorError",
    "MonitorGoneError",
    "RiskAssessment",
    "RiskAssessor",
    "SafetyMode",
    "UnknownKeyError",
]
