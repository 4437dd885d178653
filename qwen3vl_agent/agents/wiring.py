"""Real parts behind the loop's ports: screen capture, coordinate mapping, the action executor.

`AgentKit` owns the executor (one worker thread, the stop hotkey) and passes a stop of the
executor's stop token (hotkey, fail-safe corner) up to the run by subscribing to it, so a stop
ends the run even while the model is thinking or in dry-run, where no action is executing.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PIL import Image

from qwen3vl_agent.actions.model import Action, ResolvedAction
from qwen3vl_agent.actions.parser import ParsedResponse, ParseOptions, parse_response
from qwen3vl_agent.agents.loop import LoopConfig
from qwen3vl_agent.agents.ports import (
    ActionRefused,
    ExecutionStopped,
    Observation,
    PolicyRefused,
    ScopeLost,
)
from qwen3vl_agent.agents.target_text import TargetTexts, context_for
from qwen3vl_agent.config import Settings
from qwen3vl_agent.engine.retry_policy import RetryPolicy
from qwen3vl_agent.executor import ActionExecutor, ConfirmationRequest, ExecutorError
from qwen3vl_agent.executor.policy import PolicyRefusal
from qwen3vl_agent.executor.scope import AreaScope, RunScope, WindowScope
from qwen3vl_agent.executor.secrets import Secrets
from qwen3vl_agent.paths import app_paths
from qwen3vl_agent.screen.geometry import Rect
from qwen3vl_agent.screen.session import live_desktop_route
from qwen3vl_agent.storage.trajectories import TrajectoryStore

log = logging.getLogger(__name__)

Confirm = Callable[[ConfirmationRequest], Awaitable[bool] | bool]

if TYPE_CHECKING:
    from qwen3vl_agent.screen.model_input import ModelInput


def open_store() -> TrajectoryStore:
    """The app's trajectory store (database + screenshot folder under the data dir)."""
    paths = app_paths().ensure()
    return TrajectoryStore(paths.database_file, paths.data_dir / "trajectories")


@dataclass(frozen=True)
class Target:
    """What the agent looks at and acts on, and the scope its clicks must stay in: a monitor (mss
    numbering, 1 = first), a window (by title), or a region (left, top, width, height in desktop
    pixels); on the user's desktop, or on a workspace's own X display (`display=":N"`)."""

    monitor: int = 1
    window: str | None = None
    display: str | None = None
    region: tuple[int, int, int, int] | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"monitor": self.monitor, "window": self.window}
        if self.display:
            data["display"] = self.display
        if self.region:
            data["region"] = list(self.region)
        return data


class ScreenObserver:
    """Captures the target (privacy masks applied in the capture thread) at the agent's budget."""

    def __init__(self, settings: Settings, target: Target) -> None:
        from qwen3vl_agent.screen.capture import CaptureTarget, ScreenCapturer

        self.settings = settings
        self.target = target
        self.scope: RunScope | None = None  # a window run: checked before every screenshot
        self.capturer = ScreenCapturer.from_settings(settings, display=target.display)
        if target.window:
            self.capture_target = CaptureTarget.window(target.window)
        elif target.region:
            self.capture_target = CaptureTarget.region(Rect(*target.region))
        else:
            self.capture_target = CaptureTarget.monitor(target.monitor)

    async def grab_image(self) -> Image.Image:
        """The target at full resolution, masks applied (read-back)."""
        shot = await self.capturer.capture_async(self.capture_target)
        return shot.image

    async def observe(self) -> Observation:
        from qwen3vl_agent.imaging.prep import pixel_hash
        from qwen3vl_agent.screen.model_input import screenshot_to_model_input

        t0 = time.perf_counter()
        scope = self.scope
        if scope is not None and (lost := await asyncio.to_thread(scope.lost)) is not None:
            raise ScopeLost(lost)
        shot = await self.capturer.capture_async(self.capture_target)
        t1 = time.perf_counter()
        images, screen = self.settings.images, self.settings.screen

        def prepare() -> tuple[Any, str]:
            model_input = screenshot_to_model_input(
                shot,
                images.agent_budget_tokens,
                images.encoding,
                coordinate_mode=screen.coordinate_mode,
                coordinate_scale=screen.coordinate_scale,
                quality=images.jpeg_quality,
            )
            return model_input, pixel_hash(shot.image)

        model_input, screen_hash = await asyncio.to_thread(prepare)
        t2 = time.perf_counter()
        return Observation(
            image=model_input.image,
            geometry=model_input,
            screen_hash=screen_hash,
            capture_s=t1 - t0,
            prepare_s=t2 - t1,
            geometry_json=shot.geometry.to_json(),
            source=shot.image,
        )

    def close(self) -> None:
        self.capturer.close()


