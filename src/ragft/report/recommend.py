"""Which arm to ship, from the user's requirements and the measurements — every reason names its number.

"Separated" always means the paired test (exact McNemar over the probes both arms answered,
alpha = 0.05; see `ragft.evaluate.paired`), never whether two marginal intervals overlap.

Rules, in order:
1. The base model (the arm named "base") is the floor, not a candidate. Every other arm must be
   significantly more accurate than it by the paired test; an arm without per-probe verdicts cannot
   show that and is ruled out. Without a base arm this rule is skipped.
2. Hard requirements rule arms out: accuracy below `[requirements] min_accuracy`; p95 latency over the
   budget (labelled with the machine it was measured on); citations required but the arm rarely cites
   (< 80% of its answers); restricted data present and the arm leaked any restricted fact to an
   outsider; documents change daily or weekly and the arm needs longer than a quarter of the update
   interval to become fresh. When `[requirements] serving_hardware` names other hardware than this
   machine, latency measured here is *not* checked against the budget: the headline and reasons say
   where it was measured and that it must be measured on the serving hardware.
3. Among the eligible arms, the most accurate wins. Eligible arms the paired test does not separate
   from it are *tied*, and the report says so with the minimum detectable effect; among those the tie
   goes first (when documents change) to the arm that measurably answers changed facts with their new
   values after its refresh, then to the higher point estimate of accuracy, then to lower p95 latency.
   A ruled-out arm significantly more accurate than the winner is named as the trade-off.
4. If no other arm is eligible and the base model alone meets rule 2, base is named, and the report
   says why: the questions look like general knowledge the model already holds.
5. Otherwise the headline is "No arm meets the requirements": it names the closest arm (significantly
   better than base first, then fewest broken requirements, then accuracy; between arms the paired test
   does not separate that all break the latency budget, the one with the lower p95), what it
   breaks, and the lever the measurements point at (`ragft.report.levers`); every arm's broken
   requirements are listed. `arm` then holds the closest arm with `meets_requirements = False`:
   never a verdict to ship it.
"""

from __future__ import annotations

from collections.abc import Sequence

from ragft.arms import ARMS
from ragft.evaluate.compare import CompareResult
from ragft.evaluate.paired import PairedComparison, find_pair, fmt_p, paired_table
from ragft.evaluate.requirements import ArmEvidence, Requirements
from ragft.report.levers import requirement_lever
from ragft.report.reasons import Reason, Recommendation, anchor, hardware_note, pair_anchor
from ragft.report.violations import pct, violations

__all__ = ["ArmEvidence", "Reason", "Recommendation", "Requirements", "anchor", "pair_anchor", "recommend", "violations"]
BASE_ARM = "base"


def recommend_result(result: CompareResult) -> Recommendation:
    """The recommendation for a comparison: its requirements applied to its evidence, latencies labelled with its machine.

    Diagnostic arms (`ArmSpec.diagnostic`, e.g. rag-parity) are measured and reported but are not
    candidates: they explain the others and are not a way to answer a team's questions.
    """
    candidates = [e for e in result.evidence() if not (e.arm in ARMS and ARMS[e.arm].diagnostic)]
    return recommend(candidates, result.requirements, machine=result.meta.get("machine"))


def _versus_base(e: ArmEvidence, table: Sequence[PairedComparison]) -> Reason | None:
    """Rule 1: None when `e` is significantly better than base, else why not."""
    pc = find_pair(table, e.arm, BASE_ARM)
    where = pair_anchor(e.arm, BASE_ARM)
    if pc is None:
        return Reason(
            f"{e.arm}: no per-probe verdicts to test it against base, so it is not shown to be better than the model alone",
            anchor(e.arm, "accuracy"),
            "vs_base",
        )
    if pc.better(e.arm):
        return None
    how = "does no better than" if pc.diff <= 0 else "is not significantly better than"
    return Reason(
        f"{e.arm}: {how} base, the model alone ({pc.text()}; with {pc.n} probes a difference under "
        f"{pc.mde * 100:.0f} points cannot be detected)",
        where,
        "vs_base",
    )


