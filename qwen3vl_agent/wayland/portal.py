"""The xdg-desktop-portal ScreenCast and RemoteDesktop handshakes: CreateSession ->
(SelectDevices ->) SelectSources -> Start, with the restore token kept so that a later run does
not ask the user again.

Every portal call returns a Request object whose `Response(u code, a{sv} results)` signal
carries the answer (code 0: granted, 1: the user cancelled, 2: failed). `Start` shows the
desktop's consent dialog; the first time, a person must answer it. With `persist_mode` 2 the
answer comes with a `restore_token`, saved in the app's data folder and sent with the next
`SelectSources`, where the portal then skips the dialog. The granted streams are PipeWire nodes
reachable through `OpenPipeWireRemote` (a file descriptor for `frames.FrameStream`).

RemoteDesktop: SelectDevices (keyboard, pointer) and ScreenCast.SelectSources on the SAME
session, then RemoteDesktop.Start: one dialog grants input and the monitors' streams. A
remote-desktop session can keep its consent only from version 2 of the interface
(xdg-desktop-portal 1.17+; `persist_mode` of SelectDevices); before that (Debian 12: 1.16,
version 1) the portal refuses persistence for it and every new session asks again.

On GNOME the app drives Mutter's own API (`mutter.py`) by default, which is what the portal
backend uses underneath and needs no dialog; `portal_session.py` builds the app's portal route
(KDE Plasma, wlroots desktops, or any desktop by the setting) on this client.
"""

from __future__ import annotations

import contextlib
import itertools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from qwen3vl_agent.paths import app_paths
from qwen3vl_agent.wayland.bus import Bus, WaylandDesktopError

PORTAL = "org.freedesktop.portal.Desktop"
PORTAL_PATH = "/org/freedesktop/portal/desktop"
SCREENCAST = "org.freedesktop.portal.ScreenCast"
REMOTE_DESKTOP = "org.freedesktop.portal.RemoteDesktop"
SCREENSHOT = "org.freedesktop.portal.Screenshot"
REQUEST = "org.freedesktop.portal.Request"
SESSION = "org.freedesktop.portal.Session"
SOURCE_MONITOR = 1
DEVICE_KEYBOARD, DEVICE_POINTER = 1, 2
PERSIST_UNTIL_REVOKED = 2
_tokens = itertools.count(1)


TokenKind = Literal["screencast", "remotedesktop"]


def token_file(kind: TokenKind = "screencast") -> Path:
    return app_paths().data_dir / f"wayland-{kind}-restore-token"


def load_restore_token(kind: TokenKind = "screencast") -> str | None:
    try:
        return token_file(kind).read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def save_restore_token(token: str, kind: TokenKind = "screencast") -> None:
    path = token_file(kind)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(token)


@dataclass(frozen=True)
class PortalStream:
    node_id: int
    position: tuple[int, int] | None
    size: tuple[int, int] | None


