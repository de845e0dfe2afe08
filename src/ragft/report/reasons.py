"""The sentences a recommendation is made of, the anchors they link to, and the serving-hardware caveat."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from ragft.evaluate.requirements import ArmEvidence, Requirements


@dataclass(frozen=True)
class Reason:
    """One sentence of the recommendation and the metric it rests on (`anchor` links into the report)."""

    text: str
    anchor: str
    requirement: str = ""  # which requirement a broken-rule reason is about: latency, accuracy, vs_base, citations, leak, freshness


@dataclass(frozen=True)
class Recommendation:
    arm: str | None  # the arm to ship; when meets_requirements is False, only the closest arm (not a verdict)
    headline: str
    reasons: list[Reason] = field(default_factory=list)
    ruled_out: dict[str, list[Reason]] = field(default_factory=dict)
    not_separated_from: list[str] = field(default_factory=list)
    meets_requirements: bool = True
    levers: list[str] = field(default_factory=list)  # what would change the verdict, when no arm meets the requirements

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def anchor(arm: str, metric: str) -> str:
    """The id of the report cell holding `metric` for `arm`."""
    return f"m-{arm}-{metric}"


def pair_anchor(x: str, y: str) -> str:
    """The id of the paired-table row comparing x and y (either order)."""
    return "p-" + "-".join(sorted((x, y)))


def hardware_note(rec: Recommendation, evidence: Sequence[ArmEvidence], req: Requirements, machine: str | None) -> Recommendation:
    """With `serving_hardware` set, say in the headline and reasons that latency was measured here, not there, and not checked.

    Nothing is ruled out on this machine's latency then (`report.violations` skips it); each arm whose p95
    here is over the budget is named, so the user knows what to measure on the serving hardware.
    """
    if not req.serving_hardware:
        return rec
    here = machine or "this machine"
    slow = [e for e in evidence if e.latency_p95_s.n and e.latency_p95_s.value > req.latency_budget_p95_s]
    note = Reason(
        f"Latency was measured on {here}, not on the serving hardware ({req.serving_hardware}), so no arm was ruled in or "
        f"out on the {req.latency_budget_p95_s:g} s p95 budget"
        + (
            "; over it here: " + ", ".join(f"{e.arm} (p95 {e.latency_p95_s.value:.2f} s)" for e in slow)
            if slow
            else "; every arm is within it here"
        )
        + f". Measure latency on {req.serving_hardware} before shipping",
        anchor((slow[0] if slow else evidence[0]).arm, "latency_p95_s"),
        "latency",
    )
    headline = f"{rec.headline} (Latency not checked: measured on {here}, not on {req.serving_hardware}.)"
    return replace(rec, headline=headline, reasons=[*rec.reasons, note])
