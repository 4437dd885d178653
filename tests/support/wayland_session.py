"""A real headless GNOME Wayland session for tests, started like the Xvfb one.

    private dbus-daemon -> pipewire -> wireplumber
      -> mutter --headless --wayland --no-x11 --virtual-monitor 1280x800
      -> xdg-desktop-portal-gnome, xdg-desktop-portal -r

everything in a private XDG_RUNTIME_DIR and on a private session bus, so nothing of the
machine's own desktop is touched. Mutter's headless backend renders in software; its
`org.gnome.Mutter.ScreenCast` / `RemoteDesktop` / `DisplayConfig` APIs are the real ones.

Fixtures:
  `wayland_session` (session): starts it, yields a `WaylandSession`; does not touch os.environ.
  `wayland` (function): the same session with WAYLAND_DISPLAY, DBUS_SESSION_BUS_ADDRESS,
  XDG_RUNTIME_DIR, XDG_SESSION_TYPE=wayland and XDG_CURRENT_DESKTOP=GNOME set for the test and
  DISPLAY removed (a Wayland-only session).
  `kde_session` (session): a headless KDE Plasma compositor instead (`kwin_wayland --virtual`,
  xdg-desktop-portal-kde, XDG_CURRENT_DESKTOP=KDE); skipped where those are not installed.
Tests that use them should carry `@pytest.mark.wayland`. Without the programs (installed by
scripts/install-system-deps.sh) they are skipped, saying which ones are missing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.form_app_fixture import FormApp
from tests.support.xvfb import MonitorRect

MONITOR_SIZE = (1280, 800)
PROGRAMS = ("dbus-daemon", "dbus-send", "pipewire", "wireplumber", "mutter", "gst-launch-1.0")
PORTALS = ("/usr/libexec/xdg-desktop-portal", "/usr/libexec/xdg-desktop-portal-gnome")
GNOME_PORTAL = "org.freedesktop.impl.portal.desktop.gnome"
MUTTER_NAMES = (
    "org.gnome.Mutter.ScreenCast",
    "org.gnome.Mutter.RemoteDesktop",
    "org.gnome.Mutter.DisplayConfig",
)


KDE_PROGRAMS = (
    "/usr/bin/kwin_wayland",
    "/usr/lib/x86_64-linux-gnu/libexec/xdg-desktop-portal-kde",
    "/usr/lib/x86_64-linux-gnu/qt5/plugins/platforms/libqwayland-generic.so",  # qtwayland5
)
KDE_PORTAL = "org.freedesktop.impl.portal.desktop.kde"
KDE_QML = Path(__file__).with_name("kde_qml")  # a stand-in for plasma-workspace's dialog frame
PLASMA_DIALOGS = Path("/usr/lib/x86_64-linux-gnu/qt5/qml/org/kde/plasma/workspace/dialogs")
KDE_SCREENSHOT_QML = (  # what xdg-desktop-portal-kde 5.27's screenshot dialog imports
    "/usr/lib/x86_64-linux-gnu/qt5/qml/QtQuick/Layouts",
    "/usr/lib/x86_64-linux-gnu/qt5/qml/QtQuick/Controls.2",
    "/usr/lib/x86_64-linux-gnu/qt5/qml/org/kde/kirigami.2",
)


def missing_programs() -> list[str]:
    missing = [p for p in PROGRAMS if shutil.which(p) is None]
    missing += [p for p in PORTALS if not os.access(p, os.X_OK)]
    try:
        import jeepney  # noqa: F401
    except ImportError:
        missing.append("jeepney (Python)")
    return missing


@dataclass
class WaylandSession:
    """A running headless session: its runtime dir, bus, Wayland socket and monitor size."""

    runtime_dir: Path
    bus_address: str
    wayland_display: str
    size: tuple[int, int]  # the monitor's pixels
    logs: Path
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    scale: float = 1.0
    extra_env: dict[str, str] = field(default_factory=dict)
    desktop: str = "GNOME"

    @property
    def points(self) -> tuple[int, int]:
        """The monitor's size in the compositor's logical coordinates (pixels / scale)."""
        return (round(self.size[0] / self.scale), round(self.size[1] / self.scale))

    def env(self) -> dict[str, str]:
        """Environment for a process inside the session (a native Wayland client, a tool)."""
        env = dict(os.environ)
        env.pop("DISPLAY", None)
        env.update(
            XDG_RUNTIME_DIR=str(self.runtime_dir),
            DBUS_SESSION_BUS_ADDRESS=self.bus_address,
            WAYLAND_DISPLAY=self.wayland_display,
            XDG_SESSION_TYPE="wayland",
            XDG_CURRENT_DESKTOP=self.desktop,
        )
        env.update(self.extra_env)
        return env

    def log_tail(self, chars: int = 3000) -> str:
        parts = []
        for log in sorted(self.logs.glob("*.log")):
            parts.append(f"--- {log.name}\n{log.read_text(errors='replace')[-chars:]}")
        return "\n".join(parts)

    def names_on_bus(self) -> set[str]:
        out = subprocess.run(
            ["dbus-send", "--session", "--print-reply", "--dest=org.freedesktop.DBus",
             "/org/freedesktop/DBus", "org.freedesktop.DBus.ListNames"],
            capture_output=True, text=True, env=self.env(), timeout=10,
        )  # fmt: skip
        return {line.split('"')[1] for line in out.stdout.splitlines() if line.strip().startswith('string "')}


def _spawn(session: WaylandSession, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        argv,
        env=session.env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=(session.logs / f"{name}.log").open("wb"),
    )
    session.processes.append(proc)
    return proc


def _wait(session: WaylandSession, what: str, ready: object, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while not ready():  # type: ignore[operator]
        dead = [p.args for p in session.processes if p.poll() is not None]
        if dead or time.monotonic() > deadline:
            reason = f"exited: {dead}" if dead else f"not within {timeout_s}s"
            raise RuntimeError(
                f"the headless Wayland session did not start ({what} {reason})\n{session.log_tail()}"
            )
        time.sleep(0.05)


def _fractional_scaling(workdir: Path) -> dict[str, str]:
    """GSettings for the session's processes in a private keyfile, with Mutter's
    `scale-monitor-framebuffer` on: without it Mutter offers integer scales only."""
    config = workdir / "config"
    (config / "glib-2.0" / "settings").mkdir(parents=True, exist_ok=True)
    (config / "glib-2.0" / "settings" / "keyfile").write_text(
        "[org/gnome/mutter]\nexperimental-features=['scale-monitor-framebuffer']\n"
    )
    return {"GSETTINGS_BACKEND": "keyfile", "XDG_CONFIG_HOME": str(config)}


def _apply_scale(session: WaylandSession, scale: float) -> None:
    """Set the virtual monitor's scale through DisplayConfig.ApplyMonitorsConfig (temporary)."""
    from qwen3vl_agent.wayland.bus import Bus

    dc, path = "org.gnome.Mutter.DisplayConfig", "/org/gnome/Mutter/DisplayConfig"
    bus = Bus(session.bus_address)
    try:
        serial, monitors, _logical, _props = bus.call(dc, path, dc, "GetCurrentState")
        (connector, *_), modes, _ = monitors[0]
        mode = next(m for m in modes if m[6].get("is-current", ("b", False))[1])
        if scale not in [round(x, 4) for x in mode[5]]:
            raise RuntimeError(f"Mutter offers the scales {mode[5]} for {mode[0]}, not {scale}")
        layout = [(0, 0, float(scale), 0, True, [(connector, mode[0], {})])]
        bus.call(dc, path, dc, "ApplyMonitorsConfig", "uua(iiduba(ssa{sv}))a{sv}", serial, 1, layout, {})
    finally:
        bus.close()