class ScreenMapper:
    """Model space -> device points through the capture geometry of the screenshot that was sent."""

    def resolve(self, action: Action, geometry: ModelInput | None) -> ResolvedAction:
        if geometry is None:
            raise ActionRefused("there is no screenshot geometry to map the action onto")
        try:
            resolved: ResolvedAction = geometry.resolve(action)
        except ValueError as exc:
            raise ActionRefused(str(exc)) from exc
        return resolved


def make_parser(settings: Settings) -> Callable[..., ParsedResponse]:
    """`parse(text, observation)`: the grid is the observation's (absolute mode: its image size).

    A bare JSON answer is an action only when structured output was asked for; otherwise only a
    call in <tool_call> tags (or the server's native tool call) is.
    """
    screen = settings.screen
    bare_json = settings.agent.structured_output
    relative = replace(
        ParseOptions.for_grid(
            "relative",
            screen.coordinate_scale,
            out_of_range=screen.out_of_range,
            clamp_margin=screen.clamp_margin,
        ),
        bare_json=bare_json,
    )

    def parse(text: str, observation: Observation | None = None) -> ParsedResponse:
        options = relative
        model_input = observation.geometry if observation is not None else None
        if screen.coordinate_mode == "absolute" and model_input is not None:
            options = replace(
                model_input.parse_options(screen.out_of_range, screen.clamp_margin), bare_json=bare_json
            )
        return parse_response(text, options)

    return parse


class ExecutorActor:
    """The loop's Actor on top of `ActionExecutor` (its safety mode, confirmation and stop)."""

    def __init__(
        self, executor: ActionExecutor, target: Target | None = None, observer: ScreenObserver | None = None
    ) -> None:
        self.executor = executor
        self.target = target or Target()
        self.observer = observer
        self.scope: RunScope | None = None
        self.on_confirmation: Callable[..., None] | None = None
        self.last_details: dict[str, Any] | None = None  # the last ExecutionResult, for the trajectory
        self._texts = TargetTexts()

    @property
    def reads_targets(self) -> bool:
        """Risk rules need the target's text only when just the risky actions are confirmed."""
        return self.executor.mode == "confirm" and self.executor.safety.confirm_only_risky

    def begin_run(self) -> RunScope:
        """A new run: its scope (the chosen window, found now, or the captured area) and budgets."""
        if self.target.window:
            self.scope = WindowScope.find(self.target.window)
        elif self.target.region:
            left, top, width, height = self.target.region
            self.scope = AreaScope(f"the region {width}x{height} at {left},{top}")
        else:
            self.scope = AreaScope(f"monitor {self.target.monitor}")
        self.executor.begin_run(self.scope)
        if self.observer is not None:
            self.observer.scope = self.scope
        return self.scope

    async def execute(self, resolved: ResolvedAction, observation: Observation) -> str:
        self.last_details = None
        capture = observation.geometry.geometry if observation.geometry is not None else None
        if isinstance(self.scope, AreaScope) and capture is not None:
            from qwen3vl_agent.screen.coordinates import point_rect

            self.scope.update(point_rect(capture))  # the area the model was shown
        context = None
        if self.reads_targets:
            text = await asyncio.to_thread(self._texts.for_action, resolved, observation)
            context = context_for(text)
        try:
            result = await self.executor.execute(resolved, context)
        except ExecutionStopped:
            raise  # not an ExecutorError to report below: the run stops
        except PolicyRefusal as exc:
            if exc.rule == "scope-lost":
                raise ScopeLost(exc.message) from exc
            raise PolicyRefused(exc.message, exc.rule) from exc
        except ExecutorError as exc:
            raise ActionRefused(exc.message) from exc
        except ValueError as exc:
            raise ActionRefused(str(exc)) from exc
        self.last_details = result.to_json()
        return {"rejected": "declined", "no-op": "executed"}.get(result.status, result.status)

    def use_secrets(self, values: Mapping[str, str] | None) -> None:
        """The run's secret values: typed in place of their `{name}` placeholders, shown nowhere."""
        self.executor.use_secrets(Secrets(dict(values)) if values else None)

    def stop(self, reason: str = "user") -> None:
        self.executor.stop(reason)


