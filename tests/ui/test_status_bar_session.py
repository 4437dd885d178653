"""The status bar names the desktop session detected at start and says which Wayland route
serves it (issue 18)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from qwen3vl_agent.ui.status_bar import AppStatusBar


def test_status_bar_shows_the_session(qapp: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.setenv("XDG_SESSION_TYPE", "x11")
    monkeypatch.setenv("XDG_CURRENT_DESKTOP", "XFCE")
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    bar = AppStatusBar()
    assert bar.session.text() == "X11 (Xfce)"
    assert "not supported" not in bar.session.toolTip()

    (tmp_path / "wayland-0").touch()  # the detector only looks for the socket's path
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    monkeypatch.setenv("WAYLAND_DISPLAY", "wayland-0")
    monkeypatch.setenv("XDG_SESSION_TYPE", "wayland")
    monkeypatch.setenv("XDG_CURRENT_DESKTOP", "KDE")
    bar = AppStatusBar()
    assert bar.session.text() == "Wayland + XWayland (KDE Plasma)"
    assert "xdg-desktop-portal" in bar.session.toolTip() and "workspaces" in bar.session.toolTip()

    monkeypatch.setenv("XDG_CURRENT_DESKTOP", "GNOME")
    bar = AppStatusBar()
    assert bar.session.text() == "Wayland + XWayland (GNOME)"
    assert "remote-desktop" in bar.session.toolTip() and "not supported" not in bar.session.toolTip()
