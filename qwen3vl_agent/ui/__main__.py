"""`python -m qwen3vl_agent.ui`: the desktop app without loading the command-line interface."""

import sys

from qwen3vl_agent.errors import UserFacingError
from qwen3vl_agent.ui.app import run_app

try:
    sys.exit(run_app())
except UserFacingError as exc:
    print(f"error: {exc}", file=sys.stderr)
    sys.exit(2)