@dataclass
class AgentKit:
    """Everything that acts for one CLI/UI session: executor, hotkey, observer, mapper, parser."""

    settings: Settings
    target: Target
    mode: str
    confirm: Confirm | None = None
    executor: ActionExecutor = field(init=False)
    actor: ExecutorActor = field(init=False)
    observer: ScreenObserver = field(init=False)
    mapper: ScreenMapper = field(init=False)
    parse: Callable[..., ParsedResponse] = field(init=False)
    _unwatch: Callable[[], None] | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        if self.target.display is None:  # the live desktop: no silent X11 path on Wayland
            live_desktop_route(  # X11, or the compositor's API on Wayland; refused when neither
                "run the agent on the live desktop",
                allow_xwayland=self.settings.screen.allow_xwayland,
                need_input=True,
                wayland_route=self.settings.screen.wayland_route,
            )

        async def confirm(request: ConfirmationRequest) -> bool:
            actor = self.actor  # built below; asked only once actions run, so it is there by then
            if actor.on_confirmation is not None:
                actor.on_confirmation(request.action, request.steps, request.risk.reasons)
            if self.confirm is None:
                return False
            answer = self.confirm(request)
            return bool(await answer) if inspect.isawaitable(answer) else bool(answer)

        self.executor = self._make_executor(confirm)
        self.observer = ScreenObserver(self.settings, self.target)
        self.actor = ExecutorActor(self.executor, self.target, self.observer)
        self.mapper = ScreenMapper()
        self.parse = make_parser(self.settings)

    def _make_executor(self, confirm: Confirm) -> ActionExecutor:
        """The live desktop's executor (pyautogui, or a Wayland remote-desktop session: Mutter's
        or the portal's), or XTest on a workspace's display. A workspace's
        executor starts no hotkey listener of its own: one hotkey (`watch_stop`) stops them all."""
        if self.target.display is None:
            return ActionExecutor(
                self.settings.safety,
                self.settings.executor,
                mode=self.mode,
                confirm=confirm,
                allow_xwayland=self.settings.screen.allow_xwayland,
                wayland_route=self.settings.screen.wayland_route,
            )
        from qwen3vl_agent.executor.xtest_backend import XTestBackend

        settings = self.settings.executor.model_copy(update={"stop_hotkey_enabled": False})
        backend = XTestBackend(self.target.display, paste_timeout_s=settings.paste_timeout_s)
        return ActionExecutor(
            self.settings.safety, settings, mode=self.mode, confirm=confirm, backend=backend
        )

    def loop_config(self, **overrides: Any) -> LoopConfig:
        s, a = self.settings.safety, self.settings.agent
        cfg = LoopConfig(
            mode=self.mode,
            step_limit=s.step_limit,
            wall_clock_limit_s=s.wall_clock_limit_s,
            no_progress_repeats=s.no_progress_repeats,
            max_feedback=a.max_feedback,
            max_refusals=s.max_refusals_in_a_row,
            max_images=a.history_images,
            max_text_steps=a.history_text_steps,
            slide_block=a.history_slide_block or None,
            max_tokens=a.max_tokens,
            grid=self.settings.screen.coordinate_scale,
            coordinate_mode=self.settings.screen.coordinate_mode,
            structured_output=a.structured_output,
            engine_retry_s=a.engine_retry_s,
            engine_wait_limit_s=a.engine_wait_limit_s,
            answer_deadline_s=a.answer_deadline_s,
            retry=RetryPolicy.from_settings(self.settings.engine),
            target=self.target.to_json(),
        )
        # `replace` refuses a misspelled field name (TypeError) where setattr made a new attribute
        return replace(cfg, **overrides)

    def watch_stop(self, on_stop: Callable[[str], None]) -> None:
        """Call `on_stop(reason)` (once per stop) when the executor is stopped by the hotkey or
        the fail-safe corner, for the run now starting (it replaces the previous run's).

        Also re-arms the executor (a stop from an earlier run no longer blocks it) and starts
        listening for the stop hotkey now, before the first action.
        """
        self.executor.resume()
        if self._unwatch is not None:
            self._unwatch()
        self._unwatch = self.executor.stop_signal.subscribe(on_stop)
        self.executor.arm_hotkey()

    def close(self) -> None:
        if self._unwatch is not None:
            self._unwatch()
            self._unwatch = None
        self.observer.close()
        self.executor.close()


def data_dir_for_reports() -> Path:
    return app_paths().ensure().data_dir / "reports"
