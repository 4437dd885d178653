"""`qwen3vl-agent agent run|fill|runs|report|replay`: computer-use runs from the terminal.

    qwen3vl-agent agent run "Open the settings and turn on dark mode" --monitor 1 --mode confirm
    qwen3vl-agent agent fill --task "Register this person" --data people.csv --mode auto --read-back
    qwen3vl-agent agent fill --task "Log in" --data users.csv --secret pin --reset-keys f5
    qwen3vl-agent agent runs
    qwen3vl-agent agent report 12 --out run12.html
    qwen3vl-agent agent replay 12 --data people.csv --row 3 --mode confirm

Confirm mode asks y/n for each action on the terminal (read in a thread, so the run's event
loop keeps going and Ctrl+C still stops it). Ctrl+C (or SIGTERM) stops a run cleanly: what was
held is released, the step is recorded, and an interrupted batch resumes at the same row.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from qwen3vl_agent.cli.agent_workspaces import workspace_options
from qwen3vl_agent.errors import UserFacingError


def _echo(text: str) -> None:
    click.echo(text)
    sys.stdout.flush()


def _shown(text: str) -> str:
    """Model-made text for the terminal: control characters (ESC sequences that redraw a line)
    and invisible characters made visible, so it cannot disguise itself."""
    from qwen3vl_agent.executor.plan_text import visible_text

    return visible_text(text).replace("\n", " ")


# ---------------------------------------------------------------------------------- printing
def _event_printer(interactive_stuck: bool, get_loop: Callable[[], Any]) -> Callable[[Any], None]:
    from qwen3vl_agent.agents import events as ev

    def on_event(event: Any) -> None:
        if isinstance(event, ev.RunStarted):
            _echo(f"run {event.run_id} started ({event.mode})")
        elif isinstance(event, ev.ActionProposed):
            where = f" -> screen {event.resolved.point}" if event.resolved and event.resolved.point else ""
            thought = f"  ({_shown(event.thought)})" if event.thought else ""
            _echo(f"  step {event.step}: {_shown(event.action.describe())}{where}{thought}")
        elif isinstance(event, ev.ActionExecuted):
            if event.outcome != "executed":
                _echo(f"    [{event.outcome}]")
        elif isinstance(event, ev.RunError):
            _echo(f"  {'error' if event.fatal else 'feedback to the model'}: {_shown(event.message)}")
        elif isinstance(event, ev.RunPaused):
            _echo(f"  paused ({event.reason}): {_shown(event.message)}")
            loop = get_loop()
            if event.reason in ASKS_THE_USER and interactive_stuck and loop is not None:
                asyncio.get_running_loop().create_task(_ask_stuck(loop, event.message))
            elif event.reason == "waiting-for-you" and interactive_stuck and loop is not None:
                from qwen3vl_agent.cli.agent_workspaces import wait_for_user

                asyncio.get_running_loop().create_task(wait_for_user(loop, event.message))
        elif isinstance(event, ev.RunResumed):
            _echo("  resumed")
        elif isinstance(event, ev.RunFinished):
            answer = f" answer: {_shown(event.answer)}" if event.answer else ""
            _echo(
                f"run {event.run_id} {event.status} ({event.outcome}) after {event.steps} step(s): "
                f"{_shown(event.message)}{answer}"
            )

    return on_event


# pauses that only a person can end: no progress, a failing engine, refused actions, the scope lost
ASKS_THE_USER = ("no-progress", "engine-failed", "refused", "scope-lost")


async def _ask_stuck(loop: Any, message: str) -> None:
    go_on = await asyncio.to_thread(_ask_yes_no, f"The run is paused ({_shown(message)}). Let it try again?")
    if go_on:
        loop.resume()
    else:
        loop.stop()


def _ask_yes_no(question: str) -> bool:
    try:
        return bool(click.confirm(question, default=False, err=True))
    except (click.Abort, EOFError):
        return False


def confirm_prompt(request: Any) -> str:
    """The y/n question for one action: every step of its plan (each typed character and key
    visible, see executor/plan_text.py) and the risk reasons; nothing the model wrote is raw."""
    point = f" at screen {request.action.point}" if request.action.point else ""
    lines = [f"Execute: {_shown(request.description)}{point}", "It will:"]
    lines += [f"  - {step}".replace("\n", "\n    ") for step in request.steps or request.plan]
    if request.risk.risky:
        lines += ["Risks:", *(f"  ! {reason}" for reason in request.risk.reasons)]
    lines.append("Approve?")
    return "\n".join(lines)


async def _terminal_confirm(request: Any) -> bool:
    return await asyncio.to_thread(_ask_yes_no, confirm_prompt(request))


# ---------------------------------------------------------------------------------- sessions
def _settings(
    mode: str | None, max_steps: int | None, time_limit: float | None, engine_wait: float | None = None
) -> Any:
    from qwen3vl_agent.config import load_settings

    settings = load_settings()
    if engine_wait is not None:
        settings.agent.engine_wait_limit_s = engine_wait
    if mode:
        settings.safety.mode = mode  # type: ignore[assignment]
    if max_steps is not None:
        settings.safety.step_limit = max_steps
    if time_limit is not None:
        settings.safety.wall_clock_limit_s = time_limit
    return settings


def _install_stop_signals(stop: Callable[[str], None]) -> None:
    loop = asyncio.get_running_loop()
    state = {"count": 0}

    def handler(reason: str) -> None:
        state["count"] += 1
        if state["count"] > 1:
            raise SystemExit(130)
        _echo("stopping (press Ctrl+C again to quit at once)")
        stop(reason)

    # Ctrl+C is the user's stop; a SIGTERM is someone else's, and the run's end says so
    for sig, reason in ((signal.SIGINT, "user"), (signal.SIGTERM, "SIGTERM")):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # Windows, or not the main thread
            loop.add_signal_handler(sig, handler, reason)


class _Session:
    """Runtime (inference service) + AgentKit (executor, capture) + trajectory store."""

    def __init__(
        self,
        settings: Any,
        monitor: int,
        window: str | None,
        region: tuple[int, int, int, int] | None = None,
        *,
        live: bool = True,
    ) -> None:
        """live=False: runs go to workspaces only (their own kits); no live-desktop kit is built,
        so a Wayland session (where the live desktop is refused) does not stand in the way."""
        self.settings = settings
        self.live = live
        self.monitor, self.window, self.region = monitor, window, region
        self.runtime: Any = None
        self.kit: Any = None
        self.store: Any = None
        self.current: Any = None  # the AgentLoop running now
        self.stopping = False
        self.extra_stops: list[Callable[[], None]] = []  # workspaces: stop them all
        self.confirm = _terminal_confirm if settings.safety.mode == "confirm" else None

    async def __aenter__(self) -> _Session:
        from qwen3vl_agent.agents.retention import retention_pass
        from qwen3vl_agent.agents.wiring import AgentKit, Target, data_dir_for_reports, open_store
        from qwen3vl_agent.runtime import build_runtime

        self.store = open_store()
        retention_pass(self.store, self.settings.privacy.keep_runs_days, data_dir_for_reports())
        confirm = _terminal_confirm if self.settings.safety.mode == "confirm" else None
        if self.live:
            try:
                self.kit = AgentKit(
                    self.settings,
                    Target(self.monitor, self.window, region=self.region),
                    self.settings.safety.mode,
                    confirm,
                )
            except BaseException:  # e.g. a Wayland session: the store is not left open
                self.store.close()
                raise
        try:
            self.runtime = await build_runtime(self.settings)
        except BaseException:
            if self.kit is not None:
                self.kit.close()
            raise
        _install_stop_signals(self.stop)
        return self

    def stop(self, reason: str = "user") -> None:
        self.stopping = True
        if self.current is not None:
            self.current.stop(reason)
        for stop in self.extra_stops:
            stop()

    def new_loop(
        self, task: str, on_event: Any, *, on_stuck: str, on_handoff: str = "off", **row: Any
    ) -> Any:
        from qwen3vl_agent.agents.loop import AgentLoop

        kit = self.kit
        loop = AgentLoop(
            task,
            observer=kit.observer,
            model=self.runtime.service,
            mapper=kit.mapper,
            actor=kit.actor,
            store=self.store,
            parse=kit.parse,
            config=kit.loop_config(on_stuck=on_stuck, on_handoff=on_handoff),
            on_event=on_event,
            **row,
        )
        self.current = loop
        kit.watch_stop(loop.stop)
        return loop

    async def __aexit__(self, *exc: object) -> None:
        try:
            if self.runtime is not None:
                await self.runtime.close()
        finally:
            from qwen3vl_agent.agents.retention import retention_pass
            from qwen3vl_agent.agents.wiring import data_dir_for_reports

            if self.kit is not None:
                self.kit.close()
            retention_pass(self.store, self.settings.privacy.keep_runs_days, data_dir_for_reports())
            self.store.close()


def _run_async(coro: Any) -> Any:
    try:
        return asyncio.run(coro)
    except UserFacingError:
        raise


# ---------------------------------------------------------------------------------- commands
@click.group()
def agent() -> None:
    """Let the model operate the desktop: single tasks, form filling from data, run records."""


def _parse_region(_ctx: Any, _param: Any, value: str | None) -> tuple[int, int, int, int] | None:
    if value is None:
        return None
    try:
        left, top, width, height = (int(v) for v in value.split(","))
    except ValueError:
        raise click.BadParameter(f"{value!r} is not LEFT,TOP,WIDTH,HEIGHT (four whole numbers)") from None
    if width <= 0 or height <= 0:
        raise click.BadParameter(f"{value!r}: width and height must be positive")
    return (left, top, width, height)


def _common(fn: Callable[..., Any]) -> Callable[..., Any]:
    fn = click.option(
        "--monitor", type=int, default=1, show_default=True, help="Monitor to watch and act on (1 = first)."
    )(fn)
    fn = click.option("--window", default=None, help="Act inside the window with this title instead.")(fn)
    fn = click.option(
        "--region",
        default=None,
        callback=_parse_region,
        metavar="LEFT,TOP,WIDTH,HEIGHT",
        help="Act only inside this rectangle of the desktop (pixels) instead.",
    )(fn)
    fn = click.option(
        "--mode",
        type=click.Choice(["dry-run", "confirm", "auto"]),
        default=None,
        help="Safety mode (default: the configured one, normally confirm).",
    )(fn)
    fn = click.option("--max-steps", type=int, default=None, help="Step limit per episode.")(fn)
    fn = click.option(
        "--time-limit", type=float, default=None, help="Wall-clock limit per episode, seconds."
    )(fn)
    fn = click.option(
        "--engine-wait",
        type=float,
        default=None,
        help="While the engine is away, wait this many seconds before giving up (default: until stopped).",
    )(fn)
    return fn


@agent.command("run")
@click.argument("task")
@click.option(
    "--workspace", "in_workspace", is_flag=True, help="Run in a workspace of its own (with --launch)."
)
@_common
@workspace_options
def run_cmd(
    task: str,
    in_workspace: bool,
    monitor: int,
    window: str | None,
    region: tuple[int, int, int, int] | None,
    mode: str | None,
    max_steps: int | None,
    time_limit: float | None,
    engine_wait: float | None,
    **ws_options: Any,
) -> None:
    """Run one free-form TASK on the screen (or in a workspace)."""
    from qwen3vl_agent.cli.agent_workspaces import build_spec, run_in_workspace

    spec = build_spec(ws_options) if in_workspace or ws_options.get("launch") else None
    settings = _settings(mode, max_steps, time_limit, engine_wait)

    async def main() -> int:
        async with _Session(settings, monitor, window, region, live=spec is None) as session:
            interactive = sys.stdin.isatty()
            holder: dict[str, Any] = {}
            printer = _event_printer(interactive, lambda: holder.get("loop"))
            if spec is not None:
                return await run_in_workspace(session, task, spec, interactive, printer)
            loop = session.new_loop(
                task,
                printer,
                on_stuck="wait" if interactive else "stop",
                on_handoff="wait" if interactive else "end",
            )
            holder["loop"] = loop
            result = await loop.run()
            return 0 if result.status == "finished" else 1

    sys.exit(_run_async(main()))


def _parse_rows(spec: str | None) -> tuple[int, int | None]:
    if not spec:
        return 0, None
    try:
        if ":" in spec:
            a, b = spec.split(":", 1)
            first = int(a) - 1 if a else 0
            last = int(b) if b else None
        else:
            first = int(spec) - 1
            last = first + 1
    except ValueError:
        raise click.BadParameter("use N, A:B, A: or :B (1-based data rows, B inclusive)") from None
    if first < 0 or (last is not None and last <= first):
        raise click.BadParameter("rows are numbered from 1 and A must not exceed B")
    return first, last


@agent.command("fill")
@click.option("--task", required=True, help="What to do with each row; {column} placeholders are filled in.")
@click.option(
    "--data",
    "data_path",
    required=True,
    type=click.Path(path_type=Path),
    help="rows.csv, rows.json or rows.jsonl",
)
@click.option(
    "--read-back", is_flag=True, help="Check the values on screen with OCR before a row counts as done."
)
@click.option(
    "--read-back-fields", default=None, help="Comma-separated columns to check (default: the visible ones)."
)
@click.option(
    "--rows", "rows_spec", default=None, help="Only these data rows: N, A:B, A: or :B (1-based, inclusive)."
)
@click.option("--retry-failed", is_flag=True, help="Run failed and needs-attention rows again.")
@click.option("--restart", is_flag=True, help="Start a new batch instead of resuming the last one.")
@click.option("--require", "required", multiple=True, help="A column the file must have (repeatable).")
@click.option("--stop-on-failure", is_flag=True, help="Stop the batch at the first row that is not done.")
@click.option(
    "--workspaces",
    "workspace_count",
    type=click.IntRange(1, 64),
    default=None,
    help="Run rows in N workspaces at once (each with the --launch app) instead of on your desktop.",
)
@click.option(
    "--secret",
    "secrets",
    multiple=True,
    help="A column whose values the model never sees (typed in place of {COLUMN}); repeatable."
    " Columns named like agent.secret_columns (password, pin, iban, ...) are secret anyway.",
)
@click.option(
    "--reset-command",
    default=None,
    help="Command that puts the target back in a clean state (exit 0), run before the next row"
    " after a row was left part-way. Without a reset step the batch stops there instead.",
)
@click.option(
    "--reset-keys",
    default=None,
    help="Key combo pressed on the target for the same reset, e.g. f5 or ctrl+shift+r (after --reset-command).",
)
@_common
@workspace_options
def fill_cmd(
    task: str,
    data_path: Path,
    read_back: bool,
    read_back_fields: str | None,
    rows_spec: str | None,
    retry_failed: bool,
    restart: bool,
    required: tuple[str, ...],
    stop_on_failure: bool,
    secrets: tuple[str, ...],
    reset_command: str | None,
    reset_keys: str | None,
    monitor: int,
    window: str | None,
    region: tuple[int, int, int, int] | None,
    mode: str | None,
    max_steps: int | None,
    time_limit: float | None,
    engine_wait: float | None,
    workspace_count: int | None,
    **ws_options: Any,
) -> None:
    """Run the TASK once per row of a CSV/JSON file; resumes an interrupted batch."""
    from qwen3vl_agent.agents.batch_rate import BatchRate
    from qwen3vl_agent.agents.data_rows import DataFileError, check_columns, open_data, secret_columns
    from qwen3vl_agent.agents.form_fill import BatchNotice, BatchOptions, RowFinished, RowStarted, run_batch
    from qwen3vl_agent.cli.agent_workspaces import build_spec, fill_in_workspaces

    first, last = _parse_rows(rows_spec)
    source = open_data(data_path)
    check_columns(source, task, list(required))  # fail fast, before the engine starts
    unknown = [s for s in secrets if source.columns and s not in source.columns]
    if unknown:
        raise DataFileError(
            f"--secret names no column of {data_path.name}: {', '.join(unknown)}"
            f" (its columns: {', '.join(source.columns)})"
        )
    spec = build_spec(ws_options) if workspace_count or ws_options.get("launch") else None
    settings = _settings(mode, max_steps, time_limit, engine_wait)
    hidden = secret_columns(source.columns, settings.agent.secret_columns, list(secrets))
    fields = [f.strip() for f in read_back_fields.split(",")] if read_back_fields else None

    async def main() -> int:
        async with _Session(settings, monitor, window, region, live=spec is None) as session:
            interactive = sys.stdin.isatty()
            options = BatchOptions(
                task,
                data_path,
                list(required),
                first,
                last,
                retry_failed,
                restart,
                stop_on_failure,
                secret_columns=hidden,
            )
            if spec is not None:
                return await fill_in_workspaces(
                    session,
                    options,
                    workspace_count or 1,
                    spec,
                    interactive,
                    read_back=read_back,
                    fields=fields,
                )
            holder: dict[str, Any] = {}
            printer = _event_printer(interactive, lambda: holder.get("loop"))

            async def run_row(row_task: str, row: Any, batch_id: int) -> Any:
                from qwen3vl_agent.agents.read_back import SubmitCheck

                loop = session.new_loop(
                    row_task,
                    printer,
                    on_stuck="wait" if interactive else "stop",
                    data_row=row.values,
                    batch_id=batch_id,
                    row_index=row.index,
                    secrets=row.secrets,
                    gate=SubmitCheck(row.values, fields) if read_back else None,
                )
                holder["loop"] = loop
                return await loop.run()

            rate = BatchRate()

            def on_batch(event: Any) -> None:
                if isinstance(event, BatchNotice):
                    _echo(f"note: {event.message}")
                elif isinstance(event, RowStarted):
                    _echo(f"row {event.row_index + 1}: {json.dumps(event.values, ensure_ascii=False)}")
                elif isinstance(event, RowFinished):
                    _echo(f"row {event.row_index + 1}: {event.status} - {event.message} {rate.row_ended()}")

            checker = _read_back(session, fields) if read_back else None
            reset = None
            if reset_command or reset_keys:
                from qwen3vl_agent.agents.target_reset import TargetReset

                reset = TargetReset(reset_command, reset_keys, executor=session.kit.executor)
            summary = await run_batch(
                options,
                session.store,
                run_row,
                read_back=checker,
                reset=reset,
                on_event=on_batch,
                should_stop=lambda: session.stopping,
            )
            _echo(rate.summary_line(summary))
            all_done = not summary.stopped and set(summary.counts) <= {"done"}
            return 0 if all_done else 1

    sys.exit(_run_async(main()))


def _read_back(session: _Session, fields: list[str] | None) -> Any:
    from qwen3vl_agent.agents.form_fill import ReadBackResult
    from qwen3vl_agent.agents.read_back import check_read_back

    async def check(row: Any, result: Any) -> ReadBackResult:
        report = await check_read_back(session.kit, session.store, result.run_id, row.values, fields)
        return ReadBackResult(report.ok, report.message)

    return check


def _delete_runs(run_ids: tuple[int, ...], older_than: float | None) -> None:
    from qwen3vl_agent.agents.retention import delete_runs, delete_runs_older_than
    from qwen3vl_agent.agents.wiring import data_dir_for_reports, open_store

    store = open_store()
    try:
        reports = data_dir_for_reports()
        deleted: list[int] = []
        kept: dict[int, str] = {}
        if run_ids:
            deleted += delete_runs(store, list(run_ids), reports).deleted
        if older_than is not None:
            result = delete_runs_older_than(store, older_than, reports)
            deleted += result.deleted
            kept.update(result.kept)
    finally:
        store.close()
    _echo(
        f"deleted {len(deleted)} agent run{'s' if len(deleted) != 1 else ''}"
        + (f": {', '.join(str(i) for i in sorted(deleted))}" if deleted else "")
        + " (steps, screenshots and reports)"
    )
    for run_id, why in sorted(kept.items()):
        _echo(f"kept run {run_id}: {why}")


@agent.command("runs")
@click.option("--limit", type=int, default=30, show_default=True)
@click.option(
    "--delete",
    "delete",
    is_flag=True,
    help="Delete the runs given as RUN_ID arguments, with their steps, screenshots and reports.",
)
@click.option(
    "--older-than",
    "older_than",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    metavar="DAYS",
    help="Delete every run started more than DAYS days ago (runs an unfinished batch needs stay).",
)
@click.argument("run_ids", nargs=-1, type=int, metavar="[RUN_ID]...")
def runs_cmd(limit: int, delete: bool, older_than: float | None, run_ids: tuple[int, ...]) -> None:
    """List recent agent runs, or delete runs: `--delete RUN_ID...`, `--older-than DAYS`."""
    from qwen3vl_agent.agents.wiring import open_store

    if run_ids and not delete:
        raise click.UsageError("RUN_ID arguments need --delete (to list runs, give no RUN_ID)")
    if delete and not run_ids:
        raise click.UsageError("--delete needs one or more RUN_ID arguments")
    if delete or older_than is not None:
        _delete_runs(run_ids, older_than)
        return
    store = open_store()
    try:
        runs = store.list_runs(limit)
    finally:
        store.close()
    if not runs:
        _echo("no agent runs yet")
        return
    _echo(f"{'id':>5}  {'started':19}  {'status':15}  {'outcome':13}  {'steps':>5}  task")
    for r in runs:
        started = datetime.fromtimestamp(r.started_at).strftime("%Y-%m-%d %H:%M:%S")
        task = " ".join(r.task.split())
        _echo(
            f"{r.id:>5}  {started}  {r.status:15}  {(r.outcome or '-'):13}  {r.step_count:>5}  "
            f"{task[:60] + ('…' if len(task) > 60 else '')}"
        )


@agent.command("report")
@click.argument("run_id", type=int)
@click.option(
    "--out", type=click.Path(path_type=Path), default=None, help="HTML file (default: under the data dir)."
)
def report_cmd(run_id: int, out: Path | None) -> None:
    """Write a self-contained HTML report of run RUN_ID."""
    from qwen3vl_agent.agents.report import write_report
    from qwen3vl_agent.agents.wiring import data_dir_for_reports, open_store

    store = open_store()
    try:
        run = store.get_run(run_id)
        if run is None:
            raise UserFacingError(
                f"There is no agent run {run_id}", "list runs with: qwen3vl-agent agent runs"
            )
        path = write_report(run, store.steps(run_id), out or data_dir_for_reports() / f"run-{run_id}.html")
    finally:
        store.close()
    _echo(str(path))


def _replay_row(data: str | None, row_number: int | None) -> dict[str, str] | None:
    if data is None:
        return None
    if data.lstrip().startswith("{"):
        try:
            value = json.loads(data)
        except json.JSONDecodeError as exc:
            raise click.BadParameter(f"--data is not valid JSON: {exc.msg}") from None
        return {str(k): "" if v is None else str(v) for k, v in value.items()}
    from qwen3vl_agent.agents.data_rows import open_data

    wanted = (row_number or 1) - 1
    for row in open_data(Path(data)).rows():
        if row.index == wanted:
            if row.problem:
                raise UserFacingError(f"Row {wanted + 1} of {data} {row.problem}")
            return row.values
    raise UserFacingError(f"{data} has no data row {wanted + 1}")


@agent.command("replay")
@click.argument("run_id", type=int)
@click.option("--data", default=None, help="A data file (with --row) or a JSON object of field values.")
@click.option("--row", "row_number", type=int, default=None, help="1-based data row of --data (default 1).")
@click.option("--settle", type=float, default=None, help="Seconds between actions (default: agent.settle_s).")
@_common
def replay_cmd(
    run_id: int,
    data: str | None,
    row_number: int | None,
    settle: float | None,
    monitor: int,
    window: str | None,
    region: tuple[int, int, int, int] | None,
    mode: str | None,
    max_steps: int | None,
    time_limit: float | None,
    engine_wait: float | None,
) -> None:
    """Re-execute the actions of run RUN_ID without the model (a macro), in the chosen safety mode."""
    from qwen3vl_agent.agents.control import RunControl
    from qwen3vl_agent.agents.replay import replay_run
    from qwen3vl_agent.agents.wiring import AgentKit, Target, open_store

    settings = _settings(mode, max_steps, time_limit, engine_wait)
    new_row = _replay_row(data, row_number)

    async def main() -> int:
        store = open_store()
        confirm = _terminal_confirm if settings.safety.mode == "confirm" else None
        kit = AgentKit(settings, Target(monitor, window, region=region), settings.safety.mode, confirm)
        control = RunControl()
        _install_stop_signals(control.stop)
        kit.watch_stop(control.stop)
        started = time.perf_counter()
        try:
            result = await replay_run(
                run_id,
                store,
                observer=kit.observer,
                mapper=kit.mapper,
                actor=kit.actor,
                mode=settings.safety.mode,
                data_row=new_row,
                settle_s=settings.agent.settle_s if settle is None else settle,
                control=control,
                on_event=_event_printer(False, lambda: None),
            )
        finally:
            kit.close()
            store.close()
        _echo(f"replay run {result.run_id}: {result.status} in {time.perf_counter() - started:.1f} s")
        return 0 if result.status == "finished" else 1

    sys.exit(_run_async(main()))
