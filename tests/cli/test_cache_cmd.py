"""`qwen3vl-agent cache stats|clear` on a real cache file."""

from __future__ import annotations

import asyncio
import json

from click.testing import CliRunner

from qwen3vl_agent.cli.main import cli
from qwen3vl_agent.config import CacheSettings
from qwen3vl_agent.inference.request import InferenceResult
from qwen3vl_agent.inference.result_cache import ResultCache, default_cache_path


def fill(n: int) -> None:
    async def run() -> None:
        cache = ResultCache(CacheSettings())
        for i in range(n):
            cache.put(f"k{i}", InferenceResult(text=f"answer {i}", finish_reason="stop"))
        await cache.get("k0")
        await cache.get("missing")
        await cache.close()

    asyncio.run(run())


def test_stats_and_clear() -> None:
    runner = CliRunner()
    empty = runner.invoke(cli, ["cache", "stats", "--json"])
    assert empty.exit_code == 0, empty.output
    assert json.loads(empty.output)["entries"] == 0

    fill(3)
    result = runner.invoke(cli, ["cache", "stats", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["path"] == str(default_cache_path())
    assert data["entries"] == 3
    assert data["counters"]["l1_hits"] == 1 and data["counters"]["misses"] == 1
    assert data["hit_rate"] == 0.5
    human = runner.invoke(cli, ["cache", "stats"])
    assert "entries:      3" in human.output and "hit rate:     50.0%" in human.output

    cleared = runner.invoke(cli, ["cache", "clear"])
    assert cleared.exit_code == 0 and "Removed 3 cached results" in cleared.output
    assert json.loads(runner.invoke(cli, ["cache", "stats", "--json"]).output)["entries"] == 0


def test_clear_without_a_cache_file() -> None:
    result = CliRunner().invoke(cli, ["cache", "clear"])
    assert result.exit_code == 0 and "already empty" in result.output


def test_stats_on_a_corrupt_file_rebuilds_it() -> None:
    path = default_cache_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"garbage" * 1000)
    result = CliRunner().invoke(cli, ["cache", "stats", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["entries"] == 0