def recommend(evidence: Sequence[ArmEvidence], req: Requirements, *, machine: str | None = None) -> Recommendation:
    """Apply the module's rules to hand-built or measured evidence; `machine` labels the latencies."""
    if not evidence:
        return Recommendation(None, "No arms were measured, so there is nothing to recommend.", meets_requirements=False)
    table = paired_table({e.arm: e.correct for e in evidence if e.correct})
    has_base = any(e.arm == BASE_ARM for e in evidence)
    broken: dict[str, list[Reason]] = {}
    for e in evidence:
        versus = _versus_base(e, table) if has_base and e.arm != BASE_ARM else None
        broken[e.arm] = ([versus] if versus else []) + violations(e, req, machine=machine)
    ruled_out = {arm: reasons for arm, reasons in broken.items() if reasons}
    candidates = [e for e in evidence if e.arm != BASE_ARM]
    eligible = [e for e in candidates if not broken[e.arm]]
    base = next((e for e in evidence if e.arm == BASE_ARM), None)
    if eligible:
        rec = _ship(eligible, evidence, table, ruled_out, req, machine)
    elif base is not None and not broken[BASE_ARM]:
        rec = _ship_base(base, evidence, table, ruled_out, req, machine)
    else:
        rec = _none_meets(candidates or list(evidence), table, broken, ruled_out, has_base)
    return hardware_note(rec, evidence, req, machine)


def _ship(
    eligible: Sequence[ArmEvidence],
    evidence: Sequence[ArmEvidence],
    table: Sequence[PairedComparison],
    ruled_out: dict[str, list[Reason]],
    req: Requirements,
    machine: str | None,
) -> Recommendation:
    """Rule 3: the most accurate eligible arm; arms the paired test does not separate from it are tied."""
    best = max(eligible, key=lambda e: e.accuracy.value)
    tied = [e for e in eligible if e is not best and not _separated(table, best.arm, e.arm)]
    winner = min([best, *tied], key=lambda e: _tie_break_key(e, req)) if tied else best
    others = [e for e in [best, *tied] if e is not winner]
    reasons = _winner_vs_base(winner, table)
    if others:
        pcs = [find_pair(table, winner.arm, o.arm) for o in others]
        detail = "; ".join(pc.text() for pc in pcs if pc) or "no per-probe verdicts to compare"
        reasons.append(
            Reason(
                f"The paired test does not separate {winner.arm} from {', '.join(o.arm for o in others)} on accuracy "
                f"({detail}): more probes would be needed to call a winner on accuracy alone",
                pair_anchor(winner.arm, others[0].arm),
            )
        )
        reasons.extend(_tie_reasons(winner, others, req))
    else:
        runner_up = max((e for e in eligible if e is not best), key=lambda e: e.accuracy.value, default=None)
        pc = find_pair(table, best.arm, runner_up.arm) if runner_up else None
        versus = f", ahead of {runner_up.arm} ({pc.text()})" if pc and runner_up else ""
        reasons.append(
            Reason(
                f"{best.arm} is the most accurate arm that meets the requirements: {pct(best.accuracy)}{versus}",
                anchor(best.arm, "accuracy"),
            )
        )
    reasons.extend(_requirements_met(winner, req, machine))
    reasons.extend(_trade_offs(winner, [e for e in evidence if e.arm in ruled_out and e.arm != BASE_ARM], ruled_out, table))
    headline = f"Ship {winner.arm}." if not others else f"Ship {winner.arm} (tied on accuracy; chosen on the requirements)."
    return Recommendation(winner.arm, headline, reasons, ruled_out, [o.arm for o in others])


def _ship_base(
    base: ArmEvidence,
    evidence: Sequence[ArmEvidence],
    table: Sequence[PairedComparison],
    ruled_out: dict[str, list[Reason]],
    req: Requirements,
    machine: str | None,
) -> Recommendation:
    """Rule 4: the base model alone meets the requirements."""
    reasons = [
        Reason(
            f"Only the base model meets the requirements: {pct(base.accuracy)} closed-book, with no documents. The "
            "questions look like general knowledge the model already holds; no other arm is both significantly better "
            "and within the requirements",
            anchor(BASE_ARM, "accuracy"),
        )
    ]
    reasons.extend(_requirements_met(base, req, machine))
    reasons.extend(_trade_offs(base, [e for e in evidence if e.arm in ruled_out], ruled_out, table))
    return Recommendation(BASE_ARM, "Ship base: only the model alone meets the requirements.", reasons, ruled_out)


