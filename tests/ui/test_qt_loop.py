"""The app's loop (`ui.qt_loop.QtLoop`) closes an async generator dropped before its end on the
loop, in a task, as asyncio's own loops do (qasync alone leaves it to the garbage collector,
which cannot await its clean-up: httpx streams left at `[DONE]` failed that way)."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from typing import Any


def test_a_dropped_async_generator_is_closed_in_a_task_on_the_loop(qloop: Any) -> None:
    cleaned: list[str] = []

    async def lines() -> AsyncIterator[int]:
        try:
            for i in range(10):
                yield i
        finally:
            await asyncio.sleep(0)  # a clean-up that awaits (httpcore releasing its connection)
            cleaned.append("in a task" if asyncio.current_task() is not None else "outside any task")

    async def read_two() -> None:
        gen = lines()
        async for i in gen:
            if i == 1:
                break  # left suspended, as a stream is at `[DONE]`
        del gen
        gc.collect()
        for _ in range(5):
            await asyncio.sleep(0)

    qloop.run(read_two())
    assert cleaned == ["in a task"]


def test_nothing_runs_outside_the_loop_after_run_until_complete(qloop: Any) -> None:
    """qasync's own run_until_complete processes Qt's events once more after its loop stopped: a
    callback due then ran with no running loop (an agent step's HTTP connect failed so, in the
    pane's workspace test). Here it runs at the loop's next turn, inside it."""
    seen: list[str] = []

    def probe() -> None:
        try:
            asyncio.get_running_loop()
            seen.append("inside the loop")
        except RuntimeError:
            seen.append("outside any loop")

    async def finish_and_leave_a_callback() -> None:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        # due after the stop that run_until_complete registered first on this task
        task.add_done_callback(lambda _: loop.call_soon(probe))

    qloop.loop.run_until_complete(finish_and_leave_a_callback())  # the task it stops on
    qloop.run(asyncio.sleep(0.05))
    assert seen == ["inside the loop"]