def _new_session(
    workdir: Path,
    wayland_display: str,
    size: tuple[int, int],
    scale: float = 1.0,
    extra_env: dict[str, str] | None = None,
    desktop: str = "GNOME",
) -> WaylandSession:
    """A session record with its private runtime dir (the bus socket in it) and log folder."""
    runtime = workdir / "run"
    runtime.mkdir(mode=0o700, parents=True, exist_ok=True)
    logs = workdir / "logs"
    logs.mkdir(exist_ok=True)
    bus = f"unix:path={runtime / 'bus'}"
    return WaylandSession(runtime, bus, wayland_display, size, logs, [], scale, extra_env or {}, desktop)


def _start_bus_and_pipewire(session: WaylandSession) -> None:
    """What every desktop here runs first: the private session bus, pipewire, wireplumber."""
    _spawn(
        session,
        "dbus",
        ["dbus-daemon", "--session", "--nofork", "--nopidfile", f"--address={session.bus_address}"],
    )
    _wait(session, "dbus-daemon", (session.runtime_dir / "bus").exists)
    _spawn(session, "pipewire", ["pipewire"])
    _wait(session, "pipewire", (session.runtime_dir / "pipewire-0").exists)
    _spawn(session, "wireplumber", ["wireplumber"])


def _start_portals(session: WaylandSession, name: str, backend: str, backend_bus_name: str) -> None:
    """The desktop's portal backend first (the portal would otherwise have the bus activate one,
    and ours would then exit finding its name taken), then xdg-desktop-portal."""
    _spawn(session, f"portal-{name}", [backend])
    _wait(session, f"xdg-desktop-portal-{name}", lambda: backend_bus_name in session.names_on_bus())
    _spawn(session, "portal", [PORTALS[0], "-r"])
    _wait(session, "xdg-desktop-portal", lambda: "org.freedesktop.portal.Desktop" in session.names_on_bus())


