"""A real local Ray cluster for tests and benchmarks: `ray start --head` on loopback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

RAY = Path(sys.executable).with_name("ray")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ray_env() -> dict[str, str]:
    return {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "OMP_THREAD_LIMIT": "1"}


def start_ray_head(temp_dir: Path, num_cpus: int = 2) -> str:
    """Start a head node with `num_cpus` worker slots on 127.0.0.1; returns its GCS address."""
    port = _free_port()
    subprocess.run(
        [
            str(RAY),
            "start",
            "--head",
            "--num-cpus",
            str(num_cpus),
            "--node-ip-address",
            "127.0.0.1",
            "--port",
            str(port),
            "--include-dashboard",
            "false",
            "--disable-usage-stats",
            "--temp-dir",
            str(temp_dir),
        ],
        env=ray_env(),
        check=True,
        capture_output=True,
        timeout=180,
    )
    return f"127.0.0.1:{port}"


def stop_ray() -> None:
    """Disconnect this process and stop every Ray process of the machine's local cluster."""
    if "ray" in sys.modules:
        import ray

        if ray.is_initialized():
            ray.shutdown()
    subprocess.run([str(RAY), "stop", "--force"], env=ray_env(), capture_output=True, timeout=120)
