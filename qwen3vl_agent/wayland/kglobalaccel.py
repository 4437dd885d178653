"""The stop hotkey on KDE Plasma's Wayland session: a global shortcut of KDE's shortcut service.

On Wayland no app may read key presses meant for other apps, so pynput's X11 listener hears
nothing there. KDE Plasma runs its shortcut service, `org.kde.kglobalaccel` (inside KWin on
Plasma 5.27), on the session bus: an app registers an action (`doRegister`), asks for keys
(`setShortcut`, Qt key codes) and hears `globalShortcutPressed` on its component's object
whenever the keys are pressed, whatever window has the focus. `KdeStopHotkey` does that from
its own thread and bus connection. GNOME 43 has no such service open to apps (gnome-shell's
GrabAccelerator answers only GNOME's own components) and the GlobalShortcuts portal needs
xdg-desktop-portal 1.17+ (Debian 12 has 1.16): there the stop hotkey stays unavailable.

Keys in pynput's spelling ("<ctrl>+<alt>+<esc>"), as the settings store them; KDE refuses keys
another action already uses (its answer then lacks them) and that is said in words.
"""

from __future__ import annotations

import contextlib
import threading
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

from qwen3vl_agent.wayland.bus import Bus, WaylandDesktopError

SERVICE = "org.kde.kglobalaccel"
INTERFACE = "org.kde.KGlobalAccel"
COMPONENT_INTERFACE = "org.kde.kglobalaccel.Component"
COMPONENT, ACTION = "qwen3vl-agent", "stop-agent"
_SET_PRESENT = 2  # KGlobalAccel::SetShortcutFlag: the action exists now
_POLL_S = 0.1  # how often the listener looks for a press (and for its own stop)

# Qt key codes (Qt::KeyboardModifier, Qt::Key)
_MODIFIERS = {"shift": 0x02000000, "ctrl": 0x04000000, "alt": 0x08000000, "cmd": 0x10000000}
_KEYS = {
    "esc": 0x01000000, "tab": 0x01000001, "backspace": 0x01000003, "enter": 0x01000004,
    "insert": 0x01000006, "delete": 0x01000007, "pause": 0x01000008, "print_screen": 0x01000009,
    "home": 0x01000010, "end": 0x01000011, "left": 0x01000012, "up": 0x01000013,
    "right": 0x01000014, "down": 0x01000015, "page_up": 0x01000016, "page_down": 0x01000017,
    "scroll_lock": 0x01000026, "space": 0x20,
    **{f"f{n}": 0x01000030 + n - 1 for n in range(1, 25)},
}  # fmt: skip


def qt_keys(hotkey: str) -> int:
    """The Qt key code (modifiers | key) of a pynput hotkey; `ValueError` saying what is wrong."""
    parts = [p for p in hotkey.split("+") if p] if hotkey != "+" else ["+"]
    if hotkey.endswith("++"):
        parts.append("+")
    code, key = 0, None
    for part in parts:
        name = part[1:-1].lower() if part.startswith("<") and part.endswith(">") else None
        base = name.rsplit("_", 1)[0] if name and name.endswith(("_l", "_r", "_gr")) else name
        if base in _MODIFIERS:
            code |= _MODIFIERS[base]
            continue
        if key is not None:
            raise ValueError(f"{hotkey!r} has more than one key besides the modifiers")
        if name is not None:
            if name not in _KEYS:
                raise ValueError(f"KDE's shortcuts here know no key <{name}>")
            key = _KEYS[name]
        elif len(part) == 1 and 0x20 < ord(part) < 0x7F:
            key = ord(part.upper())
        else:
            raise ValueError(f"{part!r} is not one key")
    if key is None:
        raise ValueError(f"{hotkey!r} has no key besides the modifiers")
    return code | key


def available(bus: Bus) -> bool:
    """Whether KDE's shortcut service is on this session bus."""
    return bus.has_name(SERVICE)


class KdeStopHotkey(threading.Thread):
    """A registered global shortcut that calls `on_press` from this thread while it runs.

    The same face as a pynput listener (`start`, `running`, `stop`, `join`) for
    `executor/stop.py`; `start` returns once the keys are registered (or `error` says why not)."""

    def __init__(self, hotkey: str, on_press: Callable[[], None], bus_address: str | None = None) -> None:
        super().__init__(name="kde-stop-hotkey", daemon=True)
        self.hotkey = hotkey
        self.keys = qt_keys(hotkey)
        self._on_press = on_press
        self._bus_address = bus_address
        self._ready = threading.Event()
        self._stop_event = threading.Event()
        self.error: WaylandDesktopError | None = None
        self.running = False

    def start_and_wait(self, timeout_s: float) -> None:
        """Start; raise `WaylandDesktopError` when the keys could not be registered in time."""
        self.start()
        if not self._ready.wait(timeout_s):
            self.stop()
            raise WaylandDesktopError(
                f"KDE's shortcut service did not register the keys within {timeout_s:g} s"
            )
        if self.error is not None:
            raise self.error

    def run(self) -> None:
        try:
            bus = Bus(self._bus_address, timeout_s=5)
        except WaylandDesktopError as exc:
            self.error = exc
            self._ready.set()
            return
        action = [COMPONENT, ACTION, COMPONENT, "Stop the agent"]
        try:
            with self._registered(bus, action) as presses:
                self.running = True
                self._ready.set()
                while not self._stop_event.is_set():
                    if bus.arrived(presses):
                        _path, (component, name, *_rest) = bus.wait(presses, "a shortcut")
                        if (component, name) == (COMPONENT, ACTION):
                            self._on_press()
                    else:
                        self._stop_event.wait(_POLL_S)
        except WaylandDesktopError as exc:
            self.error = exc
        finally:
            self.running = False
            self._ready.set()
            bus.close()

    @contextlib.contextmanager
    def _registered(self, bus: Bus, action: list[str]) -> Iterator[deque[Any]]:
        bus.call(SERVICE, "/kglobalaccel", INTERFACE, "doRegister", "as", action)
        try:
            (granted,) = bus.call(
                SERVICE, "/kglobalaccel", INTERFACE, "setShortcut", "asaiu", action, [self.keys], _SET_PRESENT
            )
            if self.keys not in list(granted):
                raise WaylandDesktopError(
                    f"KDE did not give the stop hotkey {self.hotkey!r} to the app: another shortcut uses those keys",
                    "choose another stop hotkey in Settings, or free those keys in KDE's Shortcuts settings",
                )
            (component,) = bus.call(SERVICE, "/kglobalaccel", INTERFACE, "getComponent", "s", COMPONENT)
            with bus.signals(COMPONENT_INTERFACE, "globalShortcutPressed", str(component)) as presses:
                yield presses
        finally:
            with contextlib.suppress(WaylandDesktopError):  # the keys are free again
                bus.call(SERVICE, "/kglobalaccel", INTERFACE, "setInactive", "as", action, timeout_s=2)

    def stop(self) -> None:
        self._stop_event.set()
