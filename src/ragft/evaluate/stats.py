"""Bootstrap 95% intervals: every number in a report carries how sure we can be of it.

A percentile bootstrap over items (resample the answers with replacement, recompute the statistic)
needs no distributional assumption and works the same for a mean, a rate or a latency percentile.
Seeded, so a report is reproducible.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class Interval:
    """A point estimate with its bootstrap 95% interval and the number of items behind it."""

    value: float
    low: float
    high: float
    n: int

    def overlaps(self, other: Interval) -> bool:
        """True when the two intervals share any value: the evidence does not separate them."""
        return self.low <= other.high and other.low <= self.high

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)

    def fmt(self, *, percent: bool = True, digits: int = 1) -> str:
        """'62.0% [55.1–68.9]' (or plain numbers with `percent=False`)."""
        if self.n == 0:
            return "n/a"
        scale, unit = (100.0, "%") if percent else (1.0, "")
        return f"{self.value * scale:.{digits}f}{unit} [{self.low * scale:.{digits}f}–{self.high * scale:.{digits}f}]"


EMPTY = Interval(float("nan"), float("nan"), float("nan"), 0)


def bootstrap(
    values: Sequence[float],
    statistic: Callable[[np.ndarray], float] = np.mean,
    *,
    samples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> Interval:
    """`statistic(values)` with a percentile-bootstrap interval; EMPTY for no values."""
    data = np.asarray([v for v in values if v is not None], dtype=float)
    if data.size == 0:
        return EMPTY
    point = float(statistic(data))
    if data.size == 1 or samples <= 0:
        return Interval(point, point, point, int(data.size))
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, data.size, size=(samples, data.size))
    resampled = data[draws]
    if statistic is np.mean:  # vectorised fast path for the common case
        stats = resampled.mean(axis=1)
    else:
        stats = np.array([statistic(row) for row in resampled])
    tail = (1.0 - confidence) / 2 * 100
    low, high = np.percentile(stats, [tail, 100 - tail])
    return Interval(point, float(low), float(high), int(data.size))


def percentile(q: float) -> Callable[[np.ndarray], float]:
    """A statistic for `bootstrap`: the q-th percentile (e.g. 95 for p95 latency)."""

    def stat(values: np.ndarray) -> float:
        return float(np.percentile(values, q))

    stat.__name__ = f"p{q:g}"
    return stat
