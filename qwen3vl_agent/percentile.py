"""The one percentile definition the app reports (queue stats, benchmark summaries).

Linear interpolation between the closest ranks (numpy's default, "type 7"): the p50 of
[1, 2, 3, 4] is 2.5. One definition so a queue's p99 and a benchmark's p99 mean the same thing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (q in 0..100) of `values`, linearly interpolated; None for no values."""
    if not values:
        return None
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = math.ceil(pos)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def percentile_or_nan(values: Sequence[float], q: float) -> float:
    """`percentile` for a report table: NaN (printed as "nan") where there are no values."""
    value = percentile(values, q)
    return math.nan if value is None else value
