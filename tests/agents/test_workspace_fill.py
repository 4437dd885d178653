"""`agent fill --workspaces 3 --launch "<the real Qt form>"` as a user runs it, against the scripted
policy server: rows run in three X displays of the app's own at once, every row is submitted
exactly once (read back from each form's own record), the test's main display is never touched,
and no X server or launched app survives the batch, a stop (SIGTERM) or a `kill -9` of the CLI.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest

from qwen3vl_agent.agents.wiring import open_store
from tests.agents.test_agent_cli import agent_argv, cli_env
from tests.agents.test_agent_fill_e2e import write_csv
from tests.support.form_app_fixture import FormApp
from tests.support.policy_server import PolicyServer, form_planner, tool_call
from tests.support.workspace_forms import geometry_reader, launch_command, submissions
from tests.support.workspace_forms import records as _records

pytestmark = [pytest.mark.xvfb, pytest.mark.slow]

SIZE = (1100, 820)
ROWS = [
    {"name": "Ada Lovelace", "city": "London", "country": "France", "subscribe": "yes"},
    {"name": "Jürgen Groß", "city": "Zürich", "country": "Switzerland", "subscribe": "no"},
    {"name": "Kenji Sato", "city": "東京", "country": "Japan", "subscribe": "yes"},
    {"name": "Zoë Ñúñez", "city": "São Paulo", "country": "Brazil", "subscribe": "no"},
    {"name": "Chloé Dubois", "city": "Besançon", "country": "France", "subscribe": "yes"},
    {"name": "Łukasz Żółw", "city": "Kraków", "country": "Germany", "subscribe": "no"},
    {"name": "Søren Ærø", "city": "Århus", "country": "Germany", "subscribe": "yes"},
    {"name": "Ngô Bảo Châu", "city": "Hà Nội", "country": "France", "subscribe": "no"},
    {"name": "Amélie 🌻 Poulain", "city": "Montréal", "country": "Japan", "subscribe": "yes"},
]


def expected(row: dict[str, str]) -> dict[str, object]:
    return {**{k: row[k] for k in ("name", "city", "country")}, "subscribe": row["subscribe"] == "yes"}


def leftovers(marker: str) -> list[str]:
    """Live processes whose command line names `marker` (a workspace's X server or app)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (cmdline.parent / "stat").read_text()
        except OSError:
            continue
        if marker in text and state[state.rfind(")") + 2 :][:1] != "Z":
            found.append(f"{cmdline.parent.name}: {text[:160]}")
    return found


def workspace_servers(pid: int) -> list[str]:
    """The guards (and through them the X servers and apps) the CLI process `pid` started."""
    return leftovers(f"--parent-pid {pid} ")


def run_cli(
    argv: list[str], env: dict[str, str], timeout: float = 300
) -> tuple[subprocess.CompletedProcess[str], int]:
    """Run the CLI to its end; also returns its pid (to look for what it left behind)."""
    proc = subprocess.Popen(
        argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True
    )
    out, err = proc.communicate(timeout=timeout)
    return subprocess.CompletedProcess(argv, proc.returncode, out, err), proc.pid


def fill_argv(data: Path, state_dir: Path, *extra: str) -> list[str]:
    return agent_argv(
        "fill",
        "--task",
        "Register this person",
        "--data",
        str(data),
        "--workspaces",
        "3",
        "--launch",
        launch_command(state_dir),
        "--workspace-size",
        f"{SIZE[0]}x{SIZE[1]}",
        "--mode",
        "auto",
        *extra,
    )


def start_fill(data: Path, state_dir: Path, env: dict[str, str], log: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        fill_argv(data, state_dir),
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
    )


def wait_output(
    log: Path, needle: str, count: int, proc: subprocess.Popen[str], timeout: float = 120
) -> None:
    deadline = time.monotonic() + timeout
    while log.read_text().count(needle) < count:
        assert proc.poll() is None, f"the batch ended early:\n{log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"no {count}x {needle!r}:\n{log.read_text()[-3000:]}"
        time.sleep(0.05)


def pointer(display: str) -> tuple[int, int]:
    from Xlib import display as xdisplay

    conn = xdisplay.Display(display)
    try:
        p = conn.screen().root.query_pointer()
        return (p.root_x, p.root_y)
    finally:
        conn.close()


@pytest.fixture
def setup(form_app: FormApp, policy_server: PolicyServer, tmp_path: Path):  # type: ignore[no-untyped-def]
    state_dir = tmp_path / "forms"
    state_dir.mkdir()
    policy_server.planner = form_planner(geometry_reader(state_dir), (0, 0, *SIZE))
    env = cli_env(policy_server)
    env["QWEN3VL_AGENT_EXECUTOR__STOP_HOTKEY_ENABLED"] = "false"  # this test's stop is SIGTERM / kill -9
    return state_dir, env, write_csv(tmp_path / "people.csv", ROWS)


def test_fill_in_three_workspaces_submits_every_row_once(setup, form_app: FormApp, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    state_dir, env, data = setup
    before = pointer(form_app.display.name)
    done, pid = run_cli(fill_argv(data, state_dir), env)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-3000:]
    assert "done 9" in done.stdout
    assert "[9 ended, " in done.stdout  # the last row's line carries the batch's pace
    subs = submissions(state_dir)
    assert sorted(json.dumps(v, sort_keys=True) for _, v in subs) == sorted(
        json.dumps(expected(r), sort_keys=True) for r in ROWS
    )  # every row exactly once, with exactly its values
    per_form = Counter(form for form, _ in subs)
    assert len(per_form) == 3, per_form  # all three workspaces took rows
    # nothing reached the test's own display: its form saw no event, its pointer did not move
    assert pointer(form_app.display.name) == before
    assert [r for r in form_app.records() if r.get("type") in ("click", "submit")] == []
    assert form_app.state()["name"] == ""
    store = open_store()
    try:
        runs = store.list_runs()
        targets = {json.dumps(store.get_run(r.id).target) for r in runs}  # type: ignore[union-attr]
    finally:
        store.close()
    assert len(runs) == 9 and len(targets) == 3  # three displays, none the test's
    assert form_app.display.name not in " ".join(targets)
    assert workspace_servers(pid) == [] and leftovers(str(state_dir)) == []


def test_stop_and_kill_then_resume_lose_and_double_nothing(setup, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    state_dir, env, data = setup
    # 1. a clean stop (SIGTERM, as Ctrl+C) after the first row is done
    log = tmp_path / "run1.log"
    proc = start_fill(data, state_dir, env, log)
    wait_output(log, ": done", 1, proc)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) in (1, 130, 143), log.read_text()[-3000:]
    assert workspace_servers(proc.pid) == [] and leftovers(str(state_dir)) == [], log.read_text()[-2000:]
    # 2. kill -9 in the middle of rows
    log = tmp_path / "run2.log"
    proc = start_fill(data, state_dir, env, log)
    wait_output(log, "step 2:", 2, proc)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    deadline = time.monotonic() + 10
    while (workspace_servers(proc.pid) or leftovers(str(state_dir))) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert workspace_servers(proc.pid) == [] and leftovers(str(state_dir)) == []
    # 3. resume to the end
    done, pid = run_cli(fill_argv(data, state_dir), env)
    assert done.returncode in (0, 1), done.stdout[-4000:] + done.stderr[-3000:]
    assert workspace_servers(pid) == []
    store = open_store()
    try:
        batch_rows = {}
        for batch_id in {r.batch_id for r in store.list_runs() if r.batch_id is not None}:
            batch_rows.update(store.rows(batch_id))
    finally:
        store.close()
    statuses = Counter(state.status for state in batch_rows.values())
    assert set(statuses) <= {"done", "needs-attention"} and sum(statuses.values()) == 9, statuses
    counts = Counter(json.dumps(v, sort_keys=True) for _, v in submissions(state_dir))
    for index, row in enumerate(ROWS):
        times = counts.pop(json.dumps(expected(row), sort_keys=True), 0)
        if batch_rows[index].status == "done":
            assert times == 1, (index, row, batch_rows[index])  # done: submitted exactly once
        else:
            assert times <= 1, (index, row, batch_rows[index])  # flagged for a person: never twice
    assert not counts, f"submissions that match no row (a mixed-up form): {counts}"
    # only the rows caught in flight (at most 3 per interruption) may need a person
    assert statuses["needs-attention"] <= 6, statuses


def test_a_row_that_hands_off_waits_for_a_person_while_the_others_go_on(
    setup, policy_server: PolicyServer, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    state_dir, env, _ = setup
    rows = [dict(r) for r in ROWS[:4]]
    rows[1]["name"] = "Captcha Person"
    data = write_csv(tmp_path / "four.csv", rows)
    fill = policy_server.planner

    def planner(ctx):  # type: ignore[no-untyped-def]
        if ctx.values.get("name") == "Captcha Person" and ctx.step >= 2:
            reason = "A login prompt appeared; please sign in."
            return tool_call({"action": "terminate", "status": "failure"}, reason, "ask the user")
        return fill(ctx)

    policy_server.planner = planner
    argv = fill_argv(data, state_dir)
    argv[argv.index("3")] = "2"  # two workspaces
    done, pid = run_cli(argv, env)
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-2000:]
    assert "row 2: WAITING FOR YOU - waiting for you: A login prompt appeared; please sign in." in done.stdout
    assert "done 3, needs-attention 1" in done.stdout
    subs = sorted(json.dumps(v, sort_keys=True) for _, v in submissions(state_dir))
    assert subs == sorted(
        json.dumps(expected(r), sort_keys=True) for r in rows if r["name"] != "Captcha Person"
    )
    # the half-filled form of the hand-off was not left for the next row: that app was launched again
    ready = sum(1 for records in _records(state_dir).values() for r in records if r.get("type") == "ready")
    assert ready == 3
    assert workspace_servers(pid) == []


def test_run_in_a_workspace_and_bad_workspace_options(setup, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    state_dir, env, data = setup  # the form planner: no values in this task, so it clicks Submit and ends
    run, pid = run_cli(
        agent_argv(
            "run", "Look at the form", "--workspace", "--launch", launch_command(state_dir), "--mode", "auto"
        ),
        env,
        timeout=120,
    )
    assert run.returncode == 0 and "workspace :" in run.stdout and " ready: " in run.stdout, (
        run.stdout + run.stderr
    )
    assert workspace_servers(pid) == [] and leftovers(str(state_dir)) == []
    for args, says in [
        (["--workspaces", "2"], "--launch"),
        (["--workspaces", "2", "--launch", "true", "--workspace-size", "big"], "WIDTHxHEIGHT"),
        (["--workspaces", "2", "--launch", "true", "--workspace-size", "10x10"], "not possible"),
    ]:
        bad = subprocess.run(
            agent_argv("fill", "--task", "Register this person", "--data", str(data), *args),
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )
        assert bad.returncode == 2 and says in bad.stderr, (args, bad.stdout, bad.stderr)
        assert "Traceback" not in bad.stderr


def test_read_back_checks_each_row_inside_its_own_workspace(
    setup, policy_server: PolicyServer, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """`--read-back --workspaces 2`: each row is read back (OCR) from its own workspace's display.

    One row's city is mistyped by the model: the check before Submit (on that workspace's
    screenshot) keeps it from being submitted and the row ends needs-attention naming the missing
    value; the rows typed right are submitted once and done with "all values seen".
    """
    from tests.support.policy_server import PolicyContext

    state_dir, env, _ = setup
    rows = [
        {"name": "Grace Hopper", "city": "Arlington", "country": "France", "subscribe": "yes"},
        {"name": "Alan Turing", "city": "Manchester", "country": "Japan", "subscribe": "no"},
        {"name": "Ada Lovelace", "city": "London", "country": "Brazil", "subscribe": "no"},
        {"name": "Jürgen Groß", "city": "Zürich", "country": "Germany", "subscribe": "yes"},
    ]
    data = write_csv(tmp_path / "four.csv", rows)
    honest = policy_server.planner

    def sloppy(ctx: PolicyContext) -> str:
        if ctx.values.get("city") == "Manchester":  # the model mistypes this row's city
            ctx = PolicyContext(**{**ctx.__dict__, "values": {**ctx.values, "city": "Birmingham"}})
        return honest(ctx)

    policy_server.planner = sloppy
    argv = fill_argv(data, state_dir, "--read-back")
    argv[argv.index("3")] = "2"  # two workspaces
    done, pid = run_cli(argv, env)
    out = done.stdout
    assert done.returncode == 1, out[-4000:] + done.stderr[-3000:]
    assert "done 3, needs-attention 1" in out, out[-4000:]
    row2 = [line for line in out.splitlines() if "row 2: needs-attention" in line]
    assert row2 and "Manchester" in row2[0] and "Alan Turing" not in row2[0], out[-4000:]
    for number in (1, 3, 4):
        line = next(line for line in out.splitlines() if f"row {number}: done" in line)
        assert "read-back: all values seen" in line, line
    subs = sorted(json.dumps(v, sort_keys=True) for _, v in submissions(state_dir))
    assert subs == sorted(json.dumps(expected(r), sort_keys=True) for r in rows if r["city"] != "Manchester")
    assert not any(v["city"] == "Birmingham" for _, v in submissions(state_dir))  # never submitted
    assert workspace_servers(pid) == [] and leftovers(str(state_dir)) == []
