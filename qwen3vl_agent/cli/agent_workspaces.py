"""`agent fill --workspaces N --launch CMD` and `agent run --workspace --launch CMD`.

The runs happen in workspaces (X displays of the app's own, `qwen3vl_agent.workspace`), not on
the user's desktop: the user keeps the mouse and keyboard, and N rows run at once. Output lines
carry the workspace's name (`[ws2]`). Ctrl+C or the stop hotkey stops every workspace; all X
servers and launched apps end with the command, whatever way it ends.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
from collections.abc import Callable
from typing import Any

import click

from qwen3vl_agent.errors import UserFacingError


def workspace_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The options that describe the workspaces (shared by `agent run` and `agent fill`)."""
    fn = click.option(
        "--launch",
        default=None,
        help='The app to start in each workspace, e.g. "firefox --new-window https://…" '
        "({workspace} is replaced by the workspace's number).",
    )(fn)
    fn = click.option(
        "--workspace-size",
        default="1280x800",
        show_default=True,
        help="Each workspace's screen, WIDTHxHEIGHT.",
    )(fn)
    fn = click.option(
        "--workspace-dpi", type=int, default=96, show_default=True, help="Each workspace's DPI."
    )(fn)
    fn = click.option(
        "--window-manager",
        default=None,
        help="Start a window manager in each workspace: matchbox, openbox or a command (default: none).",
    )(fn)
    fn = click.option(
        "--show-workspaces", is_flag=True, help="Show each workspace as a window on your desktop (Xephyr)."
    )(fn)
    fn = click.option(
        "--window-timeout",
        type=float,
        default=30.0,
        show_default=True,
        help="Seconds to wait for the launched app's window.",
    )(fn)
    return fn


def build_spec(options: dict[str, Any]) -> Any:
    from qwen3vl_agent.workspace import WorkspaceSpec

    size = options["workspace_size"]
    match = re.fullmatch(r"\s*(\d+)\s*[xX×]\s*(\d+)\s*", size or "")
    if not match:
        raise click.BadParameter("use WIDTHxHEIGHT, e.g. 1280x800", param_hint="--workspace-size")
    if not options.get("launch"):
        raise click.UsageError('workspaces need the app to run in them: --launch "CMD ..."')
    return WorkspaceSpec(
        width=int(match.group(1)),
        height=int(match.group(2)),
        dpi=options["workspace_dpi"],
        server="xephyr" if options["show_workspaces"] else "xvfb",
        window_manager=options["window_manager"],
        launch=options["launch"],
        window_timeout_s=options["window_timeout"],
    )


def _echo(text: str) -> None:
    click.echo(text)
    sys.stdout.flush()


def _lane_printer() -> Callable[[str, Any], None]:
    from qwen3vl_agent.agents import events as ev

    def on_event(lane: str, event: Any) -> None:
        tag = f"[{lane}]"
        if isinstance(event, ev.ActionProposed):
            where = f" -> {event.resolved.point}" if event.resolved and event.resolved.point else ""
            _echo(f"{tag}   step {event.step}: {event.action.describe()}{where}")
        elif isinstance(event, ev.RunError):
            _echo(f"{tag}   {'error' if event.fatal else 'feedback to the model'}: {event.message}")
        elif isinstance(event, ev.RunFinished):
            _echo(f"{tag} run {event.run_id} {event.status} ({event.outcome}) after {event.steps} step(s)")

    return on_event


