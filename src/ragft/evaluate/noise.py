"""Sensitivity to retrieval noise: accuracy of the retrieving arms as the number of passages k varies.

More passages raise the chance the answer is in the prompt but add distractors; RAFT's claim is
that training on distractors makes the hybrid arm robust to them. An arm takes part when it
retrieves (`ragft.types.RetrievingSystem`): each k is answered by `system.with_k(k)`, a new
system, so the arm itself is never changed. An arm that answers without retrieval has no k to
vary: the sweep says so for it instead of leaving it out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ragft.evaluate.runner import AnswerRecord, answers_path, progress_bar, reuse_records, run_arm
from ragft.evaluate.scoring import score_all
from ragft.evaluate.stats import Interval, bootstrap
from ragft.types import QAItem, System, retrieving


@dataclass(frozen=True)
class NoisePoint:
    """One arm at one k: accuracy, and how often a gold document made it into the prompt."""

    arm: str
    k: int
    accuracy: Interval
    gold_in_context: Interval

    def to_dict(self) -> dict[str, Any]:
        return {"arm": self.arm, "k": self.k, "accuracy": self.accuracy.to_dict(), "gold_in_context": self.gold_in_context.to_dict()}


NOT_RETRIEVING = "not applicable: answers without retrieval, so there is no passage count to vary"


@dataclass(frozen=True)
class NoiseSweep:
    """The sweep's points, and every arm it could not sweep with the reason."""

    points: list[NoisePoint] = field(default_factory=list)
    not_applicable: dict[str, str] = field(default_factory=dict)  # arm -> why it has no points

    def to_dict(self) -> dict[str, Any]:
        return {"points": [p.to_dict() for p in self.points], "not_applicable": dict(self.not_applicable)}


def retrieving_arms(systems: Mapping[str, System]) -> list[str]:
    """Arms whose passage count can be varied (they retrieve)."""
    return [name for name, system in systems.items() if retrieving(system) is not None]


def sweep_probes(probes: Sequence[QAItem], limit: int) -> list[QAItem]:
    """Up to `limit` answerable, public probes, taken round-robin over kinds so no kind dominates."""
    by_kind: dict[str, list[QAItem]] = {}
    for item in probes:
        if item.answerable and item.kind not in ("restricted", "out_of_scope"):
            by_kind.setdefault(item.kind, []).append(item)
    picked: list[QAItem] = []
    while len(picked) < limit and any(by_kind.values()):
        for items in by_kind.values():
            if items and len(picked) < limit:
                picked.append(items.pop(0))
    return picked


def noise_sweep(
    systems: Mapping[str, System],
    probes: Sequence[QAItem],
    run_dir: Path,
    *,
    ks: Sequence[int] = (1, 3, 5, 10),
    limit: int = 40,
    knows_version: Mapping[str, int] | int | None = None,
    timeout_s: float | None = None,
    samples: int = 1000,
    seed: int = 0,
    show_progress: bool = True,
    answered: Mapping[str, Sequence[AnswerRecord]] | None = None,
) -> NoiseSweep:
    """Accuracy at every k for every retrieving arm, on a fixed subset of probes (resumable like the main run).

    `answered` holds the main run's records per arm: at the arm's own k they are the same answers
    (greedy decoding, same prompt), so they are reused instead of generated again.
    """
    subset = sweep_probes(probes, limit)
    not_applicable = {name: NOT_RETRIEVING for name, system in systems.items() if retrieving(system) is None}
    if not subset:
        return NoiseSweep([], {**not_applicable, **{n: "no answerable public probes to sweep" for n in retrieving_arms(systems)}})
    points: list[NoisePoint] = []
    gold = {item.qid: set(item.gold_doc_ids) for item in subset}
    with progress_bar(enabled=show_progress) as progress:
        for name, system in systems.items():
            arm = retrieving(system)
            if arm is None:
                continue
            version = knows_version.get(name) if isinstance(knows_version, Mapping) else knows_version
            for k in ks:
                records = reuse_records(answered, name, subset) if k == arm.k else None
                if records is None:
                    records = run_arm(
                        arm.with_k(k),
                        subset,
                        answers_path(run_dir, name, f"noise/k{k}"),
                        knows_version=version,
                        timeout_s=timeout_s,
                        warmup_questions=0,
                        progress=progress,
                    )
                scores = score_all(records, subset)
                in_context = [
                    float(any(h.get("in_prompt", True) and h.get("doc_id") in gold[r.qid] for h in r.trace.get("hits", [])))
                    for r in records
                ]
                points.append(
                    NoisePoint(
                        name,
                        k,
                        bootstrap([s.correct for s in scores], samples=samples, seed=seed),
                        bootstrap(in_context, samples=samples, seed=seed),
                    )
                )
    return NoiseSweep(points, not_applicable)
