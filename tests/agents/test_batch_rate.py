"""BatchRate: the pace a batch reports (rows ended per minute) and its closing line."""

from __future__ import annotations

from qwen3vl_agent.agents.batch_rate import BatchRate
from qwen3vl_agent.agents.form_fill import BatchSummary


class Clock:
    """A clock the test moves by hand (time itself is the input here, not a part to fake)."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_pace_is_rows_ended_over_minutes_since_start() -> None:
    clock = Clock()
    rate = BatchRate(clock=clock)
    clock.now += 30
    assert rate.row_ended() == "[1 ended, 2.0 rows/min]"
    clock.now += 90
    assert rate.row_ended() == "[2 ended, 1.0 rows/min]"
    assert rate.per_minute() == 1.0


def test_no_time_passed_is_no_pace_not_a_division_error() -> None:
    rate = BatchRate(clock=Clock())
    assert rate.per_minute() == 0.0
    assert rate.row_ended() == "[1 ended, 0.0 rows/min]"


def test_summary_line_counts_time_and_pace_and_says_stopped() -> None:
    clock = Clock()
    rate = BatchRate(clock=clock)
    for _ in range(3):
        clock.now += 20
        rate.row_ended()
    summary = BatchSummary(batch_id=7, resumed=False, counts={"needs-attention": 1, "done": 2}, stopped=True)
    assert rate.summary_line(summary) == (
        "batch 7: done 2, needs-attention 1 in 60 s (3.0 rows/min this run) (stopped)"
    )


def test_summary_line_of_a_batch_that_ran_nothing() -> None:
    summary = BatchSummary(batch_id=3, resumed=True, counts={})
    assert BatchRate(clock=Clock()).summary_line(summary) == "batch 3: nothing ran"
