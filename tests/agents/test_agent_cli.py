"""The `qwen3vl-agent agent` command as a user runs it: a subprocess on the test X server.

`agent fill` over a 3-row CSV fills and submits the real form three times; a batch killed
(SIGKILL) while it is between rows resumes at the right row and never re-submits a done row;
`runs`, `report` and `replay` work on what the fill recorded.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.agents.test_agent_fill_e2e import ROWS, expected, monitor_rect, write_csv
from tests.support.form_app_fixture import FormApp
from tests.support.policy_server import PolicyContext, PolicyServer, form_planner

pytestmark = [pytest.mark.xvfb, pytest.mark.slow]


def cli_env(server: PolicyServer) -> dict[str, str]:
    env = dict(os.environ)  # DISPLAY, XAUTHORITY and QWEN3VL_AGENT_HOME come from the fixtures
    env.update(server.env())
    env["QWEN3VL_AGENT_CACHE__ENABLED"] = "false"
    return env


def agent_argv(*args: str) -> list[str]:
    """The `qwen3vl-agent agent ...` command line, run with this Python."""
    return [sys.executable, "-m", "qwen3vl_agent", "agent", *args]


def fill_args(data: Path, form_app: FormApp) -> list[str]:
    """`agent fill` of the registration task over `data`, on the form's monitor, in auto mode."""
    return [
        "fill",
        "--task",
        "Register this person",
        "--data",
        str(data),
        "--monitor",
        str(form_app.monitor.index),
        "--mode",
        "auto",
    ]


