"""Queue policy with a scripted engine (ordering and bookkeeping; see also the tiny-engine tests)."""

from __future__ import annotations

import asyncio

import pytest

from qwen3vl_agent.config import QueueSettings
from qwen3vl_agent.errors import DeadlineExceededError, EngineError, QueueFullError, RequestCancelledError
from qwen3vl_agent.inference.queue import RequestQueue
from qwen3vl_agent.inference.request import InferenceRequest, Message, Priority, TaskKind
from tests.support.fake_engine import FakeEngineClient


def req(text: str, kind: TaskKind = TaskKind.CHAT, **kw: object) -> InferenceRequest:
    return InferenceRequest(messages=[Message.user(text)], kind=kind, **kw)  # type: ignore[arg-type]


async def test_answers_and_streams() -> None:
    client = FakeEngineClient()
    queue = RequestQueue(client, QueueSettings(max_in_flight=2))
    deltas: list[str] = []
    result = await queue.submit(req("hello"), deltas.append)
    assert result.text == "echo: hello"
    assert "".join(deltas) == "echo: hello"
    assert len(deltas) > 1
    stats = queue.stats()
    assert (stats.submitted, stats.completed, stats.in_flight, stats.waiting) == (1, 1, 0, 0)


async def test_chat_takes_the_next_free_slot_behind_a_5000_page_batch() -> None:
    client = FakeEngineClient(hold=True)
    queue = RequestQueue(client, QueueSettings(max_in_flight=4, max_queued=10_000))
    batch = [req(f"page {i}", TaskKind.OCR) for i in range(5000)]
    batch_tasks = [asyncio.create_task(queue.submit(r)) for r in batch]
    await client.wait_started(4)
    assert queue.stats().depth["batch"] == 4996
    agent_task = asyncio.create_task(queue.submit(req("agent step", TaskKind.AGENT)))
    chat_task = asyncio.create_task(queue.submit(req("what is on screen?", TaskKind.CHAT)))
    await asyncio.sleep(0)
    assert queue.stats().depth == {"chat": 1, "agent": 1, "batch": 4996}
    assert client.calls == 4  # nothing new started while every slot is busy

    client.release(client.started[0])  # ONE in-flight batch page finishes ...
    await client.wait_started(5)
    assert client.started[4].messages[0] == Message.user("what is on screen?")  # ... and chat is next
    client.release(client.started[1])
    await client.wait_started(6)
    assert client.started[5].kind is TaskKind.AGENT
    client.release(client.started[2])
    await client.wait_started(7)
    assert client.started[6].kind is TaskKind.OCR  # batch resumes, FIFO: page 4
    assert client.started[6] is batch[4]

    client.release(client.started[4])
    assert (await chat_task).text == "echo: what is on screen?"
    for task in [*batch_tasks, agent_task]:
        task.cancel()
    await asyncio.gather(*batch_tasks, agent_task, return_exceptions=True)
    assert queue.stats().waiting == 0


async def test_fifo_within_a_priority() -> None:
    client = FakeEngineClient(hold=True)
    queue = RequestQueue(client, QueueSettings(max_in_flight=1))
    requests = [req(f"q{i}") for i in range(5)]
    tasks = [asyncio.create_task(queue.submit(r)) for r in requests]
    for i in range(5):
        await client.wait_started(i + 1)
        client.release(client.started[i])
    await asyncio.gather(*tasks)
    assert client.started == requests


async def test_queue_full_answers_busy_at_once() -> None:
    client = FakeEngineClient(hold=True)
    queue = RequestQueue(client, QueueSettings(max_in_flight=1, max_queued=2))
    tasks = [asyncio.create_task(queue.submit(req(f"q{i}", TaskKind.OCR))) for i in range(3)]
    await client.wait_started(1)
    assert queue.stats().waiting == 2
    with pytest.raises(QueueFullError, match="busy"):
        await queue.submit(req("one too many"))
    assert queue.stats().rejected_full == 1
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def test_deadline_while_waiting_and_while_running() -> None:
    client = FakeEngineClient(hold=True)
    queue = RequestQueue(client, QueueSettings(max_in_flight=1))
    running = asyncio.create_task(queue.submit(req("long", deadline_s=0.05)))
    await client.wait_started(1)
    with pytest.raises(DeadlineExceededError, match="waiting"):
        await queue.submit(req("short wait", deadline_s=0.01))
    with pytest.raises(DeadlineExceededError, match="running"):
        await running
    assert client.cancelled == [client.started[0]]  # the engine call was aborted
    assert queue.stats().deadline_exceeded == 2
    assert queue.in_flight == 0
    assert client.calls == 1  # the expired waiting request never reached the engine


