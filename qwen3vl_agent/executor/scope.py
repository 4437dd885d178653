"""What a run may touch: the monitor, window or region the user chose (its scope).

`AreaScope` (a monitor or a region) is the area of the latest screenshot, in device points: a
point outside it is refused. `WindowScope` follows one X11 window by id, live: a point must lie
inside its current rectangle and not under another window stacked above it; keys and text are
sent only while it has the keyboard focus; and the run must pause when the window closes, is
covered by another one, or its title stops naming what the user chose (another document, another
app in the same frame). The checks read the X server right before acting, on the executor's
thread, so a window that moved or lost focus since the screenshot is caught.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from qwen3vl_agent.screen.geometry import Rect
from qwen3vl_agent.screen.windows import WindowState, find_windows, window_state

# A window counts as "behind another" when windows above it hide this share of its area.
COVERED_SHARE = 0.25


Point = tuple[int, int]
# (the scope itself is lost, the point at fault or None, why): see `RunScope.problem`
ScopeProblem = tuple[bool, Point | None, str]


class RunScope(Protocol):
    label: str

    def problem(self, points: Sequence[Point]) -> ScopeProblem | None:
        """None when the scope is still there and every point lies inside it, else what is wrong."""
        ...

    def keyboard_problem(self) -> str | None:
        """None when keys may be sent now, else why not (checked right before each key event)."""
        ...

    def lost(self) -> str | None:
        """None while the scope is still there as chosen, else what happened (the run pauses)."""
        ...


class AreaScope:
    """A monitor or a region: the points of the area last captured (set from each screenshot)."""

    def __init__(self, label: str, bounds: Rect | None = None) -> None:
        self.label = label
        self.bounds = bounds

    def update(self, bounds: Rect) -> None:
        self.bounds = bounds

    def problem(self, points: Sequence[Point]) -> ScopeProblem | None:
        b = self.bounds
        for point in points:
            if b is not None and not b.contains(*point):
                return (False, point, f"outside {self.label} ({b.width}x{b.height} at {b.left},{b.top})")
        return None

    def keyboard_problem(self) -> str | None:
        return None

    def lost(self) -> str | None:
        return None


class WindowScope:
    """One X11 window, found by title when the run starts and then followed by its id."""

    def __init__(self, title: str, window_id: int, found_title: str) -> None:
        self.title = title
        self.window_id = window_id
        self.label = f"the window {found_title!r}"

    @classmethod
    def find(cls, title: str) -> WindowScope:
        """The topmost visible window whose title contains `title` (`CaptureError` if none)."""
        from qwen3vl_agent.errors import CaptureError

        found = find_windows(title)
        if not found:
            raise CaptureError(f"No visible window titled {title!r} was found.", "open it or pick another")
        return cls(title, found[0].window_id, found[0].title)

    def state(self) -> WindowState:
        return window_state(self.window_id)

    def lost(self) -> str | None:
        return self._lost(self.state())

    def _lost(self, s: WindowState) -> str | None:
        if not s.exists or s.rect is None:
            return f"{self.label} was closed or hidden"
        if self.title.casefold() not in s.title.casefold():
            return f"{self.label} now has the title {s.title!r} (another document or app?)"
        area = max(1, s.rect.width * s.rect.height)
        hidden = sum(
            (cut.width * cut.height)
            for _, other in s.covered_by
            if (cut := s.rect.intersect(other)) is not None
        )
        if hidden / area >= COVERED_SHARE:
            names = ", ".join(repr(name) for name, _ in s.covered_by[:3])
            return f"{self.label} is behind another window ({names})"
        return None

    def problem(self, points: Sequence[Point]) -> ScopeProblem | None:
        s = self.state()
        lost = self._lost(s)
        if lost is not None:
            return (True, None, lost)
        assert s.rect is not None
        r = s.rect
        for point in points:
            if not r.contains(*point):
                return (False, point, f"outside {self.label} ({r.width}x{r.height} at {r.left},{r.top})")
            for name, other in s.covered_by:
                if other.contains(*point):
                    return (False, point, f"on the window {name!r} that covers {self.label} there")
        return None

    def keyboard_problem(self) -> str | None:
        s = self.state()
        lost = self._lost(s)
        if lost is not None:
            return lost
        if not s.focused:
            return f"{self.label} does not have the keyboard focus (click into it first)"
        return None
