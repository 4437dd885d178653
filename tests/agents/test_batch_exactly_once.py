"""Batches that truly run once, on a real X server with the real Qt form and `agent fill` processes.

Each test reproduces a finding of issue 13 and reads the outcome from the form's own record of
submissions (never from what the agent believes):

- stopped with Ctrl+C right after Submit, then resumed: the row is submitted once, not twice;
- killed (SIGKILL) mid-row at several points, then resumed: the next row never starts on the
  half-filled form (the batch stops and says why, or resets it with `--reset-keys`), and every
  submission is exactly one row's values;
- two `agent fill` on one file at once: the second is refused, naming the first; each row once;
- the data folder's disk fills up mid-run (a real tmpfs): a clean one-line stop before the next
  action, nothing recorded lost, no run or row left `running`;
- a row with a `password` column: typed into the form, but found in no request to the model,
  no CLI output, no file of the app's data (database, screenshots) and no report.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.agents.test_agent_cli import _fill_killed_when, agent_cli, cli_env, fill_args, submitted
from tests.agents.test_agent_fill_e2e import ROWS, expected
from tests.support.form_app_fixture import FormApp
from tests.support.policy_server import PolicyContext, PolicyServer

pytestmark = [pytest.mark.xvfb, pytest.mark.slow]


def is_row(ctx: PolicyContext, index: int, step: int | None = None) -> bool:
    return ctx.values.get("name") == ROWS[index]["name"] and (step is None or ctx.step == step)


def test_stopped_after_submit_then_resumed_submits_once(
    form_app: FormApp, policy_server: PolicyServer, tmp_path: Path
) -> None:
    # row 2 has clicked Submit (its last action before terminate); Ctrl+C while the model thinks
    data, out = _fill_killed_when(
        policy_server,
        form_app,
        tmp_path,
        lambda ctx: is_row(ctx, 1, 10),
        "row 2 after Submit",
        sig=signal.SIGINT,
    )
    assert [s["name"] for s in submitted(form_app)] == [ROWS[0]["name"], ROWS[1]["name"]]
    assert "row 2: needs-attention" in out and "check the form" in out, out
    again = agent_cli(*fill_args(data, form_app), env=cli_env(policy_server))
    assert "Traceback" not in again.stdout + again.stderr
    assert "row 2:" not in again.stdout  # not run again
    assert submitted(form_app) == [expected(r) for r in ROWS]  # each row exactly once


@pytest.mark.parametrize(
    ("kill_step", "reset"),
    [(3, False), (5, True)],
    ids=["after-typing-the-name-no-reset", "city-selected-reset-with-f5"],
)
def test_killed_mid_row_never_starts_the_next_row_on_its_leftovers(
    form_app: FormApp, policy_server: PolicyServer, tmp_path: Path, kill_step: int, reset: bool
) -> None:
    data, _ = _fill_killed_when(
        policy_server, form_app, tmp_path, lambda ctx: is_row(ctx, 1, kill_step), f"row 2 step {kill_step}"
    )
    assert form_app.state()["name"] == ROWS[1]["name"]  # the form holds row 2's leftovers
    before = submitted(form_app)
    assert before == [expected(ROWS[0])]
    env = cli_env(policy_server)
    if not reset:
        stopped = agent_cli(*fill_args(data, form_app), env=env)
        assert stopped.returncode == 1, stopped.stdout + stopped.stderr
        assert "row 2: needs-attention" in stopped.stdout and "not starting row 3" in stopped.stdout
        assert "--reset-command" in stopped.stdout
        assert submitted(form_app) == before  # nothing typed into the leftovers
        form_app.reset()  # the person cleans the form, as told; then runs the batch again
        again = agent_cli(*fill_args(data, form_app), env=env)
        after = before + submitted(form_app)
    else:
        again = agent_cli(*fill_args(data, form_app), "--reset-keys", "f5", env=env)
        assert "reset the target before row 3" in again.stdout, again.stdout
        after = submitted(form_app)
    assert "Traceback" not in again.stdout + again.stderr
    # every submission is exactly one row's values: row 2 was never submitted, row 3 is clean
    assert after == [expected(ROWS[0]), expected(ROWS[2])], again.stdout


def test_two_batches_on_one_file_are_refused_and_each_row_runs_once(
    form_app: FormApp, policy_server: PolicyServer, tmp_path: Path
) -> None:
    second: dict[str, subprocess.CompletedProcess[str]] = {}

    def start_second() -> None:
        second["run"] = agent_cli(*fill_args(tmp_path / "people.csv", form_app), env=cli_env(policy_server))

    _data, out = _fill_killed_when(
        policy_server,
        form_app,
        tmp_path,
        lambda ctx: is_row(ctx, 0, 1),
        "row 1 step 1",
        sig=None,  # the first one goes on once the second was answered
        at_hold=start_second,
    )
    refused = second["run"]
    assert refused.returncode == 2 and "Traceback" not in refused.stderr, refused.stdout + refused.stderr
    assert "already in use by process" in refused.stderr and "agent fill" in refused.stderr
    assert "row 1:" not in refused.stdout
    assert "done 3" in out, out
    assert submitted(form_app) == [expected(r) for r in ROWS]


@pytest.fixture
def small_disk(tmp_path: Path) -> object:
    """A real 8 MiB tmpfs as the app's data folder (needs root / CAP_SYS_ADMIN)."""
    mount = tmp_path / "home" / "data"
    mount.mkdir(parents=True)
    res = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount)], capture_output=True, text=True
    )
    if res.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {res.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_full_disk_mid_run_stops_cleanly_with_the_record_intact(
    form_app: FormApp, policy_server: PolicyServer, tmp_path: Path, small_disk: Path
) -> None:
    env = cli_env(policy_server)
    env["QWEN3VL_AGENT_HOME"] = str(small_disk.parent)
    ballast = small_disk / "ballast"

    def fill_the_disk() -> None:
        with ballast.open("wb") as f:
            try:
                while True:
                    f.write(b"\0" * 65536)
                    f.flush()
            except OSError:
                pass

    data, out = _fill_killed_when(
        policy_server,
        form_app,
        tmp_path,
        lambda ctx: is_row(ctx, 1, 3),  # row 2 typed its name; the disk fills while the model thinks
        "row 2 step 3",
        sig=None,
        env=env,
        at_hold=fill_the_disk,
    )
    lines = [line for line in out.splitlines() if line.strip()]
    assert "Traceback" not in out and "OperationalError" not in out, out
    assert any("full" in line.lower() or "no space" in line.lower() for line in lines[-3:]), out
    # nothing acted after the failed write: row 2's last click was on the name field
    assert form_app.clicks()[-1]["widget"] == "name"
    assert submitted(form_app) == [expected(ROWS[0])]
    ballast.unlink()
    db = sqlite3.connect(small_disk / "qwen3vl-agent.sqlite3")
    runs = db.execute("SELECT id, status, outcome, row_index FROM agent_runs ORDER BY id").fetchall()
    assert [(r[1], r[3]) for r in runs] == [("finished", 0), ("failed", 1)], runs
    assert runs[1][2] == "storage-error"
    rows = dict(db.execute("SELECT row_index, status FROM form_rows").fetchall())
    assert rows == {0: "done", 1: "needs-attention"}
    assert db.execute("SELECT status FROM form_batches").fetchone()[0] == "stopped"
    # row 1's record is whole: every step with its screenshot on disk
    steps = db.execute("SELECT screenshot_path, outcome FROM agent_steps WHERE run_id = ?", [runs[0][0]])
    steps = steps.fetchall()
    assert len(steps) >= 10 and all(p and Path(p).exists() for p, _ in steps)
    executed = db.execute(
        "SELECT count(*) FROM agent_steps WHERE run_id = ? AND outcome = 'executed'", [runs[1][0]]
    ).fetchone()[0]
    assert executed == 3  # row 2's three actions were all recorded before the disk filled
    db.close()
    assert os.path.exists(data)


def test_a_dead_holder_leaves_no_stale_lock(tmp_path: Path) -> None:
    """The lock is the kernel's: a holder that died (even SIGKILL) leaves no stale lock."""
    from qwen3vl_agent.storage.locks import LockHeldError, batch_lock

    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path;"
            "from qwen3vl_agent.storage.locks import batch_lock;"
            f"lock = batch_lock(Path({str(tmp_path)!r}), 'f.csv').acquire(); print('held', flush=True);"
            "time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(LockHeldError) as info:
            batch_lock(tmp_path, "f.csv").acquire()
        assert info.value.holder["pid"] == holder.pid and "f.csv" in str(info.value)
    finally:
        holder.kill()
        holder.wait()
    with batch_lock(tmp_path, "f.csv"):
        pass


def test_secret_columns_are_typed_but_never_shown_sent_or_stored(
    form_app: FormApp, policy_server: PolicyServer, tmp_path: Path
) -> None:
    """A `password` column (secret by name) and `--secret city`: the form gets the real values;
    the model, the CLI output, the database, the screenshots folder and the report see none."""
    from tests.agents.test_agent_fill_e2e import monitor_rect, write_csv
    from tests.support.policy_server import form_planner

    password, city = "Zq8-hunter2-Secret", "Ulaanbaatar77"
    policy_server.planner = form_planner(form_app.widget_rect, monitor_rect(form_app))
    data = write_csv(tmp_path / "logins.csv", [{"name": "Ada Lovelace", "city": city, "password": password}])
    env = cli_env(policy_server)
    res = agent_cli(*fill_args(data, form_app), "--secret", "city", env=env)
    assert res.returncode == 0, res.stdout + res.stderr
    [sub] = form_app.submissions()
    assert (sub["name"], sub["city"], sub["password"]) == ("Ada Lovelace", city, password)  # typed for real
    sent = [json.dumps(c.body, ensure_ascii=False) for c in policy_server.contexts]
    assert all(password not in body and city not in body for body in sent)
    assert "{password}" in policy_server.contexts[0].task and "{city}" in policy_server.contexts[0].task
    assert "••••" in res.stdout
    runs = agent_cli("runs", env=env)
    run_id = runs.stdout.splitlines()[1].split()[0]
    report = tmp_path / "report.html"
    rep = agent_cli("report", run_id, "--out", str(report), env=env)
    assert rep.returncode == 0, rep.stderr
    home = Path(env["QWEN3VL_AGENT_HOME"])
    files = [p for p in home.rglob("*") if p.is_file()] + [report]
    assert any(p.name.endswith(".sqlite3") for p in files)
    for secret in (password, city):
        for text in (res.stdout, res.stderr, runs.stdout, rep.stdout):
            assert secret not in text
        leaks = [p for p in files if secret.encode() in p.read_bytes()]
        assert not leaks, leaks


def test_killed_while_typing_is_found_by_its_executing_record(
    form_app: FormApp, policy_server: PolicyServer, tmp_path: Path
) -> None:
    """SIGKILL in the middle of a `type` action (the field holds part of the text): the step was
    recorded as "executing" before it began, so the resume marks the row and resets the form."""
    from tests.agents.test_agent_cli import agent_argv
    from tests.agents.test_agent_fill_e2e import monitor_rect, write_csv
    from tests.support.policy_server import form_planner

    long_name = "Maximilian Alexander " * 4 + "Long"  # ASCII: typed a few characters at a time
    full = long_name.strip()
    rows = [dict(ROWS[0]), {**ROWS[1], "name": full}, dict(ROWS[2])]
    policy_server.planner = form_planner(form_app.widget_rect, monitor_rect(form_app))
    data = write_csv(tmp_path / "people.csv", rows)
    env = cli_env(policy_server)
    proc = subprocess.Popen(
        agent_argv(*fill_args(data, form_app)),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
    )
    try:
        form_app.wait_for(lambda s: 0 < len(s["name"]) < len(full) and s["name"][0] == "M", timeout=180)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    left = form_app.state()["name"]
    assert 0 < len(left) < len(full) and full.startswith(left)  # killed mid-typing
    from qwen3vl_agent.agents.wiring import open_store

    store = open_store()
    try:
        run = next(r for r in store.list_runs() if r.row_index == 1)
        last = store.steps(run.id)[-1]
        assert last.outcome == "executing" and last.action and last.action["action"] == "type"
    finally:
        store.close()
    again = agent_cli(*fill_args(data, form_app), "--reset-keys", "f5", env=env)
    assert "row 2: needs-attention" in again.stdout and "reset the target before row 3" in again.stdout
    assert submitted(form_app) == [expected(rows[0]), expected(rows[2])], again.stdout
