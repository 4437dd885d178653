"""The scripted policy server in a process of its own, for benchmarks of the app's whole path.

In the benchmark's own process the policy server's work (parsing each multi-megabyte request,
building its context, re-sending it to a real engine with `forward_to`, planning) holds the same
GIL as the app's agent lanes, so at 32 workspaces it slowed the very thing being measured (issue 17,
row D). A child process (spawn: no copy of the parent's threads or X connections) keeps the app's
process to the app's own work, the way a real engine is another process.

The planner cannot cross a process boundary, so the child builds it from `planner_factory(*args)`
(a top-level function, e.g. `workspace_forms.form_planner_for`).
"""

from __future__ import annotations

import copy
import multiprocessing
import resource
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from tests.support.policy_server import Planner, PolicyServer

START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0


@dataclass
class PolicyStats:
    """What the server counted, read back when it stops."""

    chat_requests: int = 0
    forward_times: list[float] = field(default_factory=list)
    forward_errors: int = 0
    forward_max_tokens: int = 0
    cpu_s: float = 0.0  # the policy server process's user + system CPU time (0 when in-process)

    @classmethod
    def of(cls, server: PolicyServer, cpu_s: float = 0.0) -> PolicyStats:
        return cls(
            server.chat_requests,
            list(server.forward_times),
            server.forward_errors,
            server.forward_max_tokens,
            cpu_s,
        )


def process_cpu_s() -> float:
    """This process's user + system CPU seconds (all its threads; not its children)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _serve(
    conn: Connection,
    planner_factory: Callable[..., Planner],
    factory_args: tuple[Any, ...],
    server_kwargs: dict[str, Any],
) -> None:
    server = PolicyServer(**server_kwargs)
    server.planner = planner_factory(*factory_args)
    server.start()
    conn.send((server.url, server.settings_overrides()))
    conn.recv()  # anything: stop
    server.stop()
    conn.send(PolicyStats.of(server, process_cpu_s()))
    conn.close()


class PolicyProcess:
    """A started `PolicyServer` in a child process: `url`, `settings_overrides()`, `stop()`."""

    def __init__(
        self,
        planner_factory: Callable[..., Planner],
        factory_args: tuple[Any, ...] = (),
        **server_kwargs: Any,
    ) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(
            target=_serve,
            args=(child, planner_factory, factory_args, server_kwargs),
            name="policy-server",
            daemon=True,
        )
        self._process.start()
        child.close()
        if not self._conn.poll(START_TIMEOUT_S):
            self._process.kill()
            raise RuntimeError(f"the policy server process did not start in {START_TIMEOUT_S:.0f} s")
        self.url, self._overrides = self._conn.recv()

    def settings_overrides(self) -> dict[str, Any]:
        """`Settings(**...)` pointing the app at this server (a fresh copy each call)."""
        return copy.deepcopy(self._overrides)

    def stop(self) -> PolicyStats:
        """Stop the server and return what it counted."""
        self._conn.send("stop")
        if not self._conn.poll(STOP_TIMEOUT_S):
            self._process.kill()
            raise RuntimeError("the policy server process did not stop")
        stats: PolicyStats = self._conn.recv()
        self._process.join(timeout=STOP_TIMEOUT_S)
        return stats
