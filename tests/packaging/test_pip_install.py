"""`pip install` of the project from a clean venv gives the `qwen3vl-agent` command, ships the
resources, and keeps vLLM out unless the `gpu` extra is asked for."""

from __future__ import annotations

import os
import subprocess
import sys
import venv
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (whl,) = out.glob("qwen3vl_agent-*.whl")
    return whl


def test_wheel_metadata_splits_gpu_extra(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        meta_name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        meta = Parser().parsestr(zf.read(meta_name).decode())
        entry_points = zf.read(meta_name.replace("METADATA", "entry_points.txt")).decode()
        names = zf.namelist()
    requires = meta.get_all("Requires-Dist") or []
    assert any(r.startswith("vllm") and 'extra == "gpu"' in r for r in requires)
    assert not any(r.startswith("vllm") and "extra" not in r for r in requires)
    assert "qwen3vl-agent = qwen3vl_agent.cli.main:main" in entry_points
    assert any(n.startswith("qwen3vl_agent/resources/icons/") for n in names)


def _clean_env() -> dict[str, str]:
    """The environment of a fresh shell: no PYTHONPATH. A source checkout on PYTHONPATH (as in a
    worktree) carries its editable install's `.egg-info`, so pip would see the project as already
    installed and skip it, leaving the venv without the command."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}


def test_fresh_venv_install_gives_the_command(wheel: Path, tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    pip = env_dir / "bin" / "pip"
    env = _clean_env()
    done = subprocess.run([str(pip), "install", "-q", str(wheel)], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    frozen = subprocess.run(
        [str(pip), "freeze"], capture_output=True, text=True, check=True, env=env
    ).stdout.lower()
    assert "vllm" not in frozen and "torch" not in frozen
    out = subprocess.run(
        [str(env_dir / "bin" / "qwen3vl-agent"), "--version"], capture_output=True, text=True, env=env
    )
    assert out.returncode == 0 and "qwen3vl-agent" in out.stdout
    out = subprocess.run(
        [str(env_dir / "bin" / "qwen3vl-agent"), "config", "path"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert out.returncode == 0 and "database:" in out.stdout, out.stderr