async def test_a_deadline_counts_from_submission_and_only_the_queue_keeps_it() -> None:
    client = FakeEngineClient(hold=True)
    queue = RequestQueue(client, QueueSettings(max_in_flight=1))
    first = asyncio.create_task(queue.submit(req("first")))
    await client.wait_started(1)
    second = asyncio.create_task(queue.submit(req("second", deadline_s=0.3)))
    await asyncio.sleep(0.2)  # waiting: most of its deadline is spent before it can run
    client.release(client.started[0])
    await first
    await client.wait_started(2)
    assert client.started[1].deadline_s is None  # the client starts no second clock
    with pytest.raises(DeadlineExceededError, match="running"):
        await second  # 0.3 s after submission, not 0.3 s after the engine call began
    assert client.cancelled == [client.started[1]]


async def test_default_deadline_from_settings() -> None:
    client = FakeEngineClient(hold=True)
    queue = RequestQueue(client, QueueSettings(max_in_flight=1, default_deadline_s=0.01))
    with pytest.raises(DeadlineExceededError):
        await queue.submit(req("x"))


async def test_cancel_queued_request_never_reaches_engine() -> None:
    client = FakeEngineClient(hold=True)
    queue = RequestQueue(client, QueueSettings(max_in_flight=1))
    first = asyncio.create_task(queue.submit(req("first")))
    await client.wait_started(1)
    second = asyncio.create_task(queue.submit(req("second")))
    await asyncio.sleep(0)
    assert queue.waiting == 1
    second.cancel()
    with pytest.raises(asyncio.CancelledError):
        await second
    assert queue.waiting == 0
    client.release(client.started[0])
    await first
    await asyncio.sleep(0)
    assert client.calls == 1
    assert queue.stats().cancelled == 1


async def test_cancel_running_request_cancels_engine_call_and_frees_slot() -> None:
    client = FakeEngineClient(hold=True)
    queue = RequestQueue(client, QueueSettings(max_in_flight=1))
    task = asyncio.create_task(queue.submit(req("to cancel")))
    await client.wait_started(1)
    nxt = asyncio.create_task(queue.submit(req("next")))
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await client.wait_started(2)
    assert client.cancelled == [client.started[0]]
    client.release(client.started[1])
    assert (await nxt).text == "echo: next"


async def test_coalescing_one_engine_call_many_waiters() -> None:
    client = FakeEngineClient(hold=True)
    queue = RequestQueue(client, QueueSettings(max_in_flight=2))
    streams: list[list[str]] = [[] for _ in range(3)]
    tasks = [asyncio.create_task(queue.submit(req("same"), streams[0].append, key="k"))]
    await client.wait_started(1)  # the first delta has been streamed already
    for i in (1, 2):
        tasks.append(asyncio.create_task(queue.submit(req("same"), streams[i].append, key="k")))
    await asyncio.sleep(0)
    client.release(client.started[0])
    results = await asyncio.gather(*tasks)
    assert client.calls == 1
    assert [r.text for r in results] == ["echo: same"] * 3
    assert [r.cached for r in results] == [None, "coalesced", "coalesced"]
    assert all("".join(s) == "echo: same" for s in streams)  # late joiners got the replay
    assert queue.stats().coalesced == 2


async def test_coalesced_waiter_leaving_keeps_the_call_for_the_others() -> None:
    client = FakeEngineClient(hold=True)
    queue = RequestQueue(client, QueueSettings(max_in_flight=1))
    a = asyncio.create_task(queue.submit(req("same"), key="k"))
    await client.wait_started(1)
    b = asyncio.create_task(queue.submit(req("same"), key="k"))
    await asyncio.sleep(0)
    a.cancel()
    await asyncio.gather(a, return_exceptions=True)
    assert client.cancelled == []
    client.release(client.started[0])
    assert (await b).text == "echo: same"


