"""A small blocking D-Bus client over jeepney (pure Python): calls, properties and signals.

One `Bus` is one connection, used from ONE thread (the capture thread, the executor worker).
Mutter ties screen-cast and remote-desktop sessions to the connection that created them: they
end when it closes, so a session object keeps its `Bus` open for as long as it lives.
"""

from __future__ import annotations

import contextlib
import os
from collections import deque
from typing import Any

from qwen3vl_agent.errors import UserFacingError

Variant = tuple[str, Any]  # jeepney's variant: (signature, value)

INSTALL_HINT = (
    "on GNOME install mutter's remote desktop support (Debian/Ubuntu: pipewire, wireplumber, "
    "gstreamer1.0-pipewire, xdg-desktop-portal-gnome); agent workspaces (their own X display) work "
    "regardless"
)


class WaylandDesktopError(UserFacingError):
    """The Wayland desktop cannot be captured or driven (no bus, no API, refused, stream lost)."""


class SignalTimeoutError(WaylandDesktopError):
    """A signal waited for (`Bus.wait`) did not arrive in time."""


class Bus:
    """A session-bus connection with blocking calls and signal waits."""

    def __init__(self, address: str | None = None, *, timeout_s: float = 10.0) -> None:
        from jeepney.io.blocking import open_dbus_connection

        address = address or os.environ.get("DBUS_SESSION_BUS_ADDRESS")
        if not address:
            raise WaylandDesktopError(
                "There is no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS is not set)",
                "start the app inside the desktop session",
            )
        self.timeout_s = timeout_s
        try:
            self.conn: Any = open_dbus_connection(address, enable_fds=True)
        except Exception as exc:
            raise WaylandDesktopError(
                f"Cannot connect to the D-Bus session bus: {type(exc).__name__}: {exc}",
                "start the app inside the desktop session",
            ) from exc

    @property
    def unique_name(self) -> str:
        return str(self.conn.unique_name)

    def call(
        self,
        dest: str,
        path: str,
        interface: str,
        method: str,
        signature: str | None = None,
        *args: Any,
        timeout_s: float | None = None,
    ) -> tuple[Any, ...]:
        """Call a method and return its reply body; a D-Bus error becomes `WaylandDesktopError`."""
        from jeepney import DBusAddress, MessageType, new_method_call

        msg = new_method_call(DBusAddress(path, dest, interface), method, signature, tuple(args))
        try:
            reply = self.conn.send_and_get_reply(msg, timeout=timeout_s or self.timeout_s)
        except TimeoutError as exc:
            raise WaylandDesktopError(f"{dest} did not answer {method} in time") from exc
        except OSError as exc:
            raise WaylandDesktopError(f"The D-Bus connection broke during {method}: {exc}") from exc
        if reply.header.message_type == MessageType.error:
            name = reply.header.fields.get(4, "error")  # HeaderFields.error_name
            text = reply.body[0] if reply.body and isinstance(reply.body[0], str) else ""
            raise WaylandDesktopError(f"{interface}.{method} failed: {name}: {text}".rstrip(": "))
        return tuple(reply.body)

    def get_property(self, dest: str, path: str, interface: str, name: str) -> Any:
        (value,) = self.call(dest, path, "org.freedesktop.DBus.Properties", "Get", "ss", interface, name)
        return value[1]

    def has_name(self, name: str) -> bool:
        (owned,) = self.call(
            "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "NameHasOwner", "s", name
        )
        return bool(owned)

    @contextlib.contextmanager
    def signals(self, interface: str, member: str, path: str | None = None) -> Any:
        """Collect matching signals from now on (subscribe before the call that causes them)."""
        from jeepney import MatchRule
        from jeepney.bus_messages import message_bus

        rule = MatchRule(type="signal", interface=interface, member=member, path=path)
        self.call(
            "org.freedesktop.DBus",
            "/org/freedesktop/DBus",
            "org.freedesktop.DBus",
            "AddMatch",
            "s",
            rule.serialise(),
        )
        queue: deque[Any] = deque()
        with self.conn.filter(rule, queue=queue):
            yield queue
        with contextlib.suppress(Exception):
            self.conn.send(message_bus.RemoveMatch(rule))

    def wait(
        self, queue: deque[Any], what: str, timeout_s: float | None = None
    ) -> tuple[str, tuple[Any, ...]]:
        """The next signal in `queue` (from `signals`) as (object path, body), waiting up to the timeout."""
        try:
            msg = self.conn.recv_until_filtered(queue, timeout=timeout_s or self.timeout_s)
        except TimeoutError as exc:
            raise SignalTimeoutError(f"No answer from the desktop: {what} did not arrive in time") from exc
        except OSError as exc:
            raise WaylandDesktopError(f"The D-Bus connection broke while waiting for {what}: {exc}") from exc
        return str(msg.header.fields.get(1, "")), tuple(msg.body)  # 1: HeaderFields.path

    def arrived(self, queue: deque[Any]) -> bool:
        """Whether a signal is in `queue` (from `signals`), reading what the bus already has;
        never waits."""
        if queue:
            return True
        try:
            msg = self.conn.recv_until_filtered(queue, timeout=0)
        except TimeoutError:
            return False
        except OSError as exc:
            raise WaylandDesktopError(f"The D-Bus connection broke: {exc}") from exc
        queue.appendleft(msg)
        return True

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.conn.close()