class PortalResponseError(WaylandDesktopError):
    """The portal answered a request with a refusal (code 1: the user cancelled, 2: it failed)."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


PORTAL_HINT = (
    "install xdg-desktop-portal and the desktop's backend (xdg-desktop-portal-kde, -wlr, -gnome), "
    "with PipeWire"
)


def portal_version(bus: Bus, interface: str) -> int:
    """The version of a portal interface; `WaylandDesktopError` when the portal or it is missing."""
    if not bus.has_name(PORTAL):
        raise WaylandDesktopError("xdg-desktop-portal is not running in this session", PORTAL_HINT)
    try:
        return int(bus.get_property(PORTAL, PORTAL_PATH, interface, "version"))
    except WaylandDesktopError as exc:
        raise WaylandDesktopError(
            f"xdg-desktop-portal offers no {interface.rsplit('.', 1)[-1]} here ({exc.message})", PORTAL_HINT
        ) from exc


def portal_request(
    bus: Bus,
    interface: str,
    method: str,
    signature: str,
    *args: Any,
    options: dict[str, Any],
    timeout_s: float,
    what: str,
) -> dict[str, Any]:
    """Call a portal method whose answer comes as a Request's `Response` signal and wait for it
    (up to `timeout_s`, then the request is closed and `WaylandDesktopError` says so); returns
    the results of code 0, `PortalResponseError` for the others."""
    token = f"qwen3vl{os.getpid()}_{next(_tokens)}"
    options = {**options, "handle_token": ("s", token)}
    sender = bus.unique_name.lstrip(":").replace(".", "_")
    path = f"/org/freedesktop/portal/desktop/request/{sender}/{token}"
    with bus.signals(REQUEST, "Response", path) as responses:
        bus.call(PORTAL, PORTAL_PATH, interface, method, signature + "a{sv}", *args, options)
        try:
            _path, (code, results) = bus.wait(responses, f"the portal's answer to {method}", timeout_s)
        except WaylandDesktopError:
            with contextlib.suppress(WaylandDesktopError):
                bus.call(PORTAL, path, REQUEST, "Close", timeout_s=2)  # give the request up
            raise
    if code != 0:
        why = "the user cancelled" if code == 1 else "it failed"
        raise PortalResponseError(f"The {what} portal refused {method}: {why}", int(code))
    return {key: value[1] for key, value in results.items()}


class ScreenCastPortal:
    """One portal screen-cast session on its own bus connection (one thread)."""

    interface = SCREENCAST
    what = "screen-cast"

    def __init__(self, bus: Bus | None = None) -> None:
        self.bus = bus or Bus()
        try:
            self.version = portal_version(self.bus, self.interface)
            portal_version(self.bus, SCREENCAST)  # monitors are selected through it in any case
        except WaylandDesktopError:
            self.bus.close()
            raise
        self.session: str | None = None
        self.granted: dict[str, Any] = {}  # Start's results

    def request(
        self,
        method: str,
        signature: str,
        *args: Any,
        options: dict[str, Any],
        timeout_s: float = 30,
        interface: str | None = None,
    ) -> dict[str, Any]:
        """Call a portal method (of `interface`, default this session's) and wait for its
        Response; returns the results (code 0)."""
        return portal_request(
            self.bus,
            interface or self.interface,
            method,
            signature,
            *args,
            options=options,
            timeout_s=timeout_s,
            what=self.what,
        )

    def create_session(self) -> str:
        token = f"qwen3vls{os.getpid()}_{next(_tokens)}"
        results = self.request("CreateSession", "", options={"session_handle_token": ("s", token)})
        self.session = str(results["session_handle"])
        return self.session

    def select_monitors(self, restore_token: str | None, *, multiple: bool = True) -> None:
        """Every monitor (ScreenCast.SelectSources); the restore token on a screen-cast session."""
        options: dict[str, Any] = {"types": ("u", SOURCE_MONITOR), "multiple": ("b", multiple)}
        if self.interface == SCREENCAST and self.version >= 4:  # remote desktop: SelectDevices
            options["persist_mode"] = ("u", PERSIST_UNTIL_REVOKED)
            if restore_token:
                options["restore_token"] = ("s", restore_token)
        self.request("SelectSources", "o", self._session(), options=options, interface=SCREENCAST)

    def start(self, timeout_s: float = 120) -> tuple[list[PortalStream], str | None]:
        """Start (the consent dialog, unless a restore token skips it): streams and a new token."""
        results = self.request("Start", "os", self._session(), "", options={}, timeout_s=timeout_s)
        self.granted = results
        streams = [
            PortalStream(
                int(node),
                tuple(props["position"][1]) if "position" in props else None,
                tuple(props["size"][1]) if "size" in props else None,
            )
            for node, props in results.get("streams", [])
        ]
        token = results.get("restore_token")
        return streams, str(token) if token else None

    def open_pipewire_remote(self) -> int:
        (fd,) = self.bus.call(
            PORTAL, PORTAL_PATH, SCREENCAST, "OpenPipeWireRemote", "oa{sv}", self._session(), {}
        )
        return int(fd.to_raw_fd())

    def _session(self) -> str:
        if self.session is None:
            raise WaylandDesktopError(f"The {self.what} portal session was not created")
        return self.session

    def close(self) -> None:
        if self.session is not None:
            with contextlib.suppress(WaylandDesktopError):
                self.bus.call(PORTAL, self.session, SESSION, "Close", timeout_s=2)
            self.session = None
        self.bus.close()


class RemoteDesktopPortal(ScreenCastPortal):
    """One portal remote-desktop session (input, and the monitors' streams) on its own bus."""

    interface = REMOTE_DESKTOP
    what = "remote-desktop"

    def select_devices(self, restore_token: str | None) -> None:
        """Keyboard and pointer; the consent kept (version 2+) or not (version 1: asked again)."""
        options: dict[str, Any] = {"types": ("u", DEVICE_KEYBOARD | DEVICE_POINTER)}
        if self.version >= 2:
            options["persist_mode"] = ("u", PERSIST_UNTIL_REVOKED)
            if restore_token:
                options["restore_token"] = ("s", restore_token)
        self.request("SelectDevices", "o", self._session(), options=options)

    def notify(self, method: str, signature: str, *args: Any) -> None:
        """An input event (NotifyPointerButton, NotifyKeyboardKeysym ...) on the started session."""
        self.bus.call(
            PORTAL, PORTAL_PATH, REMOTE_DESKTOP, method, "oa{sv}" + signature, self._session(), {}, *args
        )
