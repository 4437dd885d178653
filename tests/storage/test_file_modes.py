"""`private_mkdir` and `mkdir_for_user`: every folder they create gets its exact mode whatever
the process umask; folders that were there are left as they are."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from qwen3vl_agent import file_modes


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def private_process(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The process as the entry points leave it: umask 077, the user's own umask (022) kept."""
    monkeypatch.setattr(file_modes, "_user_umask", 0o022)
    previous = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(previous)


def test_private_mkdir_makes_each_new_folder_0700(tmp_path: Path) -> None:
    keep = tmp_path / "keep"
    keep.mkdir()
    keep.chmod(0o755)
    previous = os.umask(0o000)  # a lax umask does not loosen them
    try:
        made = file_modes.private_mkdir(keep / "a" / "b")
    finally:
        os.umask(previous)
    assert made == keep / "a" / "b"
    assert (_mode(keep), _mode(keep / "a"), _mode(keep / "a" / "b")) == (0o755, 0o700, 0o700)
    assert file_modes.private_mkdir(made) == made  # already there: fine


def test_mkdir_for_user_gives_new_folders_the_users_mode(tmp_path: Path, private_process: None) -> None:
    keep = tmp_path / "keep"
    keep.mkdir()
    keep.chmod(0o700)
    file_modes.mkdir_for_user(keep / "x" / "y")
    assert (_mode(keep), _mode(keep / "x"), _mode(keep / "x" / "y")) == (0o700, 0o755, 0o755)
    file_modes.mkdir_for_user(keep / "x" / "y")  # already there: fine
