"""A workspace: an X display of the app's own, with the target app running inside it.

    spec = WorkspaceSpec(width=1280, height=800, launch="firefox --new-window https://example.org")
    with Workspace(spec, index=1) as ws:          # Xvfb :N, window manager, the app, its window
        ws.display                                # ":N", for capture and XTest input
        ws.relaunch()                             # a fresh app (after a row that did not finish)

The X server is Xvfb (invisible) or, with `server="xephyr"`, Xephyr (a window on the user's
desktop that shows the workspace). Every program runs under `group_guard`
(`qwen3vl_agent.engine.guarded`): closing the workspace, a crash or a `kill -9` of the app ends
the X server, the window manager and the launched app with everything they forked. The server
picks a free display number itself (`-displayfd`), has its own size and DPI, and its own
Xauthority (see `xauth.py`). Start it from a long-lived thread (the parent-death signal follows
the thread that spawns).
"""

from __future__ import annotations

import contextlib
import os
import select
import shlex
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from qwen3vl_agent.engine.guarded import GuardedProcess, spawn
from qwen3vl_agent.workspace.errors import LaunchError, WorkspaceError, WorkspaceStartError
from qwen3vl_agent.workspace.windows import AppWindow, app_windows
from qwen3vl_agent.workspace.xauth import admit_local_user, new_cookie, write_client_file, write_server_file

ServerKind = Literal["xvfb", "xephyr"]

# Window managers we know how to start quietly; anything else is taken as a command line.
WINDOW_MANAGERS: dict[str, list[str]] = {
    "matchbox": ["matchbox-window-manager", "-use_titlebar", "no"],
    "openbox": ["openbox", "--sm-disable"],
}
_PACKAGES = {"Xvfb": "xvfb", "Xephyr": "xserver-xephyr"}


@dataclass(frozen=True)
class WorkspaceSpec:
    """How to build a workspace. `launch` may contain `{workspace}` (the workspace's number)."""

    width: int = 1280
    height: int = 800
    dpi: int = 96
    server: ServerKind = "xvfb"
    window_manager: str | None = None  # "matchbox", "openbox" or a command line; None = none
    launch: str | None = None
    window_timeout_s: float = 30.0
    start_timeout_s: float = 15.0

    def __post_init__(self) -> None:
        if not (64 <= self.width <= 8192 and 64 <= self.height <= 8192):
            raise WorkspaceError(
                f"A workspace of {self.width}x{self.height} pixels is not possible",
                "use a size between 64x64 and 8192x8192",
            )
        if not 24 <= self.dpi <= 600:
            raise WorkspaceError(f"A DPI of {self.dpi} is not possible", "use 24 to 600 (96 is usual)")

    def launch_argv(self, index: int) -> list[str]:
        if not self.launch or not self.launch.strip():
            return []
        try:
            argv = shlex.split(self.launch.replace("{workspace}", str(index)))
        except ValueError as exc:
            raise LaunchError(f"The --launch command cannot be read: {exc}", command=self.launch) from None
        return argv


def _runtime_root() -> Path:
    base = os.environ.get("XDG_RUNTIME_DIR")
    return Path(base) if base and os.path.isdir(base) else Path(tempfile.gettempdir())


def sweep_stale_dirs(root: Path | None = None) -> int:
    """Remove the folders of workspaces whose app is gone (killed before it could clean up)."""
    from qwen3vl_agent.engine.processes import pid_alive

    removed = 0
    for folder in (root or _runtime_root()).glob("qwen3vl-workspace-*"):
        try:
            owner = int((folder / "owner.pid").read_text())
        except (OSError, ValueError):
            continue
        if not pid_alive(owner):
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
    return removed


def _server_command(spec: WorkspaceSpec, fd: int, auth: Path, index: int) -> list[str]:
    name = "Xephyr" if spec.server == "xephyr" else "Xvfb"
    exe = shutil.which(name)
    if exe is None:
        raise WorkspaceStartError(
            f"{name} is not installed, so no workspace can be started",
            f"install the Debian/Ubuntu package {_PACKAGES[name]}",
        )
    common = [
        "-displayfd",
        str(fd),
        "-auth",
        str(auth),
        "-nolisten",
        "tcp",
        "-noreset",
        "-dpi",
        str(spec.dpi),
    ]
    if spec.server == "xephyr":
        if not os.environ.get("DISPLAY"):
            raise WorkspaceStartError(
                "A visible workspace (Xephyr) needs a desktop to show its window on: DISPLAY is not set",
                "use an invisible workspace (Xvfb) instead",
            )
        size = ["-screen", f"{spec.width}x{spec.height}", "-title", f"qwen3vl-agent workspace {index}"]
        return [exe, *common, *size, "-no-host-grab"]
    return [exe, *common, "-screen", "0", f"{spec.width}x{spec.height}x24"]


