"""Fixtures of the desktop-app tests: Qt offscreen, a qasync loop, and a main window on the real core.

Tests are plain functions that drive coroutines on the qasync loop (`run`), so widgets,
the bridge's signals and the asyncio core all run on one Qt event loop, as in the app.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

import pytest

T = TypeVar("T")


class QtLoop:
    """A qasync event loop on the test's QApplication."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
        return self.loop.run_until_complete(asyncio.wait_for(coro, timeout))

    def wait_until(
        self, predicate: Callable[[], Any], timeout: float = 60.0, what: str = "condition"
    ) -> None:
        async def poll() -> None:
            deadline = time.monotonic() + timeout
            while not predicate():
                if time.monotonic() > deadline:
                    raise AssertionError(f"timed out waiting for {what}")
                await asyncio.sleep(0.02)

        self.loop.run_until_complete(poll())


@pytest.fixture(scope="session")
def qapp() -> Any:
    """The test QApplication, on the offscreen platform unless one exists already; QT_QPA_PLATFORM
    is restored afterwards so Qt programs other tests start on Xvfb keep their default."""
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    if app is None:
        old = os.environ.get("QT_QPA_PLATFORM")
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
        try:
            app = QApplication(["pytest-qt-qapp"])
        finally:
            if old is None:
                os.environ.pop("QT_QPA_PLATFORM", None)
            else:
                os.environ["QT_QPA_PLATFORM"] = old
    return app


@pytest.fixture
def qloop(qapp: Any) -> Iterator[QtLoop]:
    """The app's own loop (`ui.qt_loop.QtLoop`: qasync with asyncio's async-generator hooks)."""
    from qwen3vl_agent.ui.qt_loop import QtLoop as AppLoop

    app_loop = AppLoop(qapp, workers=4, thread_name_prefix="test-default")
    yield QtLoop(app_loop.loop)
    app_loop.close()  # while the QApplication lives: closing it later, in GC, fails in qasync


@pytest.fixture
def make_window(qloop: QtLoop) -> Iterator[Callable[..., Any]]:
    """`make_window(settings, start_engine=True)` -> a shown MainWindow on the real core; shut down after."""
    from qwen3vl_agent.ui.app import build_context
    from qwen3vl_agent.ui.main_window import MainWindow

    windows: list[Any] = []

    def make(settings: Any, start_engine: bool = True) -> Any:
        ctx = build_context(settings)
        window = MainWindow(ctx)  # type: ignore[arg-type]
        window.show()
        if start_engine:
            ctx.core.start()  # type: ignore[attr-defined]
        windows.append(window)
        return window

    yield make
    for window in windows:
        qloop.run(window.shutdown_work(), timeout=90)
        window.ctx.tasks.shutdown_executors()
        window.ctx.conversations.close()
        window._closing = True
        window.close()
        window.deleteLater()
