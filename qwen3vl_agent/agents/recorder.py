"""Writes a run's steps to the trajectory store on one background thread.

Saving the screenshot and inserting rows costs a few milliseconds; doing it on a single worker
thread keeps it out of the path between the model's answer and the executed action, while the
single thread keeps every write in order (a step's row before its update). `flush()` waits for
everything and re-raises a storage failure, so nothing is lost silently.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from qwen3vl_agent.actions.model import Action, ResolvedAction
from qwen3vl_agent.agents.ports import Observation
from qwen3vl_agent.inference.request import InferenceResult
from qwen3vl_agent.storage.trajectories import StepRecord, TrajectoryStore


class StepRecorder:
    """Queue of writes for one run; `add` returns a handle that `update` refers to."""

    def __init__(self, store: TrajectoryStore, run_id: int) -> None:
        self.store = store
        self.run_id = run_id
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"trajectory-{run_id}")
        self._pending: list[Future[Any]] = []
        self._ids: dict[int, int] = {}  # handle -> row id (only touched on the worker thread)
        self._handles = 0
        self._step = 0
        self._part = 0
        self._base: dict[str, Any] = {}
        self.timings: dict[str, float] = {}

    def _submit(self, fn: Any, *args: Any) -> None:
        self._pending = [f for f in self._pending if not f.done() or f.exception() is not None]
        self._pending.append(self._pool.submit(fn, *args))

    def begin_step(
        self, step: int, obs: Observation, result: InferenceResult, timings: dict[str, float]
    ) -> None:
        """A model answer arrived for `step`: save the screenshot that was sent with it."""
        self._step, self._part = step, 0
        self.timings = dict(timings)
        image = obs.image
        self._base = {
            "screenshot_hash": image.pixel_hash,
            "image_width": image.width,
            "image_height": image.height,
            "geometry": obs.geometry_json,
            "raw_text": result.text,
            "capture_s": obs.capture_s,
            "prepare_s": obs.prepare_s,
            "queue_wait_s": result.timings.queue_wait_s,
            "inference_s": result.timings.service_s,
            "prompt_tokens": result.usage.prompt_tokens,
            "completion_tokens": result.usage.completion_tokens,
        }
        base = self._base

        def save() -> None:
            path = self.store.save_screenshot(self.run_id, step, image.data, image.mime)
            base["screenshot_path"] = str(path)

        self._submit(save)

    def add(
        self,
        thought: str | None,
        action: Action | None,
        *,
        resolved: ResolvedAction | None = None,
        outcome: str,
        error: str | None = None,
    ) -> int:
        """Record one proposed action (or an unusable answer) of the current step."""
        self._handles += 1
        handle = self._handles
        part = self._part
        self._part += 1
        base = self._base
        step = self._step

        def write() -> None:
            record = StepRecord(
                run_id=self.run_id,
                step_index=step,
                part=part,
                thought=thought,
                action=action.to_json() if action is not None else None,
                point=resolved.point if resolved else None,
                start_point=resolved.start_point if resolved else None,
                outcome=outcome,
                error=error,
                **base,
            )
            self._ids[handle] = self.store.add_step(record)

        self._submit(write)
        return handle

    def update(self, handle: int, **fields: Any) -> None:
        def write() -> None:
            row_id = self._ids.get(handle)
            if row_id is not None:
                self.store.update_step(row_id, **fields)

        self._submit(write)

    async def flush(self) -> None:
        pending, self._pending = self._pending, []
        for fut in pending:
            await asyncio.wrap_future(fut)

    async def close(self) -> None:
        try:
            await self.flush()
        finally:
            self._pool.submit(self.store.close)  # the worker's own connection
            self._pool.shutdown(wait=True)
