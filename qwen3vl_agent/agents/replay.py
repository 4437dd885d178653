"""Replay: re-execute a finished run's actions without the model, as a macro.

The actions that ran (or would have run, in dry-run) are played again in order, each mapped
from model space onto a FRESH capture of the same target, through the same executor and
safety mode (dry-run moves nothing; confirm asks for each). With another data row, typed
values are swapped: text the original run typed from its row's field X becomes the new row's
field X. The replay is itself a run in the trajectory store, with its own screenshots.
Secret columns were never stored (the run typed `{password}`, its row shows ••••): the new
row's values are typed for them, and a replay without a data row that needs one is refused.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, replace

from qwen3vl_agent.actions.model import Action, ActionType
from qwen3vl_agent.agents import events as ev
from qwen3vl_agent.agents.control import RunControl, stopped_message
from qwen3vl_agent.agents.loop import RunResult
from qwen3vl_agent.agents.ports import ActionRefused, Actor, ExecutionStopped, Mapper, Observer, ScopeLost
from qwen3vl_agent.agents.recorder import StepRecorder
from qwen3vl_agent.errors import UserFacingError
from qwen3vl_agent.executor.secrets import MASK
from qwen3vl_agent.inference.request import InferenceResult
from qwen3vl_agent.storage.trajectories import TrajectoryStore

REPLAYABLE_OUTCOMES = frozenset({"executed", "dry-run"})


class ReplayError(UserFacingError):
    """The run cannot be replayed (unknown, has no actions, data does not fit)."""


@dataclass(frozen=True)
class ReplayStep:
    step_index: int
    action: Action


def replayable_steps(store: TrajectoryStore, run_id: int) -> list[ReplayStep]:
    run = store.get_run(run_id)
    if run is None:
        raise ReplayError(f"There is no agent run {run_id}", "list runs with: qwen3vl-agent agent runs")
    steps = [
        ReplayStep(s.step_index, Action.from_json(s.action))
        for s in store.steps(run_id)
        if s.action and s.outcome in REPLAYABLE_OUTCOMES
    ]
    if not steps:
        raise ReplayError(f"Run {run_id} has no executed actions to replay")
    return steps


def substitute(action: Action, old_row: dict[str, str], new_row: dict[str, str]) -> Action:
    """Swap typed values of the old row's fields for the new row's (longest values first)."""
    if action.action is not ActionType.TYPE or not action.text:
        return action
    text = action.text
    pairs = sorted(
        (
            (old_row[k], new_row[k])
            for k in old_row
            if k in new_row and old_row[k] and old_row[k] != new_row[k]
        ),
        key=lambda p: len(p[0]),
        reverse=True,
    )
    for old, new in pairs:
        if text == old:
            return replace(action, text=new)
    for old, new in pairs:
        if old in text:
            text = text.replace(old, new)
    return replace(action, text=text)


async def replay_run(
    run_id: int,
    store: TrajectoryStore,
    *,
    observer: Observer,
    mapper: Mapper,
    actor: Actor,
    mode: str,
    data_row: dict[str, str] | None = None,
    settle_s: float = 0.3,
    control: RunControl | None = None,
    on_event: Callable[[ev.AgentEvent], None] | None = None,
) -> RunResult:
    """Play run `run_id` again; returns the new (replay) run's result."""
    original = store.get_run(run_id)
    steps = replayable_steps(store, run_id)
    if data_row is not None:
        if not original or not original.data_row:
            raise ReplayError(f"Run {run_id} did not come from a data row, so --data cannot be applied")
        missing = [k for k in original.data_row if k not in data_row]
        if missing:
            raise ReplayError(f"The new data row lacks the fields {', '.join(missing)} of run {run_id}")
    assert original is not None
    hidden = [k for k, v in (original.data_row or {}).items() if v == MASK]
    needed = [k for k in hidden if any("{" + k + "}" in (s.action.text or "") for s in steps)]
    if needed and data_row is None:
        raise ReplayError(
            f"Run {run_id} typed the secret column(s) {', '.join(needed)}, which are never stored",
            "replay with --data (the data file and --row) to supply them",
        )
    secrets = {k: data_row[k] for k in hidden if data_row is not None and k in data_row}
    if data_row is not None and hidden:
        data_row = {k: (MASK if k in hidden else v) for k, v in data_row.items()}
    use_secrets = getattr(actor, "use_secrets", None)
    if use_secrets is not None:
        use_secrets(secrets)
    emit = on_event or (lambda _e: None)
    control = control or RunControl()
    control.bind(asyncio.get_running_loop())
    new_id = store.create_run(
        f"replay of run {run_id}: {original.task}",
        mode,
        target=original.target,
        data_row=data_row or original.data_row,
        settings={**original.settings, "replay_of": run_id},
    )
    recorder = StepRecorder(store, new_id)
    current = 0
    actor.on_confirmation = lambda r, steps=(), risks=(): emit(
        ev.AwaitingConfirmation(new_id, current, r, tuple(steps), tuple(risks))
    )
    emit(ev.RunStarted(new_id, f"replay of run {run_id}", mode))
    status, outcome, message = "finished", "success", f"replayed {len(steps)} action(s) of run {run_id}"
    try:
        begin_run = getattr(actor, "begin_run", None)
        if begin_run is not None:  # the same scope and typing budget as a model's run
            await asyncio.to_thread(begin_run)
        for n, step in enumerate(steps, 1):
            current = n
            while control.paused and not control.stopped:
                await control.wait_change()
            if control.stopped:
                status, outcome, message = "stopped", "stopped", stopped_message(control.stop_reason)
                break
            emit(ev.StepStarted(new_id, n))
            action = substitute(step.action, original.data_row or {}, data_row) if data_row else step.action
            obs = await observer.observe()
            recorder.begin_step(
                n, obs, InferenceResult(text=f"(replay of run {run_id}, step {step.step_index})"), {}
            )
            resolved = mapper.resolve(action, obs.geometry)
            emit(ev.ActionProposed(new_id, n, action, None, resolved))
            handle = recorder.add(None, action, resolved=resolved, outcome="proposed")
            result = await actor.execute(resolved, obs)
            details = actor.last_details
            recorder.update(handle, outcome=result, **({"execution": details} if details else {}))
            emit(ev.ActionExecuted(new_id, n, resolved, result))
            if result == "declined":
                status, outcome, message = "stopped", "stopped", f"the user declined step {n}; replay stopped"
                break
            if settle_s > 0 and n < len(steps):
                await asyncio.sleep(settle_s)
    except ExecutionStopped as exc:
        status, outcome, message = "stopped", "stopped", f"{stopped_message(exc.reason)} ({exc})"
    except (ActionRefused, ScopeLost, UserFacingError, ValueError) as exc:
        status, outcome, message = "failed", "error", f"step {current}: {exc}"
        emit(ev.RunError(new_id, current, message, fatal=True))
    finally:
        if use_secrets is not None:
            use_secrets(None)
        await recorder.close()
    store.set_run_status(new_id, status, outcome=outcome, message=message, finished=True)
    emit(ev.RunFinished(new_id, status, outcome, None, message, current))
    return RunResult(new_id, status, outcome, None, message, current)
