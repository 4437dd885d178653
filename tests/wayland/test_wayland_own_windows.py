"""The app's own windows on Wayland: Qt cannot know where they are, so no mask is made from the
(0, 0) position Qt reports (it would black out the wrong part of the screen). Run in a real Qt
process on the headless GNOME session, natively (QT_QPA_PLATFORM=wayland)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support.wayland_session import WaylandSession

pytestmark = [pytest.mark.wayland, pytest.mark.timeout(120)]

SCRIPT = """
import sys
from PySide6.QtWidgets import QApplication, QWidget
from qwen3vl_agent.ui.capture import OwnWindows
app = QApplication(sys.argv)
w = QWidget(); w.resize(400, 300); w.show()
for _ in range(50):
    app.processEvents()
own = OwnWindows(); own.track(w)
print(app.platformName(), w.isVisible(), own.rects())
"""


def test_no_mask_from_unknown_window_positions(wayland: WaylandSession) -> None:
    env = wayland.env()
    env["QT_QPA_PLATFORM"] = "wayland"
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["wayland", "True", "[]"]
