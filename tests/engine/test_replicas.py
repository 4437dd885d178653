"""engine.replicas: how `auto` picks N, how replicas split the GPU, and a failed group start."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from qwen3vl_agent.config import EngineSettings
from qwen3vl_agent.engine.processes import group_members
from qwen3vl_agent.engine.replicas import (
    EngineReplicas,
    auto_replicas,
    model_weights_gib,
    replica_settings,
    resolve_replicas,
)
from qwen3vl_agent.engine.status import EngineState, EngineStatus
from qwen3vl_agent.errors import EngineStartError


def _auto(gpu_gib: float | None, cores: int, weights: float | None = 8.0) -> int:
    return auto_replicas(gpu_gib, cores, memory_utilization=0.85, min_gib_per_replica=32, weights_gib=weights)


def test_auto_picks_from_gpu_memory_and_cores() -> None:
    assert _auto(None, 64) == 1  # no NVIDIA GPU: one server
    assert _auto(140.4, 16) == 3  # H200, 16 cores: the 3 that measured 97 % GPU busy
    assert _auto(79.6, 26) == 2  # H100 80 GB
    assert _auto(24.0, 32) == 1  # a desktop card: no room for two
    assert _auto(140.4, 4) == 1  # enough memory, but 4 cores feed one server only
    assert _auto(140.4, 8) == 3
    assert _auto(140.4 * 4, 128) == 4  # capped: more was never measured
    assert _auto(140.4, 16, weights=64.0) == 1  # a 32B model: its weights decide


def test_model_size_comes_from_the_folder_or_the_name(tmp_path: Path) -> None:
    (tmp_path / "model-00001.safetensors").write_bytes(b"\0" * 4096)
    assert model_weights_gib(str(tmp_path)) == pytest.approx(4096 / 2**30)
    assert model_weights_gib("Qwen/Qwen3-VL-8B-Instruct") == pytest.approx(8 * 2e9 / 2**30)
    assert model_weights_gib("some/model") is None


def test_fixed_count_and_auto_without_a_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_replicas(EngineSettings(replicas=3)) == 3
    monkeypatch.setenv("PATH", "/nonexistent")  # no nvidia-smi to be found: no GPU
    assert resolve_replicas(EngineSettings(replicas="auto")) == 1


def test_replicas_share_memory_key_and_model_but_not_ports() -> None:
    base = EngineSettings(gpu_memory_utilization=0.85, port=8000, served_model_name="m")
    parts = [replica_settings(base, 3, i, "k") for i in range(3)]
    assert [p.gpu_memory_utilization for p in parts] == [0.283] * 3
    assert [p.port for p in parts] == [8000, 8001, 8002]
    assert {p.api_key for p in parts} == {"k"} and {p.served_model_name for p in parts} == {"m"}
    one = replica_settings(base, 1, 0, "k")
    assert one.gpu_memory_utilization == 0.85 and one.port == 8000


def test_group_commands_logs_and_status(tmp_path: Path) -> None:
    group = EngineReplicas(EngineSettings(replicas=2, model="m"), tmp_path)
    assert group.count == 2 and group.state == EngineState.STOPPED
    assert [r.log_path.name for r in group.replicas] == ["vllm-server.log", "vllm-server-replica-2.log"]
    assert {r.api_key for r in group.replicas} == {group.api_key}
    cmd = group.replicas[1].command(9001)
    assert cmd[cmd.index("--gpu-memory-utilization") + 1] == "0.425"
    assert "0/2 replicas ready (1 stopped, 2 stopped)" in group.status.describe()


async def test_failed_group_start_is_reported_and_leaves_nothing(tmp_path: Path) -> None:
    # Both servers really start and die on the import (the app's interpreter has no vLLM).
    settings = EngineSettings(
        launcher="python-module",
        python_executable=sys.executable,
        startup_timeout_s=120,
        replicas=2,
        replica_start_stagger_s=0,
    )
    group = EngineReplicas(settings, tmp_path)
    seen: list[str] = []
    pids: set[int] = set()

    def listen(status: EngineStatus) -> None:
        seen.append(status.describe())
        pids.update(r.pid for r in status.replicas if r.pid)

    group.add_listener(listen)
    with pytest.raises(EngineStartError, match="not installed in the engine's Python"):
        await group.start()
    assert all(r.pid is None for r in group.replicas)
    assert group.state in (EngineState.FAILED, EngineState.STOPPED)
    assert (tmp_path / "vllm-server.log").exists()
    assert any("replicas ready" in s for s in seen)
    assert pids and all(group_members(pid) == [] for pid in pids)


async def test_replicas_start_one_after_the_other_by_default(tmp_path: Path) -> None:
    """vLLM profiles GPU memory per process: the second server may not load while the first does.
    The first really starts and dies (no vLLM in the app's interpreter); the second never starts."""
    settings = EngineSettings(
        launcher="python-module", python_executable=sys.executable, startup_timeout_s=120, replicas=2
    )
    assert settings.replica_start_stagger_s is None
    group = EngineReplicas(settings, tmp_path)
    with pytest.raises(EngineStartError, match="not installed in the engine's Python"):
        await group.start()
    assert (tmp_path / "vllm-server.log").exists()
    assert not (tmp_path / "vllm-server-replica-2.log").exists()
    assert group.state in (EngineState.FAILED, EngineState.STOPPED)
