"""The shared Xvfb fixture really gives two side-by-side monitors that mss and pyautogui see."""

from __future__ import annotations

import pytest

from tests.support.xvfb import XvfbDisplay

pytestmark = pytest.mark.xvfb


def test_mss_sees_both_monitors(xvfb: XvfbDisplay) -> None:
    import mss

    factory = getattr(mss, "MSS", None) or mss.mss
    with factory() as sct:
        monitors = sct.monitors
    assert monitors[0] == {"left": 0, "top": 0, "width": xvfb.width, "height": xvfb.height}
    got = [(m["left"], m["top"], m["width"], m["height"]) for m in monitors[1:]]
    assert got == [(m.left, m.top, m.width, m.height) for m in xvfb.monitors]


def test_pyautogui_imports_and_sees_the_root(xvfb: XvfbDisplay) -> None:
    import pyautogui

    assert tuple(pyautogui.size()) == (xvfb.width, xvfb.height)