@contextmanager
def _stopped_on_failure(session: WaylandSession) -> Iterator[None]:
    """Stop what was started of `session` when its start fails (or is interrupted)."""
    try:
        yield
    except BaseException:
        stop_wayland(session)
        raise


def start_wayland(
    workdir: Path,
    size: tuple[int, int] = MONITOR_SIZE,
    portals: bool = True,
    scale: float = 1.0,
    extra_monitors: tuple[tuple[int, int], ...] = (),
) -> WaylandSession:
    """Start the whole session; the caller must `stop_wayland` it (also when this raises).
    `scale` other than 1 (1.25, 1.5 ...) is set on the monitor once Mutter is up."""
    extra = _fractional_scaling(workdir) if scale != 1.0 else {}
    session = _new_session(workdir, "wayland-test-0", size, scale=scale, extra_env=extra)
    with _stopped_on_failure(session):
        _start_bus_and_pipewire(session)
        width, height = size
        _spawn(
            session,
            "mutter",
            ["mutter", "--headless", "--wayland", "--no-x11", "--virtual-monitor", f"{width}x{height}",
             *[arg for w, h in extra_monitors for arg in ("--virtual-monitor", f"{w}x{h}")],
             f"--wayland-display={session.wayland_display}"],
        )  # fmt: skip
        _wait(session, "mutter", lambda: set(MUTTER_NAMES) <= session.names_on_bus())
        if scale != 1.0:
            _apply_scale(session, scale)
        if portals:
            _start_portals(session, "gnome", PORTALS[1], GNOME_PORTAL)
    return session


def stop_wayland(session: WaylandSession) -> None:
    for proc in reversed(session.processes):
        if proc.poll() is None:
            proc.terminate()
    for proc in reversed(session.processes):
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    session.processes.clear()


def start_kwin(workdir: Path, size: tuple[int, int] = MONITOR_SIZE) -> WaylandSession:
    """A headless KDE Plasma compositor with its portal: private dbus, pipewire, wireplumber,
    `kwin_wayland --virtual`, xdg-desktop-portal-kde, xdg-desktop-portal. The packaged
    kwin_wayland carries a file capability (cap_sys_resource) that a container may refuse to
    exec ("Operation not permitted"): a plain copy in `workdir` is run instead. The caller must
    `stop_wayland` it (also when this raises).

    For the Screenshot portal: xdg-desktop-portal-kde saves its pictures in the user's Pictures
    folder (here a private one, named in `config/user-dirs.dirs`: without the folder the save
    fails and the portal answers "cancelled"), and it builds its screenshot dialog (QML) even
    for a non-interactive picture, crashing where that cannot load: the dialog's frame comes from
    plasma-workspace, which a stand-in replaces where it is missing (`kde_qml/`)."""
    kwin = workdir / "kwin_wayland"
    shutil.copyfile(KDE_PROGRAMS[0], kwin)
    kwin.chmod(0o755)
    config, pictures = workdir / "config", workdir / "pictures"
    config.mkdir(exist_ok=True)
    pictures.mkdir(exist_ok=True)
    (config / "user-dirs.dirs").write_text(f'XDG_PICTURES_DIR="{pictures}"\n')
    extra = {"QT_QPA_PLATFORM": "wayland", "XDG_CONFIG_HOME": str(config)}
    if not PLASMA_DIALOGS.exists():
        extra["QML2_IMPORT_PATH"] = str(KDE_QML)
    session = _new_session(workdir, "wayland-kde-0", size, extra_env=extra, desktop="KDE")
    with _stopped_on_failure(session):
        _start_bus_and_pipewire(session)
        width, height = size
        _spawn(
            session,
            "kwin",
            [str(kwin), "--virtual", "--width", str(width), "--height", str(height),
             "--socket", session.wayland_display, "--no-lockscreen"],
        )  # fmt: skip
        _wait(session, "kwin_wayland", (session.runtime_dir / session.wayland_display).exists)
        _start_portals(session, "kde", KDE_PROGRAMS[1], KDE_PORTAL)
    return session