class Workspace:
    """One isolated display and the app in it; see the module docstring."""

    def __init__(self, spec: WorkspaceSpec, index: int = 1) -> None:
        self.spec = spec
        self.index = index
        self.display = ""
        self.dir: Path | None = None
        self.xauthority: Path | None = None
        self._server: GuardedProcess | None = None
        self._wm: GuardedProcess | None = None
        self._app: GuardedProcess | None = None
        self.window: AppWindow | None = None
        self.launches = 0

    # -- life cycle ----------------------------------------------------------------------
    def __enter__(self) -> Workspace:
        self.start()
        if self.spec.launch:
            try:
                self.wait_for_window()
            except BaseException:
                self.close()
                raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        """Start the X server (and window manager), then the app without waiting for its window."""
        if self._server is not None:
            raise WorkspaceError(f"Workspace {self.index} is already started")
        try:
            self._start_server()
            if self.spec.window_manager:
                self._start_window_manager()
            if self.spec.launch:
                self.launch()
        except BaseException:
            self.close()
            raise

    def _start_server(self) -> None:
        sweep_stale_dirs()
        self.dir = Path(tempfile.mkdtemp(prefix=f"qwen3vl-workspace-{self.index}-", dir=_runtime_root()))
        (self.dir / "owner.pid").write_text(str(os.getpid()))
        cookie = new_cookie()
        server_auth = self.dir / "server.xauth"
        write_server_file(server_auth, cookie)
        read_fd, write_fd = os.pipe()
        try:
            cmd = _server_command(self.spec, write_fd, server_auth, self.index)
            self._server = spawn(
                "X server",
                cmd,
                log_path=self.dir / "xserver.log",
                pass_fds=(write_fd,),
                env=self._server_env(),
            )
            os.close(write_fd)
            write_fd = -1
            number = self._read_display_number(read_fd)
        finally:
            os.close(read_fd)
            if write_fd >= 0:
                os.close(write_fd)
        self.display = f":{number}"
        self.xauthority = self.dir / "Xauthority"
        write_client_file(self.xauthority, number, cookie)
        try:
            admit_local_user(self.display, self.xauthority)
        except (RuntimeError, OSError) as exc:
            raise WorkspaceStartError(
                f"The workspace display {self.display} refused this app: {exc}"
            ) from exc

    def _server_env(self) -> dict[str, str]:
        env = dict(os.environ)
        if self.spec.server == "xvfb":
            env.pop("DISPLAY", None)
        return env

    def _read_display_number(self, fd: int) -> int:
        assert self._server is not None
        data = b""
        deadline = time.monotonic() + self.spec.start_timeout_s
        while not data.endswith(b"\n"):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self._server.running():
                why = (
                    "exited"
                    if not self._server.running()
                    else f"did not start in {self.spec.start_timeout_s:g} s"
                )
                raise WorkspaceStartError(
                    f"The X server of workspace {self.index} {why}", log_tail=self._server.log_tail()
                )
            ready, _, _ = select.select([fd], [], [], min(remaining, 0.1))
            if ready:
                chunk = os.read(fd, 16)
                if not chunk:
                    time.sleep(0.05)  # the guard or server closed the pipe: look at its status again
                    if not self._server.running():
                        continue
                    raise WorkspaceStartError(
                        f"The X server of workspace {self.index} gave no display number",
                        log_tail=self._server.log_tail(),
                    )
                data += chunk
        return int(data.strip())

    def _start_window_manager(self) -> None:
        assert self.dir is not None
        name = self.spec.window_manager or ""
        argv = WINDOW_MANAGERS.get(name) or shlex.split(name)
        if not argv or shutil.which(argv[0]) is None:
            raise WorkspaceStartError(
                f"The window manager {argv[0] if argv else name!r} is not installed",
                "install it (Debian: matchbox-window-manager or openbox), or run without one",
            )
        self._wm = spawn("window manager", argv, env=self.app_env(), log_path=self.dir / "wm.log")

    # -- the app ---------------------------------------------------------------------------
    def app_env(self) -> dict[str, str]:
        """The environment of programs inside the workspace: its display, its Xauthority, X11 only."""
        env = dict(os.environ)
        env["DISPLAY"] = self.display
        env["XAUTHORITY"] = str(self.xauthority)
        env["QWEN3VL_AGENT_WORKSPACE"] = str(self.index)
        for name in ("WAYLAND_DISPLAY", "QT_QPA_PLATFORMTHEME"):
            env.pop(name, None)
        env["QT_QPA_PLATFORM"] = "xcb"
        env["GDK_BACKEND"] = "x11"
        env["SDL_VIDEODRIVER"] = "x11"
        return env

    def launch(self) -> None:
        """Start the --launch command inside the workspace (not waiting for its window)."""
        assert self.dir is not None
        argv = self.spec.launch_argv(self.index)
        if not argv:
            raise LaunchError("There is no app to launch", 'pass --launch "CMD ..."')
        if shutil.which(argv[0]) is None:
            raise LaunchError(
                f"The --launch program {argv[0]!r} was not found",
                "give its full path",
                command=self.spec.launch or "",
            )
        self.launches += 1
        self.window = None
        self._app = spawn("app", argv, env=self.app_env(), log_path=self.dir / f"app-{self.launches}.log")

    def wait_for_window(self, timeout_s: float | None = None) -> AppWindow:
        """Wait until the launched app shows a window; LaunchError if it exits or takes too long."""
        from Xlib import display as xdisplay

        if self._app is None:
            raise LaunchError("No app was launched in this workspace", 'pass --launch "CMD ..."')
        timeout = self.spec.window_timeout_s if timeout_s is None else timeout_s
        deadline = time.monotonic() + timeout
        conn = xdisplay.Display(self.display)
        try:
            while True:
                found = app_windows(conn)
                if found:
                    self.window = found[0]
                    return found[0]
                code = self._app.exit_code()
                if code is not None:
                    raise LaunchError(
                        f"The launched app exited with status {code} before it showed a window",
                        _tail_hint(self._app.log_tail()),
                        command=self.spec.launch or "",
                        exit_code=code,
                        log_tail=self._app.log_tail(),
                    )
                if time.monotonic() > deadline:
                    raise LaunchError(
                        f"The launched app showed no window within {timeout:g} s",
                        _tail_hint(self._app.log_tail())
                        or "does it need a window manager? (--window-manager)",
                        command=self.spec.launch or "",
                        log_tail=self._app.log_tail(),
                    )
                time.sleep(0.05)
        finally:
            conn.close()

    def relaunch(self) -> AppWindow:
        """End the app (with all it forked) and start it again: the next task starts clean."""
        self.stop_app()
        self.launch()
        return self.wait_for_window()

    def stop_app(self) -> None:
        app, self._app = self._app, None
        if app is not None:
            app.stop(grace_s=2.0)
        self.window = None

    @property
    def app_running(self) -> bool:
        return self._app is not None and self._app.running()

    @property
    def running(self) -> bool:
        return self._server is not None and self._server.running()

    def pids_by_role(self) -> dict[str, list[int]]:
        """The live processes of each part ("server", "window manager", "app"), guards included."""
        parts = {"server": self._server, "window manager": self._wm, "app": self._app}
        return {role: proc.members() for role, proc in parts.items() if proc is not None}

    def pids(self) -> list[int]:
        """Every live process of this workspace (guards, server, window manager, app and children)."""
        return sorted({pid for pids in self.pids_by_role().values() for pid in pids})

    def close(self) -> None:
        """End the app, the window manager and the X server; remove the workspace's files."""
        for attr in ("_app", "_wm", "_server"):
            proc = getattr(self, attr)
            setattr(self, attr, None)
            if proc is not None:
                with contextlib.suppress(Exception):
                    proc.stop(grace_s=2.0)
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None


def _tail_hint(tail: str) -> str | None:
    lines = [ln for ln in tail.splitlines() if ln.strip()]
    return f"its last output: {lines[-1][:300]}" if lines else None
