"""`qwen3vl-agent config show|path`."""

from __future__ import annotations

import json

import click

from qwen3vl_agent.config import load_settings
from qwen3vl_agent.paths import app_paths


@click.group()
def config() -> None:
    """Show the settings and where they live."""


@config.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of TOML.")
def show(as_json: bool) -> None:
    """Print the effective settings (file + environment + defaults) and the desktop session
    detected (a TOML comment, or the JSON key `desktop_session`: it is not a setting)."""
    from qwen3vl_agent.screen.session import current_session

    settings = load_settings()
    data = settings.model_dump(mode="json", exclude_none=True)
    if data.get("engine", {}).get("api_key"):
        data["engine"]["api_key"] = "***"
    session = current_session()
    if as_json:
        click.echo(json.dumps({**data, "desktop_session": session.to_json()}, indent=2))
    else:
        import tomli_w

        click.echo(f"# desktop session: {session.describe()}")
        click.echo(tomli_w.dumps(data))


@config.command()
def path() -> None:
    """Print the config file, data, cache and log locations."""
    p = app_paths()
    click.echo(f"config file: {p.config_file}{'' if p.config_file.exists() else ' (not created yet)'}")
    click.echo(f"data dir:    {p.data_dir}")
    click.echo(f"database:    {p.database_file}")
    click.echo(f"cache dir:   {p.cache_dir}")
    click.echo(f"log dir:     {p.log_dir}")
