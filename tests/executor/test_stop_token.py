"""The stop token (`StopSignal`): first stop wins, subscribers hear each stop once, from the
thread that stopped it. Pure: no display (the hotkey's shared listener is in test_executor_x11)."""

from __future__ import annotations

import threading

from qwen3vl_agent.agents.control import RunControl
from qwen3vl_agent.executor.stop import StopSignal


def test_subscribers_hear_each_stop_once_with_the_first_reason() -> None:
    token = StopSignal()
    heard: list[tuple[str, str]] = []
    token.subscribe(lambda reason: heard.append((reason, threading.current_thread().name)))
    stopper = threading.Thread(target=token.set, args=("hotkey",), name="stopper")
    stopper.start()
    stopper.join()
    token.set("user")  # already stopped: the first stop wins, nobody hears it again
    assert heard == [("hotkey", "stopper")]
    assert token.reason == "hotkey"
    token.clear()
    token.set("fail-safe")  # re-armed: the next stop is heard again
    assert [r for r, _ in heard] == ["hotkey", "fail-safe"]


def test_unsubscribed_and_failing_subscribers_do_not_stop_the_others() -> None:
    token = StopSignal()
    heard: list[str] = []
    unsubscribe = token.subscribe(lambda reason: heard.append("gone"))

    def broken(reason: str) -> None:
        raise RuntimeError("a subscriber that fails")

    token.subscribe(broken)
    token.subscribe(heard.append)
    unsubscribe()
    unsubscribe()  # twice is harmless
    token.set("user")
    assert heard == ["user"]
    assert token.is_set()


def test_an_executor_stop_travels_up_to_the_run_through_one_subscription() -> None:
    executor_token, run = StopSignal(), RunControl()
    executor_token.subscribe(run.stop)  # what AgentKit.watch_stop does with the loop's stop
    executor_token.set("fail-safe")
    assert run.stopped and run.stop_reason == "fail-safe"
    run.stop("SIGTERM")  # the first stop's reason stays
    assert run.stop_reason == "fail-safe"
    assert isinstance(run.stop_token, StopSignal)  # one stop token type, executor and run
