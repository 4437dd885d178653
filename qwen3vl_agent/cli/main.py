"""The `qwen3vl-agent` command.

With no sub-command it starts the desktop app (loaded lazily, so headless commands never
import Qt). Each command group lives in its own module under `cli/`; `COMMAND_MODULES` lists
them. A `UserFacingError` anywhere becomes one clear line on stderr and exit code 2: no
traceback reaches the user (set QWEN3VL_AGENT_DEBUG=1 to see it).
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

import click

from qwen3vl_agent import __version__
from qwen3vl_agent.errors import UserFacingError

# command name -> (module, attribute holding the click command or group); imported on first use,
# so `qwen3vl-agent` with no command opens the window without loading every command's modules.
COMMAND_MODULES: dict[str, tuple[str, str]] = {
    "config": ("qwen3vl_agent.cli.config_cmd", "config"),
    "engine": ("qwen3vl_agent.cli.engine_cmd", "engine"),
    "cache": ("qwen3vl_agent.cli.cache_cmd", "cache"),
    "chat": ("qwen3vl_agent.cli.chat_cmd", "chat"),
    "ocr": ("qwen3vl_agent.cli.ocr_cmd", "ocr"),
    "agent": ("qwen3vl_agent.cli.agent_cmd", "agent"),
    "bench": ("qwen3vl_agent.cli.bench_cmd", "bench"),
}


class _App(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMAND_MODULES)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMAND_MODULES:
            return None
        module_name, attr = COMMAND_MODULES[cmd_name]
        command = getattr(importlib.import_module(module_name), attr)
        assert isinstance(command, click.Command)
        return command

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except UserFacingError as exc:
            if os.environ.get("QWEN3VL_AGENT_DEBUG"):
                raise
            click.secho(f"error: {exc}", fg="red", err=True)
            sys.exit(2)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)


@click.group(cls=_App, invoke_without_command=True)
@click.version_option(__version__, prog_name="qwen3vl-agent")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """A private desktop assistant on a local Qwen3-VL: chat, agent runs, OCR.

    Run without a command to open the desktop app.
    """
    from qwen3vl_agent.file_modes import make_process_private
    from qwen3vl_agent.paths import app_paths

    make_process_private()  # before the first write: everything the app keeps is owner-only
    app_paths().secure()  # an install made by an older version: once, then a few stat calls
    if ctx.invoked_subcommand is None:
        from qwen3vl_agent.ui.app import run_app  # lazy: only the GUI needs Qt

        sys.exit(run_app())


def main() -> None:
    cli(prog_name="qwen3vl-agent")
