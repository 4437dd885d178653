"""Putting the target back in a known state before the next row, after a row left it part-way.

A row interrupted mid-typing (stop, crash, kill) or that failed after acting leaves the form
half-filled; the next row typed into it would submit a mix of both. The user configures how
to reset it: a command (re-launch the app, reload a page through a script) and/or a key combo
pressed on the target (F5 in a browser, a form's "clear" shortcut). Without one, the batch
stops and says why instead of starting the next row on that state.
"""

from __future__ import annotations

import asyncio
import contextlib
import shlex
from dataclasses import dataclass
from typing import Any

from qwen3vl_agent.actions.model import Action, ActionType, ResolvedAction
from qwen3vl_agent.errors import UserFacingError


class ResetFailed(UserFacingError):
    """The configured reset did not work; carries which step failed."""

    def __init__(self, message: str, step: str) -> None:
        super().__init__(message, "check the reset step, reset the target by hand, then run again")
        self.step = step


@dataclass
class TargetReset:
    """`await reset()` runs the command (must exit 0), then presses the keys, then waits."""

    command: str | None = None  # split like a shell would, run without a shell
    keys: str | None = None  # a combo such as "f5" or "ctrl+shift+r"
    executor: Any = None  # the session's ActionExecutor (presses the keys, honours the mode)
    settle_s: float = 1.0
    timeout_s: float = 120.0

    def __post_init__(self) -> None:
        if not self.command and not self.keys:
            raise ValueError("a reset needs a command or keys")
        if self.command:
            try:
                self.argv = shlex.split(self.command)
            except ValueError as exc:
                raise UserFacingError(f"The reset command cannot be parsed: {exc}") from exc
            if not self.argv:
                raise UserFacingError("The reset command is empty")
        if self.keys and self.executor is None:
            raise ValueError("reset keys need the executor")

    def describe(self) -> str:
        parts = [f"ran {self.command!r}"] if self.command else []
        if self.keys:
            parts.append(f"pressed {self.keys}")
        return " and ".join(parts)

    async def __call__(self) -> str:
        if self.command:
            await self._run_command()
        if self.keys:
            await self._press_keys()
        await asyncio.sleep(self.settle_s)
        return self.describe()

    async def _run_command(self) -> None:
        try:
            proc = await asyncio.create_subprocess_exec(
                *self.argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
            )
        except OSError as exc:
            raise ResetFailed(
                f"The reset command {self.argv[0]!r} could not start: {exc.strerror or exc}", "command"
            ) from exc
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), self.timeout_s)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
            raise ResetFailed(
                f"The reset command did not finish within {self.timeout_s:g} s", "command"
            ) from None
        if proc.returncode != 0:
            tail = " ".join(out.decode(errors="replace").split())[-200:]
            raise ResetFailed(
                f"The reset command exited with {proc.returncode}" + (f": {tail}" if tail else ""), "command"
            )

    async def _press_keys(self) -> None:
        from qwen3vl_agent.executor import ExecutorError

        assert self.keys is not None
        keys = tuple(k.strip() for k in self.keys.replace(" ", "").split("+") if k.strip())
        try:
            result = await self.executor.execute(ResolvedAction(Action(ActionType.KEY, keys=keys)))
        except ExecutorError as exc:
            raise ResetFailed(f"The reset keys {self.keys} could not be pressed: {exc}", "keys") from exc
        if result.status == "rejected":
            raise ResetFailed(f"Pressing the reset keys {self.keys} was declined", "keys")
