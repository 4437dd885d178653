"""Linux desktop integration: a valid .desktop entry and AppStream metainfo, icons in the standard
sizes, and an install/uninstall script that puts them where XDG desktops look."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from PIL import Image

LINUX = Path(__file__).resolve().parents[2] / "packaging" / "linux"
APP_ID = "io.github.qwen3vlagent.Qwen3VLAgent"


def test_desktop_file_validates() -> None:
    done = subprocess.run(
        ["desktop-file-validate", str(LINUX / f"{APP_ID}.desktop")], capture_output=True, text=True
    )
    assert done.returncode == 0 and "error" not in done.stdout, done.stdout + done.stderr


def test_metainfo_validates() -> None:
    done = subprocess.run(
        ["appstreamcli", "validate", "--no-net", str(LINUX / f"{APP_ID}.metainfo.xml")],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("size", [16, 22, 24, 32, 48, 64, 128, 256, 512])
def test_icon_sizes(size: int) -> None:
    with Image.open(LINUX / "icons" / "hicolor" / f"{size}x{size}" / "apps" / f"{APP_ID}.png") as im:
        assert im.size == (size, size) and im.mode == "RGBA"
        assert im.getextrema()[3][1] == 255  # not an empty transparent square


def test_install_and_uninstall_for_the_user(tmp_path: Path) -> None:
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path)}
    script = str(LINUX / "install-desktop-entry.sh")
    subprocess.run(
        ["bash", script, "--exec", "/opt/q/qwen3vl-agent"], env=env, check=True, capture_output=True
    )
    entry = tmp_path / "applications" / f"{APP_ID}.desktop"
    assert "Exec=/opt/q/qwen3vl-agent" in entry.read_text()
    assert (tmp_path / "metainfo" / f"{APP_ID}.metainfo.xml").exists()
    assert (tmp_path / "icons" / "hicolor" / "48x48" / "apps" / f"{APP_ID}.png").exists()
    subprocess.run(["bash", script, "--uninstall"], env=env, check=True, capture_output=True)
    assert not entry.exists()
    assert not list((tmp_path / "icons").rglob(f"{APP_ID}.*"))
