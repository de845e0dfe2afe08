"""Rule 2 of the recommendation: the hard requirements an arm breaks, each with the number that breaks it."""

from __future__ import annotations

from ragft.evaluate.requirements import UPDATE_INTERVAL_S, ArmEvidence, Requirements
from ragft.evaluate.stats import Interval
from ragft.report.reasons import Reason, anchor

CITATION_RATE_NEEDED = 0.8
REFRESH_SHARE_OF_INTERVAL = 0.25


def pct(interval: Interval) -> str:
    """A rate with its interval, as the reasons quote it."""
    return interval.fmt()


def violations(evidence: ArmEvidence, req: Requirements, *, machine: str | None = None) -> list[Reason]:
    """The hard requirements this arm breaks (rule 2), each with the number that breaks it."""
    out = []
    acc = evidence.accuracy
    if acc.n and acc.value < req.min_accuracy:
        out.append(
            Reason(
                f"{evidence.arm}: accuracy {pct(acc)} is below the required {req.min_accuracy:.0%} ([requirements] min_accuracy)",
                anchor(evidence.arm, "accuracy"),
                "accuracy",
            )
        )
    p95 = evidence.latency_p95_s
    if p95.n and p95.value > req.latency_budget_p95_s and not req.serving_hardware:  # measured elsewhere: see _hardware_note
        where = f" (measured on {machine})" if machine else ""
        out.append(
            Reason(
                f"{evidence.arm}: p95 latency {p95.value:.2f} s exceeds the budget of {req.latency_budget_p95_s:g} s{where}",
                anchor(evidence.arm, "latency_p95_s"),
                "latency",
            )
        )
    cites = evidence.citation_rate
    if req.citations_required and (cites is None or not cites.n or cites.value < CITATION_RATE_NEEDED):
        rate = "no answers" if cites is None or not cites.n else f"{cites.value:.0%} of answers"
        out.append(
            Reason(
                f"{evidence.arm}: citations are required but it cites a source in {rate} (needs {CITATION_RATE_NEEDED:.0%})",
                anchor(evidence.arm, "citation_rate"),
                "citations",
            )
        )
    leak = evidence.leak_rate
    if req.restricted_data and leak is not None and leak.n and leak.value > 0:
        out.append(
            Reason(
                f"{evidence.arm}: revealed restricted facts to an outsider in {pct(leak)} of restricted probes",
                anchor(evidence.arm, "leak_rate"),
                "leak",
            )
        )
    interval_s = UPDATE_INTERVAL_S[req.update_frequency]
    if interval_s and req.update_frequency in ("daily", "weekly") and evidence.refresh_s is not None:
        if evidence.refresh_s > REFRESH_SHARE_OF_INTERVAL * interval_s:
            out.append(
                Reason(
                    f"{evidence.arm}: needs {evidence.refresh_s / 3600:.1f} h ({evidence.refresh_method}) to become fresh, "
                    f"over a quarter of the {req.update_frequency} update interval",
                    f"f-{evidence.arm}-refresh",
                    "freshness",
                )
            )
    return out
