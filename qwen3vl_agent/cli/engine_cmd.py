"""`qwen3vl-agent engine start|status|stop`: the managed vLLM server from a terminal.

`start` shows the start's progress and keeps the engine running until Ctrl-C (or, with
`--detach`, leaves it running in the background); either way it records the engine in the data
dir so that `status` and `stop` in another terminal find it, and the app and other commands use
it instead of starting their own. `stop` also stops an engine an app instance started and shares
(`engine.shared`), without touching the app itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import click

from qwen3vl_agent.errors import UserFacingError

if TYPE_CHECKING:
    from qwen3vl_agent.engine.state_file import EngineRecord


def _settings(overrides: dict[str, Any]) -> Any:
    from qwen3vl_agent.config import load_settings

    settings = load_settings()
    update = {k: v for k, v in overrides.items() if v not in (None, ())}
    if "extra_args" in update:
        update["extra_args"] = [*settings.engine.extra_args, *update["extra_args"]]
    return settings.engine.model_copy(update=update)


def _live_record() -> Any:
    from qwen3vl_agent.engine.state_file import clear_record, read_record

    record = read_record()
    if record is not None and not record.alive():
        clear_record()  # left behind by an engine that is gone
        return None
    return record


def _restarting_record() -> EngineRecord | None:
    """The record of an engine whose server is down while its owner (which restarts it) lives."""
    from qwen3vl_agent.engine.processes import pid_alive
    from qwen3vl_agent.engine.state_file import read_record

    record = read_record()
    if record is None or record.alive() or record.owner_pid == os.getpid() or not pid_alive(record.owner_pid):
        return None
    return record


class _Replicas(click.ParamType):
    name = "N|auto"

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        if value == "auto" or (isinstance(value, int) and value >= 1):
            return value
        if isinstance(value, str) and value.isdigit() and 1 <= int(value) <= 16:
            return int(value)
        self.fail(f"{value!r} is not a replica count (1-16) or 'auto'", param, ctx)


@click.group()
def engine() -> None:
    """Start, check and stop the local vLLM engine."""


@engine.command()
@click.option("--detach", is_flag=True, help="Leave the engine running in the background and return.")
@click.option("--model", help="Model name or local folder (default: engine.model).")
@click.option("--launcher", type=click.Choice(["vllm-serve", "python-module"]), help="How to start vLLM.")
@click.option("--python", "python_executable", help="Interpreter for the python-module launcher.")
@click.option("--port", type=int, help="Port on 127.0.0.1 (default: a free one).")
@click.option("--extra-arg", "extra_args", multiple=True, help="Extra vLLM argument (repeatable).")
@click.option("--timeout", "startup_timeout_s", type=float, help="Seconds to wait for the engine.")
@click.option(
    "--replicas",
    type=_Replicas(),
    help="vLLM servers sharing the GPU: a number or auto (default: engine.replicas).",
)
def start(detach: bool, **overrides: Any) -> None:
    """Start the engine and wait until it answers."""
    from rich.console import Console

    from qwen3vl_agent.engine.replicas import EngineReplicas
    from qwen3vl_agent.engine.state_file import EngineLock, clear_record, write_record
    from qwen3vl_agent.engine.status import EngineState, EngineStatus
    from qwen3vl_agent.paths import app_paths

    def refuse_if_running() -> None:
        record = _live_record()
        if record is not None:
            raise UserFacingError(
                f"An engine is already running at {record.base_url} (pid {record.pid})",
                "stop it first with `qwen3vl-agent engine stop`",
            )

    refuse_if_running()
    settings = _settings(overrides)
    log_dir = app_paths().ensure().log_dir
    managed = EngineReplicas(settings, log_dir, detached=detach)
    console = Console(stderr=True)

    async def run() -> None:
        began = time.monotonic()
        what = f"{settings.model} ({managed.count} replicas)" if managed.count > 1 else settings.model
        lock = EngineLock()  # an app starting its engine at the same moment: one of us waits
        try:
            with console.status(f"Starting {what} …") as spinner:
                await lock.acquire(
                    on_wait=lambda s: spinner.update(
                        f"Waiting for another instance's engine start ({s:.0f} s)"
                    )
                )
                refuse_if_running()

                def progress(status: EngineStatus) -> None:
                    spinner.update(
                        f"Starting the engine ({status.elapsed_s:.0f} s): {status.last_log_line[-100:]}"
                    )

                await managed.start(progress)
            write_record(managed, detached=detach)
        finally:
            lock.release()
        console.print(
            f"[green]Engine ready[/green] in {time.monotonic() - began:.0f} s at {managed.base_url} "
            f"(model {managed.served_model_name}, pid {managed.pid}, log {managed.log_path})"
        )
        for i, replica in enumerate(managed.replicas[1:], 2):
            console.print(f"  replica {i} at {replica.base_url} (pid {replica.pid}, log {replica.log_path})")
        if detach:
            console.print("Running in the background; stop it with `qwen3vl-agent engine stop`.")
            return
        console.print("Press Ctrl-C to stop it.")
        done = asyncio.Event()

        def on_change(status: EngineStatus) -> None:
            console.print(status.describe())
            if status.state == EngineState.READY:
                write_record(managed, detached=False)  # a restart may have a new pid
            if status.state in (EngineState.FAILED, EngineState.STOPPED):
                done.set()

        managed.add_listener(on_change)
        loop = asyncio.get_running_loop()
        main = asyncio.current_task()
        assert main is not None
        loop.add_signal_handler(signal.SIGTERM, main.cancel)
        try:
            await done.wait()
        finally:
            failed = managed.state == EngineState.FAILED
            error = managed.status.error
            with console.status("Stopping the engine …"):
                await managed.stop()
            clear_record()
            console.print("Engine stopped.")
        if failed:
            raise UserFacingError(f"The engine failed: {error}", f"see {managed.log_path}")

    with contextlib.suppress(KeyboardInterrupt, asyncio.CancelledError):
        asyncio.run(run())


@engine.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def status(as_json: bool) -> None:
    """Say whether the recorded engine runs and answers /health (exit 1 when it does not)."""
    import httpx

    from qwen3vl_agent.screen.session import current_session

    session = current_session()
    restarting = _restarting_record()
    if restarting is not None:
        # its server is gone but the process that owns it lives: an automatic restart is under way
        if as_json:
            info = {"running": False, "restarting": True, "owner_pid": restarting.owner_pid}
            click.echo(json.dumps({**info, "desktop_session": session.to_json()}))
        else:
            click.echo(
                f"The engine is restarting (its owner, pid {restarting.owner_pid}, is bringing it back up);"
                " ask again in a moment."
            )
            click.echo(f"Desktop session: {session.describe()}")
        raise SystemExit(1)
    record = _live_record()
    if record is None:
        if as_json:
            click.echo(json.dumps({"running": False, "desktop_session": session.to_json()}))
        else:
            click.echo("No engine is running (start one with `qwen3vl-agent engine start`).")
            click.echo(f"Desktop session: {session.describe()}")
        raise SystemExit(1)

    def answers(base_url: str) -> bool:
        try:
            return httpx.get(f"{base_url.removesuffix('/v1')}/health", timeout=5).status_code == 200
        except httpx.HTTPError:
            return False

    each = [answers(url) for url in record.replica_urls()]
    healthy = all(each)
    from pathlib import Path

    from qwen3vl_agent.engine.leases import live_users

    users = live_users(Path(record.users_dir)) if record.users_dir else []
    if as_json:
        from dataclasses import asdict

        data = {
            "running": True,
            "healthy": healthy,
            **asdict(record),
            "user_pids": users,
            "desktop_session": session.to_json(),
        }
        for replica, ok in zip(data["replicas"], each, strict=False):
            replica["healthy"] = ok
        click.echo(json.dumps(data, indent=2))
    else:
        state = "running and healthy" if healthy else "running but not answering /health (still starting?)"
        click.echo(f"Engine {state} at {record.base_url}")
        click.echo(f"  model {record.served_model_name}, pid {record.pid}, log {record.log_path}")
        if len(record.replicas) > 1:
            for i, (replica, ok) in enumerate(zip(record.replicas, each, strict=False), 1):
                click.echo(
                    f"  replica {i}: {'healthy' if ok else 'not answering'} at {replica['base_url']}"
                    f" (pid {replica['pid']}, log {replica['log_path']})"
                )
        if record.users_dir:
            click.echo(f"  shared by {len(users)} running instance(s) of the app: pid(s) {users}")
        click.echo(f"Desktop session: {session.describe()}")
    if not healthy:
        raise SystemExit(1)


@engine.command()
@click.option("--grace", type=float, default=15.0, show_default=True, help="Seconds before SIGKILL.")
def stop(grace: float) -> None:
    """Stop the recorded engine (and every process of its group)."""
    from qwen3vl_agent.engine.managed import stop_process_group
    from qwen3vl_agent.engine.processes import group_members, pid_alive
    from qwen3vl_agent.engine.state_file import clear_record

    record = _live_record()
    if record is None:
        click.echo("No engine is running.")
        return
    shared = bool(record.users_dir)  # an app's engine: stop the server, never the app
    if not shared and not record.detached and record.owner_pid != os.getpid() and pid_alive(record.owner_pid):
        # A foreground `engine start` owns it: ask that process to stop (its watchdog would
        # otherwise restart the server).
        with contextlib.suppress(ProcessLookupError):
            os.kill(record.owner_pid, signal.SIGTERM)
        end = time.monotonic() + grace + 10
        while time.monotonic() < end and (
            pid_alive(record.owner_pid) or any(group_members(p) for p in record.replica_pids())
        ):
            time.sleep(0.2)
    if shared:  # its users' leases would keep it running for them
        import shutil

        shutil.rmtree(record.users_dir, ignore_errors=True)
    pids = record.replica_pids()
    with ThreadPoolExecutor(max_workers=len(pids)) as pool:  # each replica gets its grace at once
        list(pool.map(lambda pid: stop_process_group(pid, grace), pids))
    clear_record()
    click.echo(f"Engine stopped (pid {', '.join(map(str, pids))}).")
