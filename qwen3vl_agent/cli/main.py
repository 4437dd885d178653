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

# module path -> attribute holding a click command or group
COMMAND_MODULES: list[tuple[str, str]] = [
    ("qwen3vl_agent.cli.config_cmd", "config"),
    ("qwen3vl_agent.cli.engine_cmd", "engine"),
    ("qwen3vl_agent.cli.cache_cmd", "cache"),
    ("qwen3vl_agent.cli.chat_cmd", "chat"),
    ("qwen3vl_agent.cli.ocr_cmd", "ocr"),
    ("qwen3vl_agent.cli.agent_cmd", "agent"),
    ("qwen3vl_agent.cli.bench_cmd", "bench"),
]


class _App(click.Group):
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
    if ctx.invoked_subcommand is None:
        from qwen3vl_agent.ui.app import run_app  # lazy: only the GUI needs Qt

        sys.exit(run_app())


def _register() -> None:
    for module_name, attr in COMMAND_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                continue  # command group not built yet
            raise
        cli.add_command(getattr(module, attr))


_register()


def main() -> None:
    cli(prog_name="qwen3vl-agent")
