"""OCR inputs from a screen region and from the clipboard, on a real X server (Xvfb) with xclip."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from qwen3vl_agent.cli.main import cli
from qwen3vl_agent.ocr.inputs import capture_screen_region, clipboard_image
from tests.support.ocr_documents import cer, paragraphs_page

pytestmark = [pytest.mark.xvfb]


def test_a_screen_region_is_captured_at_its_size_and_read_as_a_page(xvfb: Any) -> None:
    image = capture_screen_region(1920 + 100, 176 + 50, 640, 300)  # a region of monitor 2
    assert image.size == (640, 300) and image.mode == "RGB"
    result = CliRunner().invoke(
        cli, ["ocr", "--screen-region", "2020,226,640,300", "--engine", "cpu", "--no-progress"]
    )
    assert result.exit_code == 0, result.stderr
    assert "1/1 pages done" in result.stderr


@pytest.mark.skipif(shutil.which("xclip") is None, reason="xclip is not installed")
def test_the_clipboard_image_is_read(xvfb: Any, tmp_path: Path) -> None:
    page = paragraphs_page()
    png = tmp_path / "clip.png"
    page.image.crop((0, 0, 1240, 700)).save(png)
    owner = subprocess.Popen(
        ["xclip", "-quiet", "-selection", "clipboard", "-t", "image/png", "-i", str(png)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:  # xclip owns the selection a moment after it starts
            try:
                grabbed = clipboard_image()
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        assert grabbed.size == (1240, 700)
        result = CliRunner().invoke(cli, ["ocr", "--clipboard", "--engine", "cpu", "--no-progress"])
        assert result.exit_code == 0, result.stderr
        first_lines = "\n".join(page.text.splitlines()[:5])
        assert cer(first_lines, result.stdout[: len(first_lines) + 20]) < 0.1
    finally:
        owner.kill()
        owner.wait(10)