def _none_meets(
    candidates: Sequence[ArmEvidence],
    table: Sequence[PairedComparison],
    broken: dict[str, list[Reason]],
    ruled_out: dict[str, list[Reason]],
    has_base: bool,
) -> Recommendation:
    """Rule 5: no arm to ship; the closest one, what it breaks and the lever for each broken requirement."""

    closest, tie_reasons = _closest(candidates, table, broken)
    reasons = []
    if has_base and closest.arm != BASE_ARM and not any(r.requirement == "vs_base" for r in broken[closest.arm]):
        better = [e.arm for e in candidates if not any(r.requirement == "vs_base" for r in broken[e.arm])]
        pc = find_pair(table, closest.arm, BASE_ARM)
        only = "the only arm" if len(better) == 1 else f"one of {len(better)} arms ({', '.join(better)})"
        reasons.append(
            Reason(
                f"{closest.arm} is {only} clearly better than the base model ({closest.accuracy.value:.1%} vs "
                f"{pc.accuracy_b:.1%}, p = {fmt_p(pc.p_value)})"
                if pc
                else f"{closest.arm} is closest",
                pair_anchor(closest.arm, BASE_ARM),
            )
        )
    elif has_base:
        reasons.append(
            Reason(
                "No arm is significantly more accurate than the base model: nothing here beats answering without "
                "the documents on these probes",
                anchor(closest.arm, "accuracy"),
            )
        )
    reasons.extend(tie_reasons)
    pairs = [(r, requirement_lever(closest, r.requirement)) for r in broken[closest.arm]]
    levers = list(dict.fromkeys(lever for _, lever in pairs))
    reasons.extend(
        Reason(f"Broken: {r.text.removeprefix(f'{closest.arm}: ')}. What would change it: {lever}", r.anchor) for r, lever in pairs
    )
    breaks = "; ".join(r.text.removeprefix(f"{closest.arm}: ") for r in broken[closest.arm])
    headline = (
        f"No arm meets the requirements. Closest: {closest.arm} ({breaks}). Lever: {levers[0]}."
        if levers
        else f"No arm meets the requirements. Closest: {closest.arm}."
    )
    return Recommendation(closest.arm, headline, reasons, ruled_out, [], meets_requirements=False, levers=levers)


def _latency(e: ArmEvidence) -> float:
    return e.latency_p95_s.value if e.latency_p95_s.n else float("inf")


def _closest(
    candidates: Sequence[ArmEvidence], table: Sequence[PairedComparison], broken: dict[str, list[Reason]]
) -> tuple[ArmEvidence, list[Reason]]:
    """Rule 5's closest arm, and why it beat an arm it is tied with.

    Arms that beat base come first, then those breaking fewer requirements. Within that group the
    arms the paired test does not separate from the most accurate one are tied on accuracy; when
    every tied arm breaks the latency budget, the one with the lower p95 is nearer to meeting it
    (a higher point estimate inside a tie is noise, a slower p95 is a measured distance); otherwise
    the higher point estimate, then the lower p95, decides.
    """

    def rank(e: ArmEvidence) -> tuple[bool, int]:
        return (any(r.requirement == "vs_base" for r in broken[e.arm]), len(broken[e.arm]))

    best_rank = min(map(rank, candidates))
    group = [e for e in candidates if rank(e) == best_rank]
    top = min(group, key=lambda e: (-e.accuracy.value, _latency(e)))
    tied = [e for e in group if e is top or not _separated(table, e.arm, top.arm)]
    if len(tied) == 1 or not all(any(r.requirement == "latency" for r in broken[e.arm]) for e in tied):
        return top, []
    nearest = min(tied, key=lambda e: (_latency(e), -e.accuracy.value))
    if nearest is top:
        return top, []
    pc = find_pair(table, nearest.arm, top.arm)
    why = Reason(
        f"{nearest.arm} and {top.arm} are tied on accuracy ({nearest.accuracy.value:.1%} vs {top.accuracy.value:.1%}"
        + (f", p = {fmt_p(pc.p_value)}" if pc else "")
        + f") and both exceed the latency budget; {nearest.arm} is nearer to it (p95 {_latency(nearest):.2f} s vs "
        f"{_latency(top):.2f} s)",
        pair_anchor(nearest.arm, top.arm),
    )
    return nearest, [why]


