"""A batch's pace: rows ended per minute, said with each finished row and in the closing line.

The number a user tunes `--workspaces N` by (more workspaces pay only while it still climbs, since
they all share one engine: docs/agent-runs.md). The clock is injectable so tests need no sleeps.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from qwen3vl_agent.agents.form_fill import BatchSummary


@dataclass
class BatchRate:
    """Counts the rows a batch run ended (any status) against the time since it started."""

    clock: Callable[[], float] = time.monotonic
    started: float = field(init=False)
    ended: int = 0

    def __post_init__(self) -> None:
        self.started = self.clock()

    def row_ended(self) -> str:
        """Count one more ended row; the progress text for its line."""
        self.ended += 1
        return f"[{self.ended} ended, {self.per_minute():.1f} rows/min]"

    def elapsed_s(self) -> float:
        return max(0.0, self.clock() - self.started)

    def per_minute(self) -> float:
        elapsed = self.elapsed_s()
        return 60.0 * self.ended / elapsed if elapsed > 0 else 0.0

    def summary_line(self, summary: BatchSummary) -> str:
        """The batch's closing line: what each row ended as, how long it took, at what pace."""
        counts = ", ".join(f"{k} {v}" for k, v in sorted(summary.counts.items())) or "nothing ran"
        line = f"batch {summary.batch_id}: {counts}"
        if self.ended:
            line += f" in {self.elapsed_s():.0f} s ({self.per_minute():.1f} rows/min this run)"
        return line + (" (stopped)" if summary.stopped else "")
