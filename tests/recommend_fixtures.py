"""Hand-built arm evidence for the recommendation and verdict tests: an accuracy and a p95 become an ArmEvidence."""

from __future__ import annotations

from ragft.evaluate.stats import Interval
from ragft.report.recommend import ArmEvidence


def iv(value: float, half: float = 0.03, n: int = 200) -> Interval:
    return Interval(value, value - half, value + half, n)


def verdicts(acc: float, n: int = 200) -> dict[str, bool]:
    """Per-probe verdicts with the given accuracy; arms built with it agree as much as they can (right on the first probes)."""
    return {f"q{i}": i < round(acc * n) for i in range(n)}


def arm(
    name: str,
    acc: float,
    p95: float,
    *,
    half: float = 0.03,
    cites: float = 0.0,
    leak: float | None = None,
    refresh_s: float | None = None,
    method: str | None = None,
) -> ArmEvidence:
    return ArmEvidence(
        name, iv(acc, half), iv(p95, 0.1), iv(cites), iv(leak) if leak is not None else None, refresh_s, method, correct=verdicts(acc)
    )