def agent_cli(*args: str, env: dict[str, str], timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        agent_argv(*args),
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def submitted(form_app: FormApp) -> list[dict[str, object]]:
    return [{k: s[k] for k in ("name", "city", "country", "subscribe")} for s in form_app.submissions()]


def test_fill_cli_submits_every_row_then_reports(
    form_app: FormApp, policy_server: PolicyServer, tmp_path: Path
) -> None:
    policy_server.planner = form_planner(form_app.widget_rect, monitor_rect(form_app))
    data = write_csv(tmp_path / "people.csv", ROWS)
    env = cli_env(policy_server)
    monitor = str(form_app.monitor.index)
    done = agent_cli(*fill_args(data, form_app), env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "done 3" in done.stdout
    assert "[3 ended, " in done.stdout and "rows/min this run)" in done.stdout  # the batch's pace
    assert submitted(form_app) == [expected(r) for r in ROWS]

    # a second run of the same command finds the finished batch and submits nothing again
    again = agent_cli(*fill_args(data, form_app), env=cli_env(policy_server))
    assert again.returncode == 0, again.stdout + again.stderr
    assert len(form_app.submissions()) == 3

    runs = agent_cli("runs", env=env)
    assert runs.returncode == 0 and runs.stdout.count("finished") == 3
    run_id = runs.stdout.splitlines()[1].split()[0]  # newest first: the third row's run
    out = tmp_path / "report.html"
    rep = agent_cli("report", run_id, "--out", str(out), env=env)
    assert rep.returncode == 0, rep.stderr
    html = out.read_text(encoding="utf-8")
    assert "data:image/png;base64," in html and "<circle" in html and "Kenji Sato" in html

    # replay the third row's run with the first row's values, as a macro (no model)
    before = policy_server.chat_requests
    rep = agent_cli(
        "replay",
        run_id,
        "--data",
        str(data),
        "--row",
        "1",
        "--monitor",
        monitor,
        "--mode",
        "auto",
        "--settle",
        "0.2",
        env=env,
    )
    assert rep.returncode == 0, rep.stdout + rep.stderr
    assert policy_server.chat_requests == before  # the model was not asked
    assert submitted(form_app)[-1] == expected(ROWS[0])


def _fill_killed_when(
    policy_server: PolicyServer,
    form_app: FormApp,
    tmp_path: Path,
    hold: Callable[[PolicyContext], bool],
    where: str,
    sig: signal.Signals | None = signal.SIGKILL,
    rows: list[dict[str, str]] | None = None,
    env: dict[str, str] | None = None,
    at_hold: Callable[[], None] | None = None,
) -> tuple[Path, str]:
    """Run `agent fill` over `rows` (default ROWS) as a subprocess and send it `sig` (SIGKILL;
    SIGINT is Ctrl+C) once the policy is asked at the point `hold` picks (the request is held
    there until the process ended; `at_hold` runs first; `sig` None: just let it go on);
    return the data file and the command's output."""
    fill = form_planner(form_app.widget_rect, monitor_rect(form_app))
    reached, release = threading.Event(), threading.Event()

    def planner(ctx: PolicyContext) -> str:
        if hold(ctx) and not release.is_set():
            reached.set()
            release.wait(30)
        return fill(ctx)

    policy_server.planner = planner
    data = write_csv(tmp_path / "people.csv", rows or ROWS)
    proc = subprocess.Popen(
        agent_argv(*fill_args(data, form_app)),
        env=env or cli_env(policy_server),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    try:
        assert reached.wait(120), f"the batch never reached {where}"
        if at_hold is not None:
            at_hold()
        if sig is not None:
            os.kill(proc.pid, sig)
        else:
            release.set()
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        release.set()
    return data, out


def test_killed_batch_resumes_at_the_right_row(
    form_app: FormApp, policy_server: PolicyServer, tmp_path: Path
) -> None:
    data, _out = _fill_killed_when(
        policy_server,
        form_app,
        tmp_path,
        # row 2's first request: the CLI is between rows
        lambda ctx: ctx.values.get("name") == ROWS[1]["name"],
        "row 2",
    )
    assert submitted(form_app) == [expected(ROWS[0])]

    again = agent_cli(*fill_args(data, form_app), env=cli_env(policy_server))
    assert again.returncode == 0, again.stdout + again.stderr
    assert "resuming batch" in again.stdout and "row 2 was interrupted" in again.stdout
    assert "row 1:" not in again.stdout  # row 1 was done: not run again
    assert submitted(form_app) == [expected(r) for r in ROWS]  # each row submitted exactly once


def test_run_in_confirm_mode_asks_on_the_terminal(form_app: FormApp, policy_server: PolicyServer) -> None:
    """`agent run --mode confirm`: each action waits for a typed answer; "n" declines, "y" runs."""
    from tests.support.policy_server import to_grid, tool_call

    left, top, _w, height = form_app.widget_rect("subscribe")
    box = to_grid((left + 9, top + height / 2), monitor_rect(form_app))
    answers = iter(
        [
            tool_call({"action": "left_click", "coordinate": box}, "Tick it.", "click the box"),
            tool_call({"action": "left_click", "coordinate": box}, "Try again.", "click the box"),
            tool_call({"action": "terminate", "status": "success"}),
        ]
    )
    policy_server.planner = lambda ctx: next(answers)
    proc = subprocess.run(
        agent_argv(
            "run", "Tick the newsletter box", "--monitor", str(form_app.monitor.index), "--mode", "confirm"
        ),
        env=cli_env(policy_server),
        input="n\ny\n",
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stderr.count("Execute: left_click at") == 2  # asked twice
    assert "[declined]" in proc.stdout and "finished (success)" in proc.stdout
    assert "declined" in (policy_server.contexts[1].last_feedback or "")
    assert len(form_app.clicks()) == 1 and form_app.wait_for(lambda s: s["subscribe"] is True)


def test_fill_cli_bad_data_files(policy_server: PolicyServer, tmp_path: Path, xvfb: object) -> None:
    """Missing columns fail before anything runs; cp1252 is read with a warning; 10,000 rows stream."""
    from tests.support.policy_server import terminate_planner

    policy_server.planner = terminate_planner
    env = cli_env(policy_server)
    missing = tmp_path / "missing.csv"
    missing.write_text("name\nAda\n", encoding="utf-8")
    res = agent_cli(
        "fill", "--task", "Register {name} from {city}", "--data", str(missing), "--mode", "dry-run", env=env
    )
    assert res.returncode == 2 and "no column 'city'" in res.stderr and "Traceback" not in res.stderr
    assert policy_server.chat_requests == 0  # nothing ran

    header_only = tmp_path / "header-only.csv"
    header_only.write_text("name,city\n", encoding="utf-8")
    res = agent_cli("fill", "--task", "Register", "--data", str(header_only), "--mode", "dry-run", env=env)
    assert res.returncode == 2, res.stdout + res.stderr
    [line] = res.stderr.strip().splitlines()  # one clear line, no traceback
    assert "header-only.csv" in line and "no rows" in line
    assert policy_server.chat_requests == 0

    legacy = tmp_path / "legacy.csv"
    legacy.write_bytes("name,city\nRené,Zürich\n".encode("cp1252"))
    res = agent_cli("fill", "--task", "Register", "--data", str(legacy), "--mode", "dry-run", env=env)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "not UTF-8" in res.stdout and "cp1252" in res.stdout
    assert "Zürich" in policy_server.contexts[-1].task  # decoded right, not mojibake

    big = tmp_path / "big.csv"
    with big.open("w", encoding="utf-8") as f:
        f.write("name,city\n")
        for i in range(10_000):
            f.write(f"Person {i},City {i}\n")
    before = policy_server.chat_requests
    res = agent_cli(
        "fill", "--task", "Register", "--data", str(big), "--rows", "9999:10000", "--mode", "dry-run", env=env
    )
    assert res.returncode == 0, res.stdout + res.stderr
    assert policy_server.chat_requests - before == 2
    assert [c.values["name"] for c in policy_server.contexts[-2:]] == ["Person 9998", "Person 9999"]
    assert "done 2" in res.stdout


def test_run_cli_without_an_engine_waits_then_gives_up_clearly(
    policy_server: PolicyServer, xvfb: object
) -> None:
    policy_server.stop()  # nothing listens on the configured endpoint
    res = agent_cli(
        "run",
        "Do something",
        "--mode",
        "dry-run",
        "--engine-wait",
        "1.5",
        env=cli_env(policy_server),
        timeout=120,
    )
    assert "Traceback" not in res.stdout + res.stderr
    # paused with a clear state, retried, then gave up after --engine-wait
    assert res.returncode == 1, res.stdout + res.stderr
    assert "paused (engine-unavailable)" in res.stdout and "stopped (engine-unavailable)" in res.stdout
