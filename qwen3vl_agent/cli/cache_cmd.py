"""`qwen3vl-agent cache stats|clear`: look into and empty the result cache (L2 SQLite file)."""

from __future__ import annotations

import json
import time

import click

from qwen3vl_agent.inference.result_cache import default_cache_path
from qwen3vl_agent.inference.result_store import ResultStore


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


@click.group()
def cache() -> None:
    """Inspect or empty the result cache."""


@cache.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def stats(as_json: bool) -> None:
    """Entries, size, and hit/miss counts of the result cache."""
    path = default_cache_path()
    if not path.exists():
        data = {
            "path": str(path),
            "entries": 0,
            "expired": 0,
            "text_bytes": 0,
            "file_bytes": 0,
            "counters": {},
        }
    else:
        store = ResultStore(path)
        try:
            info = store.info_sync(time.time())
        finally:
            store.close()
        if info is None:
            raise click.ClickException(f"The result cache at {path} cannot be read right now (see the log)")
        data = {
            "path": str(path),
            "entries": info.entries,
            "expired": info.expired,
            "text_bytes": info.text_bytes,
            "file_bytes": info.file_bytes,
            "counters": info.counters,
        }
    counters: dict[str, int] = data["counters"]  # type: ignore[assignment]
    hits = sum(counters.get(k, 0) for k in ("l1_hits", "l2_hits", "near_hits"))
    lookups = hits + counters.get("misses", 0)
    data["hit_rate"] = round(hits / lookups, 4) if lookups else None
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    click.echo(f"result cache: {data['path']}")
    click.echo(f"entries:      {data['entries']} ({data['expired']} expired, removed on next app exit)")
    click.echo(f"size:         {_size(int(data['file_bytes']))} on disk")  # type: ignore[call-overload]
    click.echo(
        f"lookups:      {lookups} ({counters.get('l1_hits', 0)} memory hits, {counters.get('l2_hits', 0)} disk hits,"
        f" {counters.get('near_hits', 0)} near-duplicate hits, {counters.get('misses', 0)} misses)"
    )
    if lookups:
        click.echo(f"hit rate:     {hits / lookups:.1%}")
    click.echo(f"stored:       {counters.get('stores', 0)} results")


@cache.command()
def clear() -> None:
    """Delete every cached result (the cache refills as requests come in)."""
    path = default_cache_path()
    if not path.exists():
        click.echo(f"The result cache is already empty ({path} does not exist).")
        return
    store = ResultStore(path)
    try:
        removed = store.clear_sync()
        failures = {k: v for k, v in store.failures.items() if v}
    finally:
        store.close()
    if failures:
        raise click.ClickException(
            f"Could not clear the result cache at {path}: it is {', '.join(failures)}; close the app and retry"
        )
    click.echo(f"Removed {removed} cached results from {path}.")
