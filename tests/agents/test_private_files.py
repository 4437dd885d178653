"""Private by default: what the app keeps (database, screenshots, reports, logs) is owner-only even
when the user's umask is 022; an install written by an older version is fixed on start; and the
user's own OCR exports keep the user's umask.

Everything runs as the user would run it: `qwen3vl-agent` subprocesses started with umask 022.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.ocr_documents import write_text_pdf
from tests.support.policy_server import PolicyServer, tool_call


def _cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "qwen3vl_agent", *args],
        env=env or dict(os.environ),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        preexec_fn=lambda: os.umask(0o022),  # a typical desktop umask: new files 0644, folders 0755
    )


def _open_to_others(root: Path) -> list[str]:
    """Every file or folder under `root` that anyone but the owner may read or enter."""
    found = []
    for folder, dirs, files in os.walk(root):
        for name in (*dirs, *files):
            path = Path(folder, name)
            mode = stat.S_IMODE(os.lstat(path).st_mode)
            if mode & 0o077:
                found.append(f"{path.relative_to(root)} {mode:o}")
    return found


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.xvfb
def test_a_run_and_its_report_are_owner_only_under_umask_022(
    app_home: Path, policy_server: PolicyServer, xvfb: object
) -> None:
    answers = iter(
        [
            tool_call({"action": "left_click", "coordinate": [500, 500]}, "Click it.", "click"),
            tool_call({"action": "terminate", "status": "success"}),
        ]
    )
    policy_server.planner = lambda ctx: next(answers)
    env = dict(os.environ)
    env.update(policy_server.env())
    run = _cli("agent", "run", "Click the middle", "--mode", "dry-run", env=env)
    assert run.returncode == 0, run.stdout + run.stderr
    listed = _cli("agent", "runs", env=env)
    run_id = listed.stdout.splitlines()[1].split()[0]
    report = _cli("agent", "report", run_id, env=env)
    assert report.returncode == 0, report.stderr

    shots = list((app_home / "data" / "trajectories").rglob("step-*.png"))
    assert shots, "the run recorded no screenshot"
    assert (app_home / "data" / "qwen3vl-agent.sqlite3").exists()
    assert Path(report.stdout.strip()).is_file()
    assert _open_to_others(app_home) == []
    for folder in ("config", "data", "cache", "logs"):
        if (app_home / folder).exists():
            assert _mode(app_home / folder) == 0o700


def test_an_existing_install_open_to_others_is_made_private_on_start(app_home: Path) -> None:
    from qwen3vl_agent.storage.trajectories import TrajectoryStore

    data = app_home / "data"
    store = TrajectoryStore(data / "qwen3vl-agent.sqlite3", data / "trajectories")
    run_id = store.create_run("old run", "dry-run", data_row={"password": "hunter2"})
    shot = store.save_screenshot(run_id, 0, b"\x89PNG fake", "image/png")
    store.close()
    (app_home / "logs").mkdir(exist_ok=True)
    (app_home / "logs" / "app.log").write_text("typed: hunter2\n")
    (data / "reports").mkdir()
    (data / "reports" / f"run-{run_id}.html").write_text("<html>hunter2</html>")
    for folder, dirs, files in os.walk(app_home):  # what an older version under umask 022 left
        for name in dirs:
            os.chmod(Path(folder, name), 0o755)
        for name in files:
            os.chmod(Path(folder, name), 0o644)
    assert len(_open_to_others(app_home)) >= 8

    started = _cli("agent", "runs")
    assert started.returncode == 0, started.stderr
    assert "old run" in started.stdout  # fixing the modes lost nothing
    assert _open_to_others(app_home) == []
    assert _mode(shot) == 0o600 and _mode(shot.parent) == 0o700 and _mode(data) == 0o700

    os.chmod(data, 0o755)  # a folder opened up again later is closed on every start (a cheap stat)
    assert _cli("agent", "runs").returncode == 0
    assert _mode(data) == 0o700


def test_ocr_exports_keep_the_users_umask(app_home: Path, tmp_path: Path) -> None:
    """The user's own --out files are theirs to share: only the app's files are made private."""
    source = write_text_pdf(tmp_path / "letter.pdf", [["Quarterly figures are attached."]])
    out = tmp_path / "exports" / "new"
    done = _cli("ocr", str(source), "--engine", "cpu", "--out", str(out), "--format", "md", "--no-progress")
    assert done.returncode == 0, done.stderr
    assert _mode(out / "letter.md") == 0o644 and _mode(out) == 0o755 and _mode(out.parent) == 0o755
    assert _open_to_others(app_home) == []  # while the job's records stay private