def _separated(table: Sequence[PairedComparison], x: str, y: str) -> bool:
    pc = find_pair(table, x, y)
    return pc is not None and pc.separated


def _winner_vs_base(winner: ArmEvidence, table: Sequence[PairedComparison]) -> list[Reason]:
    pc = find_pair(table, winner.arm, BASE_ARM)
    if pc is None:
        return []
    return [
        Reason(
            f"{winner.arm} is significantly more accurate than the base model, the floor ({pc.text()})", pair_anchor(winner.arm, BASE_ARM)
        )
    ]


def _requirements_met(winner: ArmEvidence, req: Requirements, machine: str | None) -> list[Reason]:
    """The requirements the shipped arm meets, each with its number."""
    where = f" (measured on {machine})" if machine else ""
    latency = (
        f"{winner.arm} answers within the latency budget: p95 {winner.latency_p95_s.value:.2f} s ≤ {req.latency_budget_p95_s:g} s{where}"
        if not req.serving_hardware
        else f"{winner.arm}'s p95 latency is {winner.latency_p95_s.value:.2f} s on {machine or 'this machine'}, not on the "
        f"serving hardware ({req.serving_hardware}): not checked against the {req.latency_budget_p95_s:g} s budget"
    )
    out = [
        Reason(
            f"{winner.arm} answers {pct(winner.accuracy)} right, at least the required {req.min_accuracy:.0%}",
            anchor(winner.arm, "accuracy"),
        ),
        Reason(latency, anchor(winner.arm, "latency_p95_s")),
    ]
    if req.restricted_data and winner.leak_rate is not None and winner.leak_rate.n:
        out.append(
            Reason(
                f"{winner.arm} leaked no restricted fact to an outsider ({winner.leak_rate.n} restricted probes)",
                anchor(winner.arm, "leak_rate"),
            )
        )
    if winner.refresh_s is not None and winner.refresh_method not in (None, "none"):
        text = (
            f"{winner.arm} catches up with a document update in {winner.refresh_s:.1f} s ({winner.refresh_method})"
            if winner.refresh_performed
            else f"{winner.arm} would need a {winner.refresh_method} after a document update: {winner.refresh_s:.1f} s, the time its "
            "training took (not re-run in this comparison, so its answers stayed stale)"
        )
        out.append(Reason(text, f"f-{winner.arm}-refresh"))
    return out


def _trade_offs(
    winner: ArmEvidence, ruled: Sequence[ArmEvidence], ruled_out: dict[str, list[Reason]], table: Sequence[PairedComparison]
) -> list[Reason]:
    """Say what the requirements cost: a ruled-out arm the paired test finds significantly better, and what ruled it out."""
    out = []
    for other in sorted(ruled, key=lambda e: -e.accuracy.value):
        pc = find_pair(table, other.arm, winner.arm)
        if pc is not None and pc.better(other.arm):
            why = "; ".join(r.text.removeprefix(f"{other.arm}: ") for r in ruled_out[other.arm])
            out.append(
                Reason(
                    f"Trade-off: {other.arm} answers more questions correctly ({pct(other.accuracy)} vs "
                    f"{pct(winner.accuracy)}; {pc.text()}) but was ruled out: {why}. Relaxing that requirement "
                    "would change this recommendation.",
                    anchor(other.arm, "accuracy"),
                )
            )
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
            out.append(
                Reason(
                    f"With {req.update_frequency} updates, {winner.arm} answers changed facts with their new values after its "
                    f"refresh ({winner.fresh_after or 0:.0%} vs {other.fresh_after or 0:.0%} for {other.arm})",
                    f"f-{winner.arm}-refresh",
                )
            )
        elif w[1] < o[1]:
            out.append(
                Reason(
                    f"Of the two, {winner.arm} has the higher point estimate ({winner.accuracy.value:.1%} vs "
                    f"{other.accuracy.value:.1%} for {other.arm}); more probes would tell whether that holds",
                    anchor(winner.arm, "accuracy"),
                )
            )
        elif winner.latency_p95_s.value <= other.latency_p95_s.value:
            out.append(
                Reason(
                    f"{winner.arm} is faster: p95 {winner.latency_p95_s.value:.2f} s vs {other.latency_p95_s.value:.2f} s for {other.arm}",
                    anchor(winner.arm, "latency_p95_s"),
                )
            )
    return out