async def test_coalescing_upgrades_priority_of_a_waiting_call() -> None:
    client = FakeEngineClient(hold=True)
    queue = RequestQueue(client, QueueSettings(max_in_flight=1))
    blocker = asyncio.create_task(queue.submit(req("blocker", TaskKind.OCR)))
    await client.wait_started(1)
    other = asyncio.create_task(queue.submit(req("other agent", TaskKind.AGENT)))
    ocr = asyncio.create_task(queue.submit(req("page", TaskKind.OCR), key="p"))
    await asyncio.sleep(0)
    chat = asyncio.create_task(queue.submit(req("page", TaskKind.CHAT), key="p"))
    await asyncio.sleep(0)
    assert queue.stats().depth == {"chat": 1, "agent": 1, "batch": 0}
    client.release(client.started[0])
    await client.wait_started(2)
    assert client.started[1].messages[0] == Message.user("page")
    client.release(client.started[1])
    await client.wait_started(3)
    client.release(client.started[2])
    await asyncio.gather(blocker, other, ocr, chat)
    assert client.calls == 3


async def test_engine_error_reaches_every_waiter_and_the_queue_goes_on() -> None:
    client = FakeEngineClient(fail=EngineError("engine said no"))
    queue = RequestQueue(client, QueueSettings(max_in_flight=1))
    with pytest.raises(EngineError, match="engine said no"):
        await queue.submit(req("x"))
    client.fail = None
    assert (await queue.submit(req("y"))).text == "echo: y"
    stats = queue.stats()
    assert (stats.failed, stats.completed, stats.in_flight) == (1, 1, 0)


async def test_close_fails_waiting_and_cancels_running() -> None:
    client = FakeEngineClient(hold=True)
    queue = RequestQueue(client, QueueSettings(max_in_flight=1))
    running = asyncio.create_task(queue.submit(req("a")))
    await client.wait_started(1)
    waiting = asyncio.create_task(queue.submit(req("b")))
    await asyncio.sleep(0)
    await queue.close()
    for task in (running, waiting):
        with pytest.raises(RequestCancelledError):
            await task
    with pytest.raises(RequestCancelledError):
        await queue.submit(req("c"))


async def test_a_failing_stream_consumer_does_not_break_the_request() -> None:
    queue = RequestQueue(FakeEngineClient(), QueueSettings())

    def broken(_: str) -> None:
        raise RuntimeError("consumer bug")

    assert (await queue.submit(req("x"), broken)).text == "echo: x"


async def test_metrics_percentiles_and_depth() -> None:
    client = FakeEngineClient()
    queue = RequestQueue(client, QueueSettings(max_in_flight=2))
    await asyncio.gather(*(queue.submit(req(f"q{i}", priority=Priority.AGENT)) for i in range(20)))
    stats = queue.stats()
    assert stats.completed == 20
    assert stats.wait_p99_s > 0  # 18 of the 20 waited for one of the 2 slots
    assert stats.wait_p99_s >= stats.wait_p50_s
    assert stats.service_p99_s >= stats.service_p50_s > 0
    assert RequestQueue(client, QueueSettings()).stats().wait_p99_s == 0.0  # no samples yet


async def test_result_hook_runs_once_before_any_waiter_wakes() -> None:
    client = FakeEngineClient(hold=True)
    queue = RequestQueue(client, QueueSettings(max_in_flight=1))
    seen: list[tuple[str, int]] = []
    tasks: list[asyncio.Task[object]] = []

    def hook(result: object) -> None:
        seen.append((getattr(result, "text", ""), sum(t.done() for t in tasks)))

    tasks.append(asyncio.create_task(queue.submit(req("same"), key="k", on_result=hook)))
    await client.wait_started(1)
    tasks += [asyncio.create_task(queue.submit(req("same"), key="k", on_result=hook)) for _ in range(2)]
    await asyncio.sleep(0)
    client.release(client.started[0])
    await asyncio.gather(*tasks)
    assert seen == [("echo: same", 0)]  # once per engine call, while every waiter still waits
