"""Which arm to ship, from the user's requirements and the measurements — every reason names its number.

Rules, in order:
1. Hard requirements rule arms out: p95 latency over the budget; citations required but the arm
   rarely cites (< 80% of its answers); restricted data present and the arm leaked any restricted
   fact to an outsider; documents change daily or weekly and the arm needs longer than a quarter
   of the update interval to become fresh.
2. Among the rest, the most accurate arm wins. Arms whose accuracy interval overlaps the winner's
   are *not separated* by the evidence, and the report says so; among those, the tie goes first
   (when documents change) to the arm that measurably answers changed facts with their new values
   after its refresh, then to the higher point estimate of accuracy, then to lower p95 latency.
   What a refresh costs is judged by rule 1 (too slow for the update interval rules an arm out),
   not used again to pick among tied arms.
3. If every arm is ruled out, the closest one (fewest broken rules, then accuracy) is named, and
   the headline says that none meets the requirements.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from ragft.evaluate.compare import CompareResult
from ragft.evaluate.requirements import UPDATE_INTERVAL_S, ArmEvidence, Requirements
from ragft.evaluate.stats import Interval

__all__ = ["ArmEvidence", "Reason", "Recommendation", "Requirements", "anchor", "recommend", "violations"]
CITATION_RATE_NEEDED = 0.8
REFRESH_SHARE_OF_INTERVAL = 0.25


@dataclass(frozen=True)
class Reason:
    """One sentence of the recommendation and the metric it rests on (`anchor` links into the report)."""

    text: str
    anchor: str


@dataclass(frozen=True)
class Recommendation:
    arm: str | None
    headline: str
    reasons: list[Reason] = field(default_factory=list)
    ruled_out: dict[str, list[Reason]] = field(default_factory=dict)
    not_separated_from: list[str] = field(default_factory=list)
    meets_requirements: bool = True

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def anchor(arm: str, metric: str) -> str:
    """The id of the report cell holding `metric` for `arm`."""
    return f"m-{arm}-{metric}"


def _pct(interval: Interval) -> str:
    return interval.fmt()


def violations(evidence: ArmEvidence, req: Requirements) -> list[Reason]:
    """The hard requirements this arm breaks, each with the number that breaks it."""
    out = []
    p95 = evidence.latency_p95_s
    if p95.n and p95.value > req.latency_budget_p95_s:
        out.append(Reason(f"{evidence.arm}: p95 latency {p95.value:.2f} s exceeds the budget of {req.latency_budget_p95_s:g} s",
                          anchor(evidence.arm, "latency_p95_s")))  # fmt: skip
    cites = evidence.citation_rate
    if req.citations_required and (cites is None or not cites.n or cites.value < CITATION_RATE_NEEDED):
        rate = "no answers" if cites is None or not cites.n else f"{cites.value:.0%} of answers"
        out.append(Reason(f"{evidence.arm}: citations are required but it cites a source in {rate} (needs {CITATION_RATE_NEEDED:.0%})",
                          anchor(evidence.arm, "citation_rate")))  # fmt: skip
    leak = evidence.leak_rate
    if req.restricted_data and leak is not None and leak.n and leak.value > 0:
        out.append(Reason(f"{evidence.arm}: revealed restricted facts to an outsider in {_pct(leak)} of restricted probes",
                          anchor(evidence.arm, "leak_rate")))  # fmt: skip
    interval_s = UPDATE_INTERVAL_S[req.update_frequency]
    if interval_s and req.update_frequency in ("daily", "weekly") and evidence.refresh_s is not None:
        if evidence.refresh_s > REFRESH_SHARE_OF_INTERVAL * interval_s:
            out.append(Reason(f"{evidence.arm}: needs {evidence.refresh_s / 3600:.1f} h ({evidence.refresh_method}) to become fresh, "
                              f"over a quarter of the {req.update_frequency} update interval", f"f-{evidence.arm}-refresh"))  # fmt: skip
    return out


def recommend_result(result: CompareResult) -> Recommendation:
    """The recommendation for a comparison: its requirements applied to its evidence."""
    return recommend(result.evidence(), result.requirements)


def recommend(evidence: Sequence[ArmEvidence], req: Requirements) -> Recommendation:
    """Apply the module's rules to hand-built or measured evidence."""
    if not evidence:
        return Recommendation(None, "No arms were measured, so there is nothing to recommend.", meets_requirements=False)
    broken = {e.arm: violations(e, req) for e in evidence}
    eligible = [e for e in evidence if not broken[e.arm]]
    ruled_out = {arm: reasons for arm, reasons in broken.items() if reasons}
    if not eligible:
        closest = min(evidence, key=lambda e: (len(broken[e.arm]), -e.accuracy.value))
        return Recommendation(closest.arm, f"No arm meets every requirement; the closest is {closest.arm}.",
                              [Reason(f"{closest.arm} is the most accurate of the arms that break the fewest requirements "
                                      f"(accuracy {_pct(closest.accuracy)})", anchor(closest.arm, "accuracy"))],
                              ruled_out, [], meets_requirements=False)  # fmt: skip
    best = max(eligible, key=lambda e: e.accuracy.value)
    tied = [e for e in eligible if e is not best and e.accuracy.overlaps(best.accuracy)]
    reasons: list[Reason] = []
    winner = best
    if tied:
        contenders = [best, *tied]
        winner = min(contenders, key=lambda e: _tie_break_key(e, req))
        names = ", ".join(e.arm for e in contenders if e is not winner)
        reasons.append(Reason(f"The evidence does not separate {winner.arm} from {names} on accuracy: their 95% intervals overlap "
                              f"({winner.arm} {_pct(winner.accuracy)}; " + "; ".join(f"{e.arm} {_pct(e.accuracy)}" for e in contenders if e is not winner) + ")",
                              anchor(winner.arm, "accuracy")))  # fmt: skip
        reasons.extend(_tie_reasons(winner, [e for e in contenders if e is not winner], req))
    else:
        runner_up = max((e for e in eligible if e is not best), key=lambda e: e.accuracy.value, default=None)
        versus = f", ahead of {runner_up.arm} at {_pct(runner_up.accuracy)} with non-overlapping intervals" if runner_up else ""
        reasons.append(Reason(f"{best.arm} is the most accurate arm that meets the requirements: {_pct(best.accuracy)}{versus}",
                              anchor(best.arm, "accuracy")))  # fmt: skip
    reasons.append(Reason(f"{winner.arm} answers within the latency budget: p95 {winner.latency_p95_s.value:.2f} s "
                          f"≤ {req.latency_budget_p95_s:g} s", anchor(winner.arm, "latency_p95_s")))  # fmt: skip
    if req.restricted_data and winner.leak_rate is not None and winner.leak_rate.n:
        reasons.append(Reason(f"{winner.arm} leaked no restricted fact to an outsider ({winner.leak_rate.n} restricted probes)",
                              anchor(winner.arm, "leak_rate")))  # fmt: skip
    if winner.refresh_s is not None and winner.refresh_method not in (None, "none"):
        text = (f"{winner.arm} catches up with a document update in {winner.refresh_s:.1f} s ({winner.refresh_method})" if winner.refresh_performed
                else f"{winner.arm} would need a {winner.refresh_method} after a document update: {winner.refresh_s:.1f} s, the time its "
                     "training took (not re-run in this comparison, so its answers stayed stale)")  # fmt: skip
        reasons.append(Reason(text, f"f-{winner.arm}-refresh"))
    reasons.extend(_trade_offs(winner, [e for e in evidence if e.arm in ruled_out], ruled_out))
    headline = f"Ship {winner.arm}." if not tied else f"Ship {winner.arm} (tied on accuracy; chosen on the requirements)."
    return Recommendation(winner.arm, headline, reasons, ruled_out, [e.arm for e in tied if e is not winner] +
                          ([best.arm] if winner is not best else []))  # fmt: skip


