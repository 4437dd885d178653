"""The person at the desktop who answers xdg-desktop-portal's consent dialogs, for tests.

On the headless GNOME session xdg-desktop-portal-gnome 43 shows a "Screen Share" dialog (a
monitor list: the test clicks the monitor, then Share) or a "Remote desktop" dialog (the monitor
already chosen; the test switches "Allow remote interaction" on, then clicks Share). Nobody is
there to answer them, so `ConsentPerson` does, from a thread: it watches the screen through
GNOME's own screen cast and clicks through GNOME's own remote desktop (the Mutter route, which
needs no dialog), at the places where that portal puts them on a 1280x800 monitor (checked on
screenshots). The dialogs it saw are in `seen` (as soon as seen), those it answered and saw go
away (or give way to the other kind) in `answered`, in order.
"""

from __future__ import annotations

import threading
import time
from typing import Literal

from qwen3vl_agent.executor.plan import ButtonDown, ButtonUp, MoveTo
from qwen3vl_agent.executor.wayland_backend import MutterBackend
from qwen3vl_agent.screen.capture import ScreenCapturer

Pixel = tuple[int, ...]
Kind = Literal["screencast", "remotedesktop"]

CANCEL_FACE, TITLE, BODY = (400, 262), (640, 262), (640, 530)
SHARE, SHARE_FACE = (852, 273), (830, 262)
MONITOR_ROW = (640, 426)  # Screen Share: "MetaVendor"
REMEMBER_BOX = (546, 372)  # Screen Share: the "Remember this selection" check box (blue)
SWITCH = (830, 471)  # Remote desktop: "Allow remote interaction" (its track, grey when off)
SWITCH_ON = (812, 471)  # the thumb when off (white), the track when on (blue)


def _near(p: Pixel, grey: int, tolerance: int = 4) -> bool:
    return all(abs(v - grey) <= tolerance for v in p[:3])


def _blue(p: Pixel) -> bool:
    return p[0] < 120 and p[2] > 180


def dialog_kind(image: object) -> Kind | None:
    """Which consent dialog the screenshot shows, if any."""
    get = image.getpixel  # type: ignore[attr-defined]
    if not (_near(get(CANCEL_FACE), 217) and _near(get(TITLE), 235) and _near(get(BODY), 250)):
        return None
    if _blue(get(REMEMBER_BOX)):
        return "screencast"
    if _near(get(SWITCH), 213) or _blue(get(SWITCH_ON)):
        return "remotedesktop"
    return None


class ConsentPerson:
    """Answers every consent dialog that shows up until `stop()`; `allow_input=False` shares the
    screen but leaves "Allow remote interaction" off (a person who refuses control)."""

    def __init__(self, *, allow_input: bool = True) -> None:
        self.allow_input = allow_input
        self.seen: list[Kind] = []
        self.answered: list[Kind] = []
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="consent-person", daemon=True)

    def __enter__(self) -> ConsentPerson:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def wait_answered(self, count: int, timeout_s: float = 30) -> list[Kind]:
        """`answered` once it has `count` entries (or after the timeout; the person's own failure
        is raised here)."""
        deadline = time.monotonic() + timeout_s
        while len(self.answered) < count and time.monotonic() < deadline and self.error is None:
            time.sleep(0.1)
        if self.error is not None:
            raise self.error
        return list(self.answered)

    def _run(self) -> None:
        try:
            with ScreenCapturer(wayland_route="mutter") as capturer:
                hands = MutterBackend()
                try:
                    while not self._stop.is_set():
                        kind = dialog_kind(capturer.capture().image)
                        if kind is None:
                            time.sleep(0.2)
                            continue
                        self._answer(kind, capturer, hands)
                finally:
                    hands.close()
        except BaseException as exc:  # reported by wait_answered
            self.error = exc

    def _answer(self, kind: Kind, capturer: ScreenCapturer, hands: MutterBackend) -> None:
        """Answer the dialog; if it is still there afterwards (a click lost on a busy machine),
        the watch loop sees it again and answers again."""

        def pixel(point: tuple[int, int]) -> Pixel:
            return capturer.capture().image.getpixel(point)  # type: ignore[no-any-return]

        self.seen.append(kind)
        if kind == "screencast" or self.allow_input:
            target, ready = (MONITOR_ROW, SHARE_FACE) if kind == "screencast" else (SWITCH, SWITCH_ON)
            if not _blue(pixel(ready)):  # not already chosen (a second look at the same dialog)
                _click(hands, target)
                if not _wait(lambda: _blue(pixel(ready)), 10):
                    return
        _click(hands, SHARE)
        # gone = this kind of dialog no longer shown: the other kind may follow at once (the
        # screen-cast and remote-desktop requests of one agent session come back to back)
        if _wait(lambda: dialog_kind(capturer.capture().image) != kind, 20):
            self.answered.append(kind)


def _click(hands: MutterBackend, point: tuple[int, int]) -> None:
    """Move, let the dialog see the pointer enter (GTK ignores a press that comes with it), click."""
    hands.perform(MoveTo(*point))
    time.sleep(0.3)
    hands.perform(ButtonDown("left"))
    hands.perform(ButtonUp("left"))


def _wait(ok: object, timeout_s: float = 5) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if ok():  # type: ignore[operator]
            return True
        time.sleep(0.2)
    return False
