"""The computer-use loop: observe -> ask the model -> parse -> map -> execute -> repeat.

One `AgentLoop` runs one task. It stops on `terminate`/`answer`, the step or wall-clock limit,
the user's stop, or when it makes no progress (the same action proposed on an unchanged
screen `no_progress_repeats` times: it pauses and asks instead of looping). One answer is ONE
action: further tool calls are recorded as dropped and the model is told (they were decided on a
screen the first action changes). The executor's hard policy may refuse an action in any mode:
the model is told; `max_refusals` refusals in a row pause the run (`on_stuck` "stop": end it as
needs-attention), and so does losing the scoped window (closed, covered, retitled). Answers that
cannot be parsed, and actions the mapper or executor refuses, go back to the model as
feedback, at most `max_feedback` times in a row. When the engine goes away the run pauses
(reason "engine-unavailable") and retries by itself until the engine is back or the user
stops. When the model hands off (`terminate` with failure, or an `answer` that asks a question),
`LoopConfig.on_handoff` decides: "wait" pauses as "waiting-for-you" with the model's reason until
the user resumes (the next step starts from a fresh screenshot), "end" ends the run as
needs-attention "waiting for you: <reason>" (batch rows), "off" takes the model at its word.
An engine that answers with errors, garbage or silence is not waited out: a step gets
`answer_deadline_s` for its answer and the retry policy's few tries, then the run pauses
(reason "engine-failed", `on_stuck="wait"`) or ends (outcome "engine-error"). `pause()`, `resume()` and `stop()` may be called from any thread. Every step is
written to the trajectory store; events go to `on_event`.

The loop's data types live in `loop_types.py`, the prompt and history in `step_prompt.py`, the
stop and no-progress rules in `loop_guards.py`; their public names are importable from here too.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from typing import Any

from qwen3vl_agent.actions.model import Action, ActionType, ResolvedAction
from qwen3vl_agent.agents import events as ev
from qwen3vl_agent.agents.control import RunControl, stopped_message
from qwen3vl_agent.agents.loop_guards import EngineOutage, NoProgressGuard, check_time_limit
from qwen3vl_agent.agents.loop_types import LoopConfig, Parsed, Parser, RunEnd, RunResult, StepAnswer
from qwen3vl_agent.agents.ports import (
    ActionRefused,
    Actor,
    ExecutionStopped,
    Mapper,
    ModelClient,
    Observation,
    Observer,
    PolicyRefused,
    ScopeLost,
)
from qwen3vl_agent.agents.prompt import HistoryEntry, summarize
from qwen3vl_agent.agents.recorder import StepRecorder
from qwen3vl_agent.agents.step_prompt import remember, step_request
from qwen3vl_agent.engine.retry_policy import retry_delay, should_retry
from qwen3vl_agent.errors import (
    EngineError,
    EngineFaultError,
    EngineUnavailableError,
    QueueFullError,
    RequestCancelledError,
    RequestRejectedError,
    StorageError,
    UserFacingError,
)
from qwen3vl_agent.inference.request import InferenceResult
from qwen3vl_agent.storage.trajectories import TrajectoryStore

__all__ = ["AgentLoop", "LoopConfig", "Parsed", "Parser", "RunEnd", "RunResult", "asks_the_user"]

# Checked before an action runs: a message refuses it (it goes back to the model as feedback).
ActionGate = Callable[[ResolvedAction, Observation], Awaitable[str | None]]

log = logging.getLogger(__name__)


def asks_the_user(text: str | None) -> bool:
    """An `answer` that is a question back to the user (ends with a question mark) is a hand-off."""
    return bool(text) and (text or "").rstrip().rstrip("\"'»”)").endswith(("?", "？"))


class AgentLoop:
    """One task, run to an end; see the module docstring."""

    def __init__(
        self,
        task: str,
        *,
        observer: Observer,
        model: ModelClient,
        mapper: Mapper,
        actor: Actor,
        store: TrajectoryStore,
        parse: Parser,
        config: LoopConfig | None = None,
        on_event: ev.EventCallback | None = None,
        data_row: dict[str, str] | None = None,
        batch_id: int | None = None,
        row_index: int | None = None,
        secrets: Mapping[str, str] | None = None,
        gate: ActionGate | None = None,
    ) -> None:
        self.task = task
        self.observer, self.model, self.mapper, self.actor = observer, model, mapper, actor
        self.store, self.parse = store, parse
        self.config = config or LoopConfig()
        self.control = RunControl()
        self._on_event = on_event
        self._data_row, self._batch_id, self._row_index = data_row, batch_id, row_index
        self._secrets = dict(secrets or {})  # typed only by the executor; see executor/secrets.py
        self._gate = gate
        self.run_id = 0
        self.history: list[HistoryEntry] = []
        self._progress = NoProgressGuard(self.config)
        self._outage = EngineOutage(self.config)
        self._feedback_streak = 0
        self._engine_faults = 0  # failed tries at this step's answer (requests, retries included)
        self._refusal_streak = 0
        self._step = 0
        self._active_s = 0.0
        self._idle_s = 0.0  # time spent waiting for the engine (not counted against the limit)
        self._recorder: StepRecorder | None = None

    # -- outside control (thread-safe) ------------------------------------------------------
    def pause(self) -> None:
        self.control.pause("user", "paused by the user")

    def resume(self) -> None:
        self.control.resume()

    def stop(self, reason: str = "user") -> None:
        self.control.stop(reason)
        self.actor.stop(reason)

    # -- events -------------------------------------------------------------------------------
    def emit(self, event: ev.AgentEvent) -> None:
        if self._on_event is None:
            return
        try:
            self._on_event(event)
        except Exception:  # a broken listener must not break the run
            log.exception("agent event listener failed on %r", type(event).__name__)

    # -- the run --------------------------------------------------------------------------------
    async def run(self) -> RunResult:
        self.control.bind(asyncio.get_running_loop())
        cfg = self.config
        self.run_id = self.store.create_run(
            self.task,
            cfg.mode,
            target=cfg.target,
            data_row=self._data_row,
            batch_id=self._batch_id,
            row_index=self._row_index,
            settings={
                "step_limit": cfg.step_limit,
                "max_images": cfg.max_images,
                "grid": cfg.grid,
                "coordinate_mode": cfg.coordinate_mode,
                "structured_output": cfg.structured_output,
            },
        )
        self._recorder = StepRecorder(self.store, self.run_id)
        use_secrets = getattr(self.actor, "use_secrets", None)
        if use_secrets is not None:
            use_secrets(self._secrets)
        elif self._secrets:
            raise UserFacingError("This executor cannot type secret values", "remove --secret columns")
        storage_failure: StorageError | None = None
        self.actor.on_confirmation = lambda r, steps=(), risks=(): self.emit(
            ev.AwaitingConfirmation(self.run_id, self._step, r, tuple(steps), tuple(risks))
        )
        self.emit(ev.RunStarted(self.run_id, self.task, cfg.mode))
        try:
            try:
                await self._steps()
                raise RunEnd("failed", "step-limit", f"stopped after the step limit of {cfg.step_limit}")
            except RunEnd:
                raise
            except ExecutionStopped as exc:
                raise RunEnd("stopped", "stopped", f"{stopped_message(exc.reason)} ({exc})") from exc
            except asyncio.CancelledError:
                raise RunEnd("stopped", "stopped", "the run was cancelled") from None
            except StorageError as exc:
                # nothing more may happen on screen without a record: stop here, say why
                storage_failure = exc
                self.emit(ev.RunError(self.run_id, self._step, str(exc), fatal=True))
                raise RunEnd("failed", "storage-error", str(exc)) from exc
            except UserFacingError as exc:
                self.emit(ev.RunError(self.run_id, self._step, str(exc), fatal=True))
                raise RunEnd("failed", "error", str(exc)) from exc
            except Exception as exc:  # a bug must not leave the run "running" in the database
                log.exception("agent run %s failed", self.run_id)
                message = f"internal error: {type(exc).__name__}: {exc}"
                self.emit(ev.RunError(self.run_id, self._step, message, fatal=True))
                raise RunEnd("failed", "error", message) from exc
        except RunEnd as end:
            fin = end
            try:
                await self._recorder.flush()
            except StorageError as exc:
                storage_failure = storage_failure or exc
                fin = RunEnd("failed", "storage-error", str(exc))
            self._finish_record(fin, storage_failure is not None)
            self.emit(
                ev.RunFinished(self.run_id, fin.status, fin.outcome, fin.answer, fin.message, self._step)
            )
            if storage_failure is not None:
                raise storage_failure from None
            return RunResult(self.run_id, fin.status, fin.outcome, fin.answer, fin.message, self._step)
        finally:
            if use_secrets is not None:
                use_secrets(None)
            try:
                await self._recorder.close()
            except StorageError:
                if storage_failure is None:
                    raise

    def _finish_record(self, fin: RunEnd, after_storage_error: bool) -> None:
        """Write the run's end; after a storage error, free the reserve first so it fits."""
        if after_storage_error:
            self.store.free_reserve()
        try:
            self.store.set_run_status(
                self.run_id,
                fin.status,
                outcome=fin.outcome,
                answer=fin.answer,
                message=fin.message,
                finished=True,
            )
        except StorageError:
            if not after_storage_error:
                raise
            log.error("run %s: its end could not be recorded either (%s)", self.run_id, fin.message)

    async def _steps(self) -> None:
        cfg = self.config
        begin_run = getattr(self.actor, "begin_run", None)
        if begin_run is not None:  # the run's scope (the chosen window) and typing budget
            await asyncio.to_thread(begin_run)
        while self._step < cfg.step_limit:
            await self._checkpoint()
            check_time_limit(self._active_s, cfg)
            started, idle = time.perf_counter(), self._idle_s
            try:
                await self._one_step()
            finally:
                self._active_s += time.perf_counter() - started - (self._idle_s - idle)

    async def _checkpoint(self) -> None:
        """Honour stop and pause between steps (a paused run waits here)."""
        if self.control.stopped:
            raise RunEnd("stopped", "stopped", stopped_message(self.control.stop_reason))
        if self.control.paused:
            reason, message = self.control.pause_reason or "user", self.control.pause_message
            self.store.set_run_status(self.run_id, "paused", message=f"{reason}: {message}")
            self.emit(ev.RunPaused(self.run_id, reason, message))
            while self.control.paused and not self.control.stopped:
                await self.control.wait_change()
            if self.control.stopped:
                raise RunEnd(
                    "stopped", "stopped", f"{stopped_message(self.control.stop_reason)} while paused"
                )
            self.store.set_run_status(self.run_id, "running")
            self.emit(ev.RunResumed(self.run_id))

    async def _race_stop(self, coro: Any) -> Any:
        """Await `coro`, but give up (cancelling it) as soon as the user stops the run."""
        task = asyncio.ensure_future(coro)
        stopper = asyncio.ensure_future(self.control.wait_stopped())
        try:
            done, _ = await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopper.cancel()
        if task not in done:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)  # abandoned either way
            raise RunEnd("stopped", "stopped", stopped_message(self.control.stop_reason))
        return task.result()

    async def _one_step(self) -> None:
        assert self._recorder is not None
        step = self._step + 1
        t_start = time.perf_counter()
        self.emit(ev.StepStarted(self.run_id, step))
        try:
            obs = await self._race_stop(self.observer.observe())
        except ScopeLost as exc:
            self._scope_lost(str(exc))
            return
        request = step_request(self.task, self.history, obs.image, self.config)
        if request.deadline_s is None:
            request = replace(request, deadline_s=self.config.answer_deadline_s)
        t_ready = time.perf_counter()

        def on_delta(text: str) -> None:
            self.emit(ev.ModelDelta(self.run_id, step, text))

        try:
            result: InferenceResult = await self._race_stop(self.model.submit(request, on_delta))
        except (RequestRejectedError, RequestCancelledError):
            raise
        except (EngineUnavailableError, QueueFullError) as exc:
            await self._engine_away(exc)
            return  # the step is retried from a fresh screenshot
        except EngineError as exc:  # it answered, with errors, garbage or silence
            await self._engine_failed(step, exc)
            return
        self._engine_back()
        t_answer = time.perf_counter()
        self._step = step
        timings = {
            "capture_s": obs.capture_s,
            "prepare_s": obs.prepare_s,
            "observe_s": t_ready - t_start,
            "queue_wait_s": result.timings.queue_wait_s,
            "inference_s": result.timings.service_s,
            "model_s": t_answer - t_ready,
        }
        self._recorder.begin_step(step, obs, result, timings)
        try:
            parsed = self.parse(result.text, obs)
            actions: list[Action] = list(parsed.actions)
            if not actions:
                raise ActionRefused("no <tool_call> with a computer_use action was found")
        except Exception as exc:  # whatever the text did to the parser, it is an unusable answer
            self._recorder.add(None, None, outcome="parse-error", error=str(exc))
            self._feedback(
                StepAnswer(step, obs, result.text, None),
                f"Your answer could not be used: {str(exc).rstrip('.')}. Answer again "
                "with a Thought, an Action and exactly one <tool_call> block.",
                summary="(unusable answer)",
            )
            return
        dropped = [*actions[1:], *getattr(parsed, "dropped", ())]
        note = None
        if dropped:
            note = (
                f"Only your first tool call was executed; {len(dropped)} more were dropped. Answer "
                "with ONE action: the next screenshot shows what it changed."
            )
        answer = StepAnswer(step, obs, result.text, parsed.thought, note)
        try:
            await self._act(answer, actions[0], t_answer)
        finally:
            for extra in dropped:  # on record even when the first action ended the run
                act = extra if isinstance(extra, Action) else getattr(extra, "action", None)
                why = getattr(extra, "error", None) or "only the first tool call of an answer is executed"
                self._recorder.add(parsed.thought, act, outcome="dropped", error=why)

    async def _act(self, answer: StepAnswer, action: Action, t_answer: float) -> bool:
        """Handle one action; True when the rest of this answer's actions must be skipped."""
        assert self._recorder is not None
        step, obs, thought = answer.step, answer.obs, answer.thought
        if action.action is ActionType.TERMINATE:
            self._recorder.add(thought, action, outcome="final")
            self.emit(ev.ActionProposed(self.run_id, step, action, thought, None))
            ok = action.status == "success"
            if not ok and self.config.on_handoff != "off":
                return self._hand_off(answer, thought or "the model says it cannot go on without you")
            raise RunEnd(
                "finished" if ok else "failed",
                "success" if ok else "failure",
                f"the model ended the task ({action.status})",
            )
        if action.action is ActionType.ANSWER:
            self._recorder.add(thought, action, outcome="final")
            self.emit(ev.ActionProposed(self.run_id, step, action, thought, None))
            if self.config.on_handoff != "off" and asks_the_user(action.text):
                return self._hand_off(answer, action.text or "")
            raise RunEnd("finished", "answer", "the model answered", answer=action.text)
        action_json = action.to_json()
        if self._progress.is_stuck(obs.screen_hash, action_json):
            self._recorder.add(thought, action, outcome="no-progress")
            await self._stuck(answer, action)
            return True
        try:
            resolved = self.mapper.resolve(action, obs.geometry)
        except (ActionRefused, UserFacingError, ValueError) as exc:
            self._recorder.add(thought, action, outcome="rejected", error=str(exc))
            return self._refused(answer, action, exc)
        self.emit(ev.ActionProposed(self.run_id, step, action, thought, resolved))
        if self._gate is not None:
            refusal = await self._gate(resolved, obs)
            if refusal:
                self._recorder.add(thought, action, resolved=resolved, outcome="rejected", error=refusal)
                return self._refused(answer, action, ActionRefused(refusal))
        if self.control.paused:  # paused while the model was thinking: do not act on a stale screen
            self._recorder.add(
                thought, action, resolved=resolved, outcome="discarded", error="paused before execution"
            )
            return True
        # written (and waited for) BEFORE the action: a crash mid-action leaves "executing" behind,
        # and a failed write stops the run before anything happens on screen without a record
        acting = self.config.mode != "dry-run"
        row = self._recorder.add(
            thought, action, resolved=resolved, outcome="executing" if acting else "proposed"
        )
        await self._recorder.flush()
        t0 = time.perf_counter()
        try:
            outcome = await self._race_stop(self.actor.execute(resolved, obs))
        except ActionRefused as exc:
            refused = "refused" if isinstance(exc, PolicyRefused) else "rejected"
            self._recorder.update(row, outcome=refused, error=str(exc), execution_s=time.perf_counter() - t0)
            return self._refused(answer, action, exc)
        except ScopeLost as exc:
            self._recorder.update(row, outcome="scope-lost", error=str(exc))
            self._scope_lost(str(exc))
            return True
        except ExecutionStopped as exc:
            self._recorder.update(
                row, outcome="stopped", error=str(exc), execution_s=time.perf_counter() - t0
            )
            raise
        t1 = time.perf_counter()
        details = self.actor.last_details
        self._recorder.update(
            row, outcome=outcome, execution_s=t1 - t0, **({"execution": details} if details else {})
        )
        self.emit(
            ev.ActionExecuted(
                self.run_id,
                step,
                resolved,
                outcome,
                {**self._recorder.timings, "execution_s": t1 - t0, "act_s": t1 - t_answer},
            )
        )
        if outcome == "declined":
            self._feedback(
                answer,
                f"The user declined {action.describe()}. Choose another "
                "action, or terminate if the task cannot be done.",
                summary=action.describe(),
            )
            return True
        self._feedback_streak = self._refusal_streak = 0
        self._progress.executed(obs.screen_hash, action_json)
        self._remember(answer, summarize(step, thought, action.describe()), None)
        return False

    # -- outcomes that are not an executed action ----------------------------------------------
    def _remember(self, answer: StepAnswer, summary: str, feedback: str | None) -> None:
        feedback = "\n".join(f for f in (feedback, answer.note) if f) or None
        remember(self.history, HistoryEntry(answer.step, answer.obs.image, answer.raw, summary, feedback))

    def _refused(self, answer: StepAnswer, action: Action, exc: Exception) -> bool:
        """The mapper or the executor refused `action`: tell the model; skip the answer's rest.

        Hard-policy refusals count apart: `max_refusals` in a row pause the run (GUI) or end it as
        needs-attention (`on_stuck` "stop": a batch row is marked), whatever `max_feedback` says.
        """
        message = f"The action {action.describe()} was refused: {exc}"
        if not isinstance(exc, PolicyRefused):
            self._feedback(answer, message, summary=action.describe())
            return True
        self._refusal_streak += 1
        self.emit(ev.RunError(self.run_id, answer.step, message, fatal=False))
        self._remember(
            answer,
            summarize(answer.step, answer.thought, action.describe(), "refused"),
            message + " Do not try it again; choose another action that the task needs.",
        )
        if self._refusal_streak >= self.config.max_refusals:
            streak, self._refusal_streak = self._refusal_streak, 0
            why = f"{streak} actions in a row were refused by the safety policy; last: {exc}"
            if self.config.on_stuck == "stop":
                raise RunEnd("needs-attention", "refused", why)
            self.control.pause("refused", why)
        return True

    def _scope_lost(self, message: str) -> None:
        """The scoped window is gone, covered or retitled: pause (or end, `on_stuck` "stop")."""
        if self.config.on_stuck == "stop":
            raise RunEnd("needs-attention", "scope-lost", message)
        self.control.pause("scope-lost", message)

    def _feedback(self, answer: StepAnswer, message: str, *, summary: str) -> None:
        self._feedback_streak += 1
        self.emit(ev.RunError(self.run_id, answer.step, message, fatal=False))
        self._remember(answer, summarize(answer.step, answer.thought, summary), message)
        if self._feedback_streak >= self.config.max_feedback:
            raise RunEnd(
                "needs-attention",
                "unusable-output",
                f"{self._feedback_streak} unusable answers in a row; last: {message}",
            )

    def _hand_off(self, answer: StepAnswer, reason: str) -> bool:
        """The model cannot go on without the user (a captcha, a login, a question): wait for them
        (the next step starts from a fresh screenshot once they resume), or end the run."""
        reason = " ".join(reason.split()) or "the model asks for help"
        if self.config.on_handoff == "end":
            raise RunEnd("needs-attention", "waiting-for-you", f"waiting for you: {reason}")
        self.control.pause("waiting-for-you", reason)
        self._progress.clear()
        self._remember(
            answer,
            summarize(answer.step, answer.thought, "asked the user for help"),
            "The user has acted and handed back. Continue the task from the current screen.",
        )
        return True

    async def _stuck(self, answer: StepAnswer, action: Action) -> None:
        message = self._progress.message(action)
        if self.config.on_stuck == "stop":
            raise RunEnd("needs-attention", "no-progress", message)
        self.control.pause("no-progress", message)
        self._progress.clear()
        self._remember(
            answer,
            summarize(answer.step, answer.thought, action.describe(), "not executed"),
            "That action had no visible effect several times; the user was asked. Try another way.",
        )

    async def _engine_away(self, exc: Exception) -> None:
        """The engine is gone: show a paused state, wait a little (or for the user), then retry."""
        if self._outage.went_away():
            message = f"the engine is not available ({exc}); retrying every {self.config.engine_retry_s:g} s"
            self.store.set_run_status(self.run_id, "paused", message=f"engine-unavailable: {message}")
            self.emit(ev.RunPaused(self.run_id, "engine-unavailable", message))
        self._outage.check_limit(exc)
        await self._idle(max(self.config.engine_retry_s, getattr(exc, "retry_after_s", None) or 0.0))

    async def _engine_failed(self, step: int, exc: EngineError) -> None:
        """The engine answered this step badly: try again as the retry policy allows, then give
        up on the step: pause for the user, or end the run (a batch marks the row)."""
        self._engine_faults += exc.attempts if isinstance(exc, EngineFaultError) else 1
        tries, policy = self._engine_faults, self.config.retry
        if should_retry(exc, tries, policy):
            log.warning("step %d: engine fault (try %d of %d): %s", step, tries, policy.max_attempts, exc)
            await self._idle(retry_delay(exc, tries, policy, random.random()))
            return
        self._engine_faults = 0
        message = f"the engine failed on step {step} ({tries} tr{'y' if tries == 1 else 'ies'}): {exc}"
        self.emit(ev.RunError(self.run_id, step, message, fatal=self.config.on_stuck == "stop"))
        if self.config.on_stuck == "stop":
            raise RunEnd("failed", "engine-error", message)
        self.control.pause("engine-failed", message)  # Resume tries the step again

    async def _idle(self, seconds: float) -> None:
        """Wait for the engine (not counted against the time limit); a pause or stop cuts it short."""
        t0 = time.perf_counter()
        if not self.control.stopped:
            await self.control.wait_change(seconds)
        self._idle_s += time.perf_counter() - t0

    def _engine_back(self) -> None:
        self._engine_faults = 0
        if self._outage.came_back():
            self.store.set_run_status(self.run_id, "running")
            self.emit(ev.RunResumed(self.run_id))