async def fill_in_workspaces(
    session: Any,
    options: Any,
    count: int,
    spec: Any,
    interactive: bool,
    *,
    read_back: bool = False,
    fields: list[str] | None = None,
) -> int:
    """The batch of `agent fill --workspaces N`; `session` is agent_cmd's (runtime + store).

    With `read_back`, each row is read back from its own workspace's display (before Submit, and
    after the row), as `--read-back` does on the desktop.
    """
    from qwen3vl_agent.agents.batch_rate import BatchRate
    from qwen3vl_agent.agents.form_fill import BatchNotice, RowFinished, RowStarted
    from qwen3vl_agent.agents.parallel_batch import OnLane, run_parallel_batch
    from qwen3vl_agent.agents.workspace_lanes import ReadBackSpec, WorkspacePool, lane_read_back

    settings = session.settings
    if settings.safety.mode == "confirm":
        raise UserFacingError(
            "Workspaces run without asking before each action",
            "use --mode auto (or dry-run); watch them with --show-workspaces",
        )
    pool = WorkspacePool(
        count,
        spec,
        settings,
        model=session.runtime.service,
        store=session.store,
        mode=settings.safety.mode,
        on_event=_lane_printer(),
        read_back=ReadBackSpec(fields) if read_back else None,
    )
    session.extra_stops.append(pool.stop)
    rate = BatchRate()

    def on_batch(event: Any) -> None:
        lane = ""
        if isinstance(event, OnLane):
            lane, event = f"[{event.lane}] ", event.event
        if isinstance(event, BatchNotice):
            _echo(f"note: {event.message}")
        elif isinstance(event, RowStarted):
            _echo(f"{lane}row {event.row_index + 1}: {json.dumps(event.values, ensure_ascii=False)}")
        elif isinstance(event, RowFinished):
            waiting = event.message.startswith("waiting for you")
            status = "WAITING FOR YOU" if waiting else event.status
            _echo(f"{lane}row {event.row_index + 1}: {status} - {event.message} {rate.row_ended()}")

    _echo(f"starting {count} workspace(s) of {spec.width}x{spec.height}: {spec.launch}")
    async with pool:
        if pool.hotkey_error:
            _echo(f"note: {pool.hotkey_error} (Ctrl+C still stops)")
        summary = await run_parallel_batch(
            options,
            session.store,
            pool.lanes,
            read_back=lane_read_back if read_back else None,
            on_event=on_batch,
            should_stop=lambda: session.stopping or pool.stopped,
        )
    _echo(rate.summary_line(summary))
    return 0 if not summary.stopped and set(summary.counts) <= {"done"} else 1


async def run_in_workspace(session: Any, task: str, spec: Any, interactive: bool, printer: Any) -> int:
    """`agent run --workspace`: one task in one workspace; a hand-off waits for the user."""
    from qwen3vl_agent.agents.workspace_lanes import WorkspacePool

    settings = session.settings
    holder: dict[str, Any] = {}

    def forward(_lane: str, event: Any) -> None:
        printer(event)
        _maybe_prompt_handoff(event, holder.get("loop"), interactive)

    pool = WorkspacePool(
        1,
        spec,
        settings,
        model=session.runtime.service,
        store=session.store,
        mode=settings.safety.mode,
        confirm=session.confirm,
        on_event=forward,
        loop_overrides={"on_handoff": "wait" if interactive else "end"},
    )
    session.extra_stops.append(pool.stop)
    async with pool:
        lane = pool.lanes[0]
        _echo(f"workspace {lane.workspace.display} ready: {spec.launch}")
        loop = lane.new_loop(task)
        holder["loop"] = loop
        result = await loop.run()
    return 0 if result.status == "finished" else 1


def _maybe_prompt_handoff(event: Any, loop: Any, interactive: bool) -> None:
    from qwen3vl_agent.agents import events as ev

    if (
        isinstance(event, ev.RunPaused)
        and event.reason == "waiting-for-you"
        and interactive
        and loop is not None
    ):
        asyncio.get_running_loop().create_task(wait_for_user(loop, event.message))


async def wait_for_user(loop: Any, reason: str) -> None:
    """The agent handed off: tell the user why, wait for Enter (resume) or 'stop'."""
    _echo(f"WAITING FOR YOU: {reason}")
    answer = await asyncio.to_thread(
        _read_line, "Do what is needed, then press Enter to hand back (or type stop): "
    )
    if answer.strip().lower() in ("stop", "s", "q", "quit"):
        loop.stop()
    else:
        loop.resume()


def _read_line(prompt: str) -> str:
    try:
        return str(click.prompt(prompt, default="", show_default=False, err=True))
    except (click.Abort, EOFError):
        return "stop"
