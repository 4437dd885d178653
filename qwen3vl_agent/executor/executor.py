"""`ActionExecutor`: plays `ResolvedAction`s on ONE worker thread, strictly in call order, safely.

    executor = ActionExecutor(settings.safety, settings.executor, confirm=ask_user)
    result = await executor.execute(resolved, context=ActionContext(target_text="Submit"))
    result = executor.execute_sync(resolved)          # from plain threads/scripts
    executor.stop()                                    # from any thread (the UI's Stop button)

Each call takes a ticket when it is made; the worker runs tickets in that order, so a slow
confirmation never lets a later action overtake an earlier one. Per action: plan (refuses
unknown keys and bad values before any event) -> the hard policy (`policy.py`: denied combos,
caps, scope; it refuses in EVERY mode, dry-run included) -> safety mode (dry-run reports the
plan; confirm asks the callback, in the CALLER's thread/loop) -> on the worker: display and
monitor checks, the scope again (live), the scoped window's focus before every key event, then
the primitives with the configured pause between them, checking the stop signal
between any two. A stop (hotkey, fail-safe corner, `stop()`) releases whatever we hold and
raises `ExecutionStopped`; the executor then refuses actions until `resume()`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import inspect
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any, Literal, Protocol

from qwen3vl_agent.actions.model import ActionType, ResolvedAction
from qwen3vl_agent.config import ExecutorSettings, SafetySettings, Settings
from qwen3vl_agent.errors import UserFacingError
from qwen3vl_agent.executor.backend import FailSafeTriggered, Rect
from qwen3vl_agent.executor.clipboard import SavedClipboard
from qwen3vl_agent.executor.errors import ExecutionStopped, ExecutorError, MonitorGoneError
from qwen3vl_agent.executor.live_backend import live_desktop_backend
from qwen3vl_agent.executor.plan import (
    KeyDown,
    PasteText,
    Plan,
    PlanConfig,
    Primitive,
    Sleep,
    WriteText,
    plan_action,
)
from qwen3vl_agent.executor.plan_text import plan_steps
from qwen3vl_agent.executor.policy import ActionPolicy, PolicyRefusal
from qwen3vl_agent.executor.safety import (
    ActionContext,
    ConfirmationRequest,
    ConfirmCallback,
    RiskAssessment,
    RiskAssessor,
    SafetyMode,
    needs_confirmation,
)
from qwen3vl_agent.executor.scope import RunScope
from qwen3vl_agent.executor.secrets import Secrets
from qwen3vl_agent.executor.stop import StopHotkey, StopSignal, start_stop_hotkey
from qwen3vl_agent.executor.worker import OrderedWorker
from qwen3vl_agent.screen.session import WaylandRoute

log = logging.getLogger(__name__)

FOCUS_CHECK_S = 0.1  # while typing, the scoped window's focus is asked again this often

ExecutionStatus = Literal["executed", "dry-run", "rejected", "no-op"]


class InputBackend(Protocol):
    """What the executor needs from its hands (PyAutoGUIBackend, XTestBackend, WaylandBackend)."""

    held_keys: list[str]
    held_buttons: list[str]

    def position(self) -> tuple[int, int]: ...
    def in_failsafe_corner(self) -> bool: ...
    def monitors(self) -> list[Rect]: ...
    def check_plan(self, plan: Plan) -> None: ...
    def perform(self, prim: Primitive) -> str | None: ...
    def save_clipboard(self) -> SavedClipboard: ...
    def restore_clipboard(self, saved: SavedClipboard) -> None: ...
    def release_all(self) -> list[str]: ...
    def close(self) -> None: ...


@dataclass(frozen=True)
class ExecutionResult:
    """What happened to one action."""

    action: ResolvedAction
    status: ExecutionStatus
    primitives: tuple[str, ...]  # performed (executed) or planned (dry-run, rejected)
    risk: RiskAssessment
    duration_s: float = 0.0
    notes: tuple[str, ...] = ()

    @property
    def description(self) -> str:
        return self.action.action.describe()

    def to_json(self) -> dict[str, Any]:
        """For trajectories and logs."""
        return {
            "status": self.status,
            "action": self.action.action.to_json(),
            "point": list(self.action.point) if self.action.point else None,
            "start_point": list(self.action.start_point) if self.action.start_point else None,
            "primitives": list(self.primitives),
            "risk": {"risky": self.risk.risky, "reasons": list(self.risk.reasons)},
            "duration_s": round(self.duration_s, 6),
            "notes": list(self.notes),
        }


def _point_on(rects: list[Rect], point: tuple[int, int]) -> bool:
    x, y = point
    return any(left <= x < left + w and top <= y < top + h for left, top, w, h in rects)


@dataclass
class _Ticket:
    number: int
    submitted: bool = False


class ActionExecutor:
    """Executes resolved actions in order on one worker thread, honouring the safety mode."""

    def __init__(
        self,
        safety: SafetySettings | None = None,
        settings: ExecutorSettings | None = None,
        *,
        mode: SafetyMode | str | None = None,
        confirm: ConfirmCallback | None = None,
        risk_assessor: RiskAssessor | None = None,
        backend: InputBackend | None = None,
        allow_xwayland: bool = False,
        wayland_route: WaylandRoute = "auto",
    ) -> None:
        self.safety = safety or SafetySettings()
        self.settings = settings or ExecutorSettings()
        self.mode = SafetyMode(mode or self.safety.mode)
        self.confirm = confirm
        self.risk_assessor = risk_assessor or RiskAssessor()
        self.policy = ActionPolicy(self.safety)
        self.plan_config = PlanConfig(
            drag_steps=self.settings.drag_steps,
            type_chunk_chars=self.settings.type_chunk_chars,
            paste_chunk_chars=self.settings.paste_chunk_chars,
            scroll_pixels_per_click=self.settings.scroll_pixels_per_click,
            max_scroll_clicks=self.settings.max_scroll_clicks,
            max_wait_s=self.settings.max_wait_s,
        )
        self._backend: InputBackend = backend or live_desktop_backend(
            paste_timeout_s=self.settings.paste_timeout_s,
            allow_xwayland=allow_xwayland,
            wayland_route=wayland_route,
        )
        self._stop = StopSignal()
        self._hotkey: StopHotkey | None = None
        self.hotkey_error: str | None = None
        self._monitors: list[Rect] | None = None
        self._monitors_at = 0.0
        self._worker = OrderedWorker("action-executor")
        self._closed = False
        self.secrets = Secrets()  # `{name}` in typed text -> the real value, only when typing

    def use_secrets(self, secrets: Secrets | None) -> None:
        """The secrets of the run now starting (None: none); see `executor/secrets.py`."""
        self.secrets = secrets or Secrets()

    def _typed(self, resolved: ResolvedAction) -> ResolvedAction:
        """The action as it will really be typed: secret placeholders replaced by their values."""
        action = resolved.action
        if action.action is not ActionType.TYPE or not action.text or not self.secrets:
            return resolved
        return replace(resolved, action=replace(action, text=self.secrets.substitute(action.text)))

    @classmethod
    def from_settings(
        cls, settings: Settings, *, confirm: ConfirmCallback | None = None, **kwargs: Any
    ) -> ActionExecutor:
        """The executor the app's settings describe (`safety` + `executor` sections)."""
        return cls(settings.safety, settings.executor, confirm=confirm, **kwargs)

    # -- public API ---------------------------------------------------------------------
    @property
    def pause_s(self) -> float:
        return self.safety.pyautogui_pause_s

    @property
    def stopped(self) -> str | None:
        """The stop reason while stopped, else None."""
        return self._stop.reason if self._stop.is_set() else None

    @property
    def stop_signal(self) -> StopSignal:
        return self._stop

    def stop(self, reason: str = "user", detail: str | None = None) -> None:
        """Stop now (thread-safe): the running action ends at the next primitive boundary."""
        self._stop.set(reason, detail)

    def resume(self) -> None:
        """Accept actions again after a stop."""
        self._stop.clear()

    def begin_run(self, scope: RunScope | None = None) -> None:
        """A new run: a fresh typing budget, and every point must lie in `scope` (None: anywhere)."""
        self.policy.begin_run(scope)

    async def execute(
        self, resolved: ResolvedAction, context: ActionContext | None = None
    ) -> ExecutionResult:
        """Execute one action (awaitable; confirmation callbacks may be coroutines)."""
        with self._ticket() as ticket:
            early, plan, risk = self._prepare(resolved, context)
            if early is not None:
                return early
            answer = self._confirmation(resolved, plan, risk, context)
            approved = await answer if inspect.isawaitable(answer) else answer
            outcome = self._submit(ticket, resolved, plan, risk, bool(approved))
        return outcome if isinstance(outcome, ExecutionResult) else await asyncio.wrap_future(outcome)

    def execute_sync(
        self, resolved: ResolvedAction, context: ActionContext | None = None, timeout: float | None = None
    ) -> ExecutionResult:
        """Execute one action from a plain thread (never from the worker itself)."""
        if threading.current_thread() is self._worker.thread:
            raise ExecutorError("execute_sync cannot be called from the executor's own thread")
        with self._ticket() as ticket:
            early, plan, risk = self._prepare(resolved, context)
            if early is not None:
                return early
            answer = self._confirmation(resolved, plan, risk, context)
            approved = _run_coroutine_sync(answer) if inspect.isawaitable(answer) else answer
            outcome = self._submit(ticket, resolved, plan, risk, bool(approved))
        return outcome if isinstance(outcome, ExecutionResult) else outcome.result(timeout=timeout)

    def close(self) -> None:
        """Stop the worker, the hotkey listener and any clipboard helper (idempotent)."""
        if self._closed:
            return
        self._closed = True
        done = threading.Event()

        def _shutdown() -> None:
            try:
                self._backend.release_all()
                self._backend.close()
            finally:
                done.set()

        try:
            self._worker.submit(self._worker.ticket(), _shutdown)
            done.wait(timeout=10)
        except ExecutorError:
            pass
        self._worker.close()
        if self._hotkey is not None:
            self._hotkey.stop()
            self._hotkey = None

    def __enter__(self) -> ActionExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- caller side --------------------------------------------------------------------
    def _prepare(
        self, resolved: ResolvedAction, context: ActionContext | None
    ) -> tuple[ExecutionResult | None, Plan, RiskAssessment]:
        if self._closed:
            raise ExecutorError("The executor is closed")
        typed = self._typed(resolved)  # the caps count what will really be typed (secrets filled in)
        self.policy.check_action(typed)  # every mode: a refusal never reaches the confirm prompt
        plan = plan_action(resolved, self.plan_config)  # raises before anything moves
        risk = self.risk_assessor.assess(resolved.action, context)
        if resolved.action.is_final or not plan.primitives:
            return ExecutionResult(resolved, "no-op", (), risk, notes=plan.notes), plan, risk
        self.policy.check_plan(resolved, plan)
        self.policy.accepted(typed)
        if self.mode is SafetyMode.DRY_RUN:
            log.info("dry-run: %s", resolved.action.describe())
            return ExecutionResult(resolved, "dry-run", plan.describe(), risk, notes=plan.notes), plan, risk
        if self._stop.is_set():
            raise ExecutionStopped(self._stop.reason or "user", self._stop.detail)
        return None, plan, risk

    @contextlib.contextmanager
    def _ticket(self) -> Iterator[_Ticket]:
        """The action's place in the worker's order, taken when the call is made (a slow
        confirmation never lets a later action overtake it); skipped unless it was submitted."""
        ticket = _Ticket(self._worker.ticket())
        try:
            yield ticket
        finally:
            if not ticket.submitted:
                self._worker.skip(ticket.number)

    def _confirmation(
        self, resolved: ResolvedAction, plan: Plan, risk: RiskAssessment, context: ActionContext | None
    ) -> Any:
        """The confirmation callback's answer (maybe awaitable), or True where none is needed."""
        if not needs_confirmation(self.mode, self.safety.confirm_only_risky, resolved.action, risk):
            return True
        if self.confirm is None:
            raise ExecutorError(
                "Confirm mode needs a confirmation callback", "pass confirm=... or choose another safety mode"
            )
        request = ConfirmationRequest(
            resolved, resolved.action.describe(), risk, plan.describe(), context, plan_steps(plan)
        )
        return self.confirm(request)

    def _submit(
        self, ticket: _Ticket, resolved: ResolvedAction, plan: Plan, risk: RiskAssessment, approved: bool
    ) -> ExecutionResult | concurrent.futures.Future[ExecutionResult]:
        """The action to the worker under its ticket (its future), or rejected."""
        if not approved:
            log.info("rejected: %s", resolved.action.describe())
            return ExecutionResult(resolved, "rejected", plan.describe(), risk)
        future: concurrent.futures.Future[ExecutionResult] = self._worker.submit(
            ticket.number, lambda: self._run(resolved, risk)
        )
        ticket.submitted = True
        return future

    # -- worker side --------------------------------------------------------------------
    def arm_hotkey(self) -> None:
        """Listen for the stop hotkey now (the first action does it anyway), so it stops a run
        that has not acted yet: the model thinking, or a dry run. Idempotent; off in settings:
        nothing. The listener is the process's one for these keys (`executor.stop`)."""
        if self._hotkey is not None or self.hotkey_error is not None or not self.settings.stop_hotkey_enabled:
            return
        self._hotkey, self.hotkey_error = start_stop_hotkey(
            self.safety.stop_hotkey,
            lambda: self.stop("hotkey", self.safety.stop_hotkey),
            "the fail-safe corner and stop() still work",
        )

    @property
    def hotkey_running(self) -> bool:
        return self._hotkey is not None and self._hotkey.running

    def _live_monitors(self) -> list[Rect]:
        now = time.monotonic()
        if self._monitors is None or now - self._monitors_at > self.settings.monitor_check_ttl_s:
            self._monitors = self._backend.monitors()
            self._monitors_at = now
        return self._monitors

    def _check_monitors(self, resolved: ResolvedAction) -> None:
        points = [p for p in (resolved.point, resolved.start_point) if p is not None]
        if not points:
            return
        monitors = self._live_monitors()
        for point in points:
            if not _point_on(monitors, point):
                self._monitors = None  # look again next time
                layout = ", ".join(f"{w}x{h}+{x}+{y}" for x, y, w, h in monitors) or "none"
                raise MonitorGoneError(
                    f"The point {point} of '{resolved.action.describe()}' is on no connected monitor "
                    f"(monitors now: {layout})",
                    "a monitor was unplugged or the layout changed: take a new screenshot",
                )

    def _check_stop(self) -> None:
        if self._stop.is_set():
            raise ExecutionStopped(self._stop.reason or "user", self._stop.detail)

    def _sleep(self, seconds: float) -> None:
        """Wait on the stop signal; also watch for the fail-safe corner while nothing moves."""
        deadline = time.monotonic() + seconds
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            if self._stop.wait(min(remaining, 0.05)):
                self._check_stop()
            if self._backend.in_failsafe_corner():
                raise FailSafeTriggered("pointer in a corner during a wait")

    def _check_keyboard(self, resolved: ResolvedAction, done: list[str], last: list[float]) -> None:
        """Keys go only to the scoped window: refuse (release, stop the action) when it lost focus.

        Asked before the action's first key event and again every `FOCUS_CHECK_S` while it types.
        """
        scope = self.policy.scope
        now = time.monotonic()
        if scope is None or (last and now - last[0] < FOCUS_CHECK_S):
            return
        last[:] = [now]
        problem = scope.keyboard_problem()
        if problem is None:
            return
        after = f" after {len(done)} input event(s)" if done else ""
        raise PolicyRefusal("no-focus", f"{resolved.action.describe()[:80]} was not sent{after}: {problem}")

    def _run(self, resolved: ResolvedAction, risk: RiskAssessment) -> ExecutionResult:
        started = time.perf_counter()
        self._check_stop()
        self._check_monitors(resolved)  # also connects to the display (clear error if none)
        self.arm_hotkey()
        pointer = None
        if resolved.action.action is ActionType.LEFT_CLICK_DRAG and resolved.start_point is None:
            pointer = self._backend.position()
        secrets = self.secrets
        plan = plan_action(self._typed(resolved), self.plan_config, pointer)
        self._backend.check_plan(plan)
        self.policy.check_scope(resolved)  # live: the window may have moved since the screenshot
        saved = self._backend.save_clipboard() if plan.uses_clipboard else None
        done: list[str] = []
        focus_checked: list[float] = []
        notes = list(plan.notes)
        try:
            for prim in plan.primitives:
                self._check_stop()
                if isinstance(prim, KeyDown | WriteText | PasteText):
                    self._check_keyboard(resolved, done, focus_checked)
                if isinstance(prim, Sleep):
                    self._sleep(prim.seconds)
                else:
                    note = self._backend.perform(prim)
                    if note:
                        notes.append(note)
                    if self.pause_s > 0:
                        self._stop.wait(self.pause_s)  # ends early on a stop; checked above
                done.append(secrets.mask(prim.describe()))
        except FailSafeTriggered as exc:
            self.stop("fail-safe", str(exc).splitlines()[0] if str(exc) else None)
            released = self._backend.release_all()
            log.warning("fail-safe: stopped after %d primitive(s); released %s", len(done), released)
            raise ExecutionStopped("fail-safe") from None
        except ExecutionStopped:
            released = self._backend.release_all()
            log.warning(
                "stopped (%s) after %d primitive(s); released %s", self._stop.reason, len(done), released
            )
            raise
        except UserFacingError:
            self._backend.release_all()
            raise
        except Exception as exc:
            self._backend.release_all()
            raise ExecutorError(
                f"'{resolved.action.describe()}' failed after {len(done)} input event(s):"
                f" {type(exc).__name__}: {secrets.mask(str(exc))}"
            ) from None
        finally:
            if saved is not None:
                try:
                    self._backend.restore_clipboard(saved)
                except ExecutorError as exc:
                    log.warning("%s", exc)
        return ExecutionResult(
            resolved, "executed", tuple(done), risk, time.perf_counter() - started, tuple(notes)
        )


def _run_coroutine_sync(awaitable: Any) -> Any:
    try:
        asyncio.get_running_loop()
    except RuntimeError:

        async def _wrap() -> Any:
            return await awaitable

        return asyncio.run(_wrap())
    raise ExecutorError(
        "An async confirmation callback cannot be used from execute_sync inside a running event loop",
        "await executor.execute(...) instead",
    )
