"""Device entry point: `qwen3vl-agent engine` without loading the other command groups."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from qwen3vl_agent.cli.engine_cmd import engine

engine(prog_name="qwen3vl-agent engine")
