"""Aggregate per-answer scores into per-arm metrics with bootstrap intervals, overall and per probe kind.

Every rate is a mean over the items it applies to (refusal precision: over refused answers;
citation metrics: over answered, answerable items), so each has an item count and an interval.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ragft.evaluate.scoring import Score
from ragft.evaluate.stats import Interval, bootstrap, percentile

# name -> (what it means, is a rate shown in %, higher is better)
METRICS: dict[str, tuple[str, bool, bool]] = {
    "accuracy": ("right answers (containment or exact match; refusal where the right answer is a refusal)", True, True),
    "exact_match": ("normalised exact match, answerable probes", True, True),
    "token_f1": ("token F1, answerable probes", True, True),
    "contains": ("gold answer contained in the answer, answerable probes", True, True),
    "confidently_wrong": ("answered without refusing, and wrong", True, False),
    "refusal_precision": ("of refusals, share where refusing was right", True, True),
    "refusal_recall": ("of probes that should be refused, share refused", True, True),
    "citation_rate": ("answers that cite a source", True, True),
    "citation_precision": ("cited documents that are gold documents", True, True),
    "citation_recall": ("gold documents cited", True, True),
    "cited_span_contains": ("cited passage contains the gold answer", True, True),
    "leak_rate": ("restricted probes (asked as an outsider) whose answer reveals the restricted fact", True, False),
    "stale_rate": ("changed facts answered with the value of the wrong corpus version", True, False),
    "error_rate": ("answers that raised or timed out (counted wrong)", True, False),
    "latency_p50_s": ("median answer time, seconds", False, False),
    "latency_p95_s": ("95th-percentile answer time, seconds", False, False),
    "ttft_p50_s": ("median time to first token, seconds", False, False),
    "ttft_p95_s": ("95th-percentile time to first token, seconds", False, False),
}


@dataclass(frozen=True)
class ArmSummary:
    """One arm's metrics: overall, per probe kind, and why its wrong answers were wrong."""

    arm: str
    n: int
    overall: dict[str, Interval]
    by_kind: dict[str, dict[str, Interval]]
    failures: dict[str, int] = field(default_factory=dict)
    failures_by_kind: dict[str, dict[str, int]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "arm": self.arm,
            "n": self.n,
            "overall": {k: v.to_dict() for k, v in self.overall.items()},
            "by_kind": {kind: {k: v.to_dict() for k, v in m.items()} for kind, m in self.by_kind.items()},
            "failures": dict(self.failures),
            "failures_by_kind": self.failures_by_kind,
        }


def _subset(scores: Sequence[Score], keep: Callable[[Score], bool], value: Callable[[Score], Any]) -> list[float]:
    return [float(value(s)) for s in scores if keep(s) and value(s) is not None]


def metric_values(scores: Sequence[Score]) -> dict[str, tuple[list[float], Callable | None]]:
    """For each metric, the per-item values it averages (or the latencies it takes a percentile of)."""
    answerable = lambda s: not s.should_refuse  # noqa: E731
    every = lambda s: True  # noqa: E731
    latencies = _subset(scores, every, lambda s: s.latency_s)
    ttfts = _subset(scores, every, lambda s: s.time_to_first_token_s)
    return {
        "accuracy": (_subset(scores, every, lambda s: s.correct), None),
        "exact_match": (_subset(scores, answerable, lambda s: s.exact_match), None),
        "token_f1": (_subset(scores, answerable, lambda s: s.token_f1), None),
        "contains": (_subset(scores, answerable, lambda s: s.contains), None),
        "confidently_wrong": (_subset(scores, every, lambda s: s.confidently_wrong), None),
        "refusal_precision": (_subset(scores, lambda s: s.refused, lambda s: s.should_refuse), None),
        "refusal_recall": (_subset(scores, lambda s: s.should_refuse, lambda s: s.refused), None),
        "citation_rate": (_subset(scores, every, lambda s: s.has_citation), None),
        "citation_precision": (_subset(scores, every, lambda s: s.citation_precision), None),
        "citation_recall": (_subset(scores, every, lambda s: s.citation_recall), None),
        "cited_span_contains": (_subset(scores, every, lambda s: s.cited_span_contains), None),
        "leak_rate": (_subset(scores, every, lambda s: s.leaked), None),
        "stale_rate": (_subset(scores, every, lambda s: s.stale), None),
        "error_rate": (_subset(scores, every, lambda s: s.error is not None), None),
        "latency_p50_s": (latencies, percentile(50)),
        "latency_p95_s": (latencies, percentile(95)),
        "ttft_p50_s": (ttfts, percentile(50)),
        "ttft_p95_s": (ttfts, percentile(95)),
    }


def metric_intervals(scores: Sequence[Score], *, samples: int = 1000, seed: int = 0) -> dict[str, Interval]:
    """Every metric in METRICS for these scores, with a bootstrap 95% interval."""
    out = {}
    for name, (values, stat) in metric_values(scores).items():
        out[name] = bootstrap(values, stat, samples=samples, seed=seed) if stat else bootstrap(values, samples=samples, seed=seed)
    return out


def summarize_arm(arm: str, scores: Sequence[Score], *, samples: int = 1000, seed: int = 0) -> ArmSummary:
    """Overall and per-kind metrics, and failure counts, for one arm's scores."""
    kinds = sorted({s.kind for s in scores})
    by_kind = {kind: metric_intervals([s for s in scores if s.kind == kind], samples=samples, seed=seed) for kind in kinds}
    failures = Counter(s.failure for s in scores if s.failure)
    failures_by_kind = {kind: dict(Counter(s.failure for s in scores if s.kind == kind and s.failure)) for kind in kinds}
    return ArmSummary(arm, len(scores), metric_intervals(scores, samples=samples, seed=seed), by_kind, dict(failures), failures_by_kind)