def _trade_offs(winner: ArmEvidence, ruled: Sequence[ArmEvidence], ruled_out: dict[str, list[Reason]]) -> list[Reason]:
    """Say what the requirements cost: a ruled-out arm that answers clearly better, and what ruled it out."""
    out = []
    for other in sorted(ruled, key=lambda e: -e.accuracy.value):
        if other.accuracy.value > winner.accuracy.value and not other.accuracy.overlaps(winner.accuracy):
            why = "; ".join(r.text.removeprefix(f"{other.arm}: ") for r in ruled_out[other.arm])
            out.append(Reason(f"Trade-off: {other.arm} answers more questions correctly ({_pct(other.accuracy)} vs "
                              f"{_pct(winner.accuracy)}) but was ruled out: {why}. Relaxing that requirement would change "
                              "this recommendation.", anchor(other.arm, "accuracy")))  # fmt: skip
    return out


def _tie_break_key(e: ArmEvidence, req: Requirements) -> tuple[float, float, float]:
    fresh = 0.0 if req.update_frequency == "rarely" else -(e.fresh_after or 0.0)
    latency = e.latency_p95_s.value if e.latency_p95_s.n else float("inf")
    return (fresh, -e.accuracy.value, latency)


def _tie_reasons(winner: ArmEvidence, others: Sequence[ArmEvidence], req: Requirements) -> list[Reason]:
    out = []
    for other in others:
        w, o = _tie_break_key(winner, req), _tie_break_key(other, req)
        if w[0] < o[0]:
            out.append(Reason(f"With {req.update_frequency} updates, {winner.arm} answers changed facts with their new values after its "
                              f"refresh ({winner.fresh_after or 0:.0%} vs {other.fresh_after or 0:.0%} for {other.arm})",
                              f"f-{winner.arm}-refresh"))  # fmt: skip
        elif w[1] < o[1]:
            out.append(Reason(f"Of the two, {winner.arm} has the higher point estimate ({winner.accuracy.value:.1%} vs "
                              f"{other.accuracy.value:.1%} for {other.arm}); more probes would tell whether that holds",
                              anchor(winner.arm, "accuracy")))  # fmt: skip
        elif winner.latency_p95_s.value <= other.latency_p95_s.value:
            out.append(Reason(f"{winner.arm} is faster: p95 {winner.latency_p95_s.value:.2f} s vs {other.latency_p95_s.value:.2f} s for {other.arm}",
                              anchor(winner.arm, "latency_p95_s")))  # fmt: skip
    return out