def _running(
    missing: list[str], needs: str, start: Callable[[], WaylandSession], desktop: str = "Wayland"
) -> Iterator[WaylandSession]:
    """A session fixture's body: skip saying what is missing, else start, yield, stop."""
    if missing:
        pytest.skip(f"a headless {desktop} session needs {', '.join(missing)} ({needs})")
    session = start()
    try:
        yield session
    finally:
        stop_wayland(session)


@pytest.fixture(scope="session")
def kde_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WaylandSession]:
    """A session-wide headless KDE Plasma (KWin) session with xdg-desktop-portal-kde."""
    yield from _running(
        missing_programs() + [p for p in KDE_PROGRAMS if not os.path.exists(p)],
        "kwin-wayland, xdg-desktop-portal-kde, qtwayland5",
        lambda: start_kwin(tmp_path_factory.mktemp("kde")),
        desktop="KDE",
    )


@pytest.fixture
def kde(kde_session: WaylandSession, monkeypatch: pytest.MonkeyPatch) -> WaylandSession:
    """The KDE session as this test's environment (Wayland only: no DISPLAY)."""
    return _enter(kde_session, monkeypatch)


@pytest.fixture(scope="session")
def wayland_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WaylandSession]:
    """A session-wide headless GNOME Wayland session; stopped at the end of the session."""
    yield from _running(
        missing_programs(),
        "scripts/install-system-deps.sh",
        lambda: start_wayland(tmp_path_factory.mktemp("wayland")),
    )


def _enter(session: WaylandSession, monkeypatch: pytest.MonkeyPatch) -> WaylandSession:
    for key, value in session.env().items():
        if os.environ.get(key) != value:
            monkeypatch.setenv(key, value)
    monkeypatch.delenv("DISPLAY", raising=False)
    return session


@pytest.fixture
def wayland(wayland_session: WaylandSession, monkeypatch: pytest.MonkeyPatch) -> WaylandSession:
    """The session's Wayland desktop as this test's environment (Wayland only: no DISPLAY)."""
    return _enter(wayland_session, monkeypatch)


SCALED_SIZE, SCALE = (1600, 1000), 1.25  # 1280x800 points


@pytest.fixture(scope="session")
def wayland_scaled_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WaylandSession]:
    """A second headless GNOME session whose monitor has a FRACTIONAL scale: 1600x1000 pixels
    at 1.25, 1280x800 points (Mutter's scale-monitor-framebuffer, in a private GSettings keyfile)."""
    yield from _running(
        missing_programs(),
        "scripts/install-system-deps.sh",
        lambda: start_wayland(
            tmp_path_factory.mktemp("wayland-scaled"), SCALED_SIZE, portals=False, scale=SCALE
        ),
    )


@pytest.fixture
def wayland_scaled(wayland_scaled_session: WaylandSession, monkeypatch: pytest.MonkeyPatch) -> WaylandSession:
    return _enter(wayland_scaled_session, monkeypatch)


def _form_on(session: WaylandSession, workdir: Path) -> Iterator[FormApp]:
    """A form fixture's body: the real Qt test form natively on `session`, full screen (its
    geometry in the session's points), closed afterwards."""
    monitor = MonitorRect(1, 0, 0, *session.points)
    app = FormApp(None, monitor, workdir, env=session.env(), platform="wayland")
    try:
        yield app
    finally:
        app.close()


def _reset(form: FormApp) -> FormApp:
    """The session's form for this test (its records since the reset only); a dead form says so."""
    if form.process.poll() is not None:
        raise RuntimeError(f"the Wayland form died: {form.log_file.read_text(errors='replace')[-3000:]}")
    form.reset()
    return form


@pytest.fixture(scope="session")
def wayland_form_session(
    wayland_session: WaylandSession, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FormApp]:
    """The real Qt test form, natively on the Wayland session (QT_QPA_PLATFORM=wayland), full screen."""
    yield from _form_on(wayland_session, tmp_path_factory.mktemp("wayland-form"))


@pytest.fixture
def wayland_form(wayland_form_session: FormApp, wayland: WaylandSession) -> FormApp:
    """The Wayland form, reset for this test (its records since the reset only)."""
    return _reset(wayland_form_session)


@pytest.fixture(scope="session")
def wayland_scaled_form_session(
    wayland_scaled_session: WaylandSession, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FormApp]:
    """The Qt test form natively on the fractionally scaled session (its geometry is in points)."""
    yield from _form_on(wayland_scaled_session, tmp_path_factory.mktemp("wayland-scaled-form"))


@pytest.fixture
def wayland_scaled_form(wayland_scaled_form_session: FormApp, wayland_scaled: WaylandSession) -> FormApp:
    return _reset(wayland_scaled_form_session)
