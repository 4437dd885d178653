"""`python -m qwen3vl_agent.ui`: the desktop app without loading the command-line interface."""

import sys

from qwen3vl_agent.ui.app import run_app

sys.exit(run_app())
