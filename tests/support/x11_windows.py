"""Draw known content on a test X server: plain coloured, titled top-level windows (python-xlib).

No window manager runs under Xvfb, so a window appears exactly where it is created. The
window lives as long as its `ColorWindow` (close it, or use it as a context manager).
"""

from __future__ import annotations

import time
from types import TracebackType

from Xlib import X, Xatom, display


class ColorWindow:
    """A solid-colour window at (left, top) in root coordinates, titled `title`."""

    def __init__(
        self,
        display_name: str,
        title: str,
        left: int,
        top: int,
        width: int,
        height: int,
        rgb: tuple[int, int, int],
    ) -> None:
        self.display = display.Display(display_name)
        screen = self.display.screen()
        r, g, b = rgb
        pixel = (r << 16) | (g << 8) | b  # TrueColor 24-bit visual (Xvfb -screen ...x24)
        self.window = screen.root.create_window(
            left,
            top,
            width,
            height,
            0,
            screen.root_depth,
            X.InputOutput,
            X.CopyFromParent,
            background_pixel=pixel,
            override_redirect=True,
        )
        self.window.set_wm_name(title)
        self.window.change_property(
            self.display.intern_atom("_NET_WM_NAME"),
            self.display.intern_atom("UTF8_STRING"),
            8,
            title.encode(),
        )
        self.window.change_property(Xatom.WM_CLASS, Xatom.STRING, 8, b"test\0Test\0")
        self.window.map()
        self.window.clear_area(0, 0, width, height)
        self.display.sync()
        deadline = time.monotonic() + 5
        while self.window.get_attributes().map_state != X.IsViewable:
            if time.monotonic() > deadline:
                raise RuntimeError("test window never became viewable")
            time.sleep(0.01)
        self.window.clear_area(0, 0, width, height)
        self.display.sync()

    def close(self) -> None:
        try:
            self.window.destroy()
            self.display.sync()
        finally:
            self.display.close()

    def __enter__(self) -> ColorWindow:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()
