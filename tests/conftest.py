"""Suite-wide fixtures: every test runs with the app's folders in a private temporary home."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]

pytest_plugins = [
    "tests.support.xvfb",
    "tests.support.engine_fixtures",
    "tests.support.ocr_documents",
    "tests.support.form_app_fixture",
    "tests.support.wayland_session",
    "tests.support.policy_server",
]


@pytest.fixture(autouse=True)
def app_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Point config, data, cache and logs at a fresh folder so no test touches the user's files."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("QWEN3VL_AGENT_HOME", str(home))
    for name in list(os.environ):
        if name.startswith("QWEN3VL_AGENT_") and name not in ("QWEN3VL_AGENT_HOME", "QWEN3VL_AGENT_DEBUG"):
            monkeypatch.delenv(name)
    yield home
