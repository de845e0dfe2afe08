"""The freshness scenario: the documents change; how stale is each arm, and what does it cost to catch up?

Protocol, per arm, on the `changed_fact` probes, all scored against the NEW corpus version:
1. *before refresh*: the arm as built on the old version answers (a stale answer gives the old value);
2. *refresh*: RAG re-indexes incrementally (only new text is embedded), timed, and answers from a
   new system over the new index (the arm as built is left as it was); a fine-tuned arm retrains (timed, when a retrain callable is given) or reports the training time from its
   manifest without retraining, in which case it stays stale;
3. *after refresh*: the arm answers again.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ragft.evaluate.runner import AnswerRecord, answers_path, progress_bar, reuse_records, run_arm
from ragft.evaluate.scoring import score_all
from ragft.evaluate.stats import Interval, bootstrap
from ragft.systems.build import index_corpus
from ragft.types import QAItem, System, retrieving


@dataclass(frozen=True)
class RefreshResult:
    """What making an arm know the new corpus version cost."""

    method: str  # "re-index" | "retrain" | "none"
    seconds: float  # wall time it took (or takes, when only reported)
    performed: bool  # False: the time is reported from a manifest; the arm was not refreshed here
    detail: str = ""


Refresher = Callable[[System], tuple[System, RefreshResult]]  # the refreshed system (a new one, or the same) and its cost


@dataclass(frozen=True)
class FreshnessResult:
    """One arm's stale and fresh answer rates on changed facts, before and after its refresh."""

    arm: str
    stale_before: Interval
    fresh_before: Interval
    stale_after: Interval
    fresh_after: Interval
    refresh: RefreshResult

    def to_dict(self) -> dict[str, Any]:
        return {
            "arm": self.arm,
            "refresh": asdict(self.refresh),
            **{k: getattr(self, k).to_dict() for k in ("stale_before", "fresh_before", "stale_after", "fresh_after")},
        }


def rag_refresher(ws: Any, version: int, *, embedder: Any = None) -> Refresher:
    """Re-index corpus `version` (incrementally), timed; the refreshed arm is the old one over the new index.

    An arm that answers without retrieval cannot be refreshed by re-indexing: it is reported as
    not applicable (and stays as it was) rather than left out.
    """

    def refresh(system: System) -> tuple[System, RefreshResult]:
        arm = retrieving(system)
        if arm is None:
            return system, RefreshResult("none", 0.0, False, "not applicable: answers without retrieval, so re-indexing cannot refresh it")
        started = time.perf_counter()
        indexed = index_corpus(ws, version, embedder=embedder)
        fresh = arm.with_retriever(indexed.retriever)
        seconds = time.perf_counter() - started
        stats = indexed.stats
        detail = f"{getattr(stats, 'chunks_embedded', '?')} chunks embedded, {getattr(stats, 'chunks_reused', '?')} reused"
        return fresh, RefreshResult("re-index", seconds, True, detail)

    return refresh


def retrain_refresher(retrain: Callable[[System], System]) -> Refresher:
    """Retrain with `retrain(system)`, which returns the retrained system, timed."""

    def refresh(system: System) -> tuple[System, RefreshResult]:
        started = time.perf_counter()
        retrained = retrain(system)
        return retrained, RefreshResult("retrain", time.perf_counter() - started, True)

    return refresh


def manifest_refresher(training_s: float, *, method: str = "retrain") -> Refresher:
    """Report the time a retrain takes (from the training manifest) without running it: the arm stays stale."""
    return lambda system: (
        system,
        RefreshResult(method, float(training_s), False, "not retrained in this run; time from the training manifest"),
    )


def measure_freshness(
    systems: Mapping[str, System],
    probes: Sequence[QAItem],
    run_dir: Path,
    *,
    new_version: int,
    refreshers: Mapping[str, Refresher],
    timeout_s: float | None = None,
    samples: int = 1000,
    seed: int = 0,
    show_progress: bool = True,
    answered: Mapping[str, Sequence[AnswerRecord]] | None = None,
) -> dict[str, FreshnessResult]:
    """Stale/fresh rates before and after each arm's refresh; arms without a refresher are not refreshed.

    `answered` holds the main run's records per arm (made on the old version): they are the
    *before* answers, so they are reused; an arm that was not actually refreshed answers the same
    after, so its *before* answers are reused again.
    """
    changed = [item for item in probes if item.kind == "changed_fact" and item.meta.get("answers_v2")]
    results: dict[str, FreshnessResult] = {}
    if not changed:
        return results
    folder = run_dir / "freshness"
    with progress_bar(enabled=show_progress) as progress:
        for name, system in systems.items():
            before_records = reuse_records(answered, name, changed, knows_version=new_version)
            if before_records is None:
                before_records = run_arm(
                    system,
                    changed,
                    answers_path(run_dir, name, "freshness/before"),
                    knows_version=new_version,
                    timeout_s=timeout_s,
                    warmup_questions=0,
                    progress=progress,
                )
            refreshed, refresh = _refresh_once(name, system, refreshers.get(name), folder)
            after_records = before_records
            if refresh.performed:
                after_records = run_arm(
                    refreshed,
                    changed,
                    answers_path(run_dir, name, "freshness/after"),
                    knows_version=new_version,
                    timeout_s=timeout_s,
                    warmup_questions=0,
                    progress=progress,
                )
            before, after = score_all(before_records, changed), score_all(after_records, changed)

            def rate(scores: list, field: str) -> Interval:
                return bootstrap([float(getattr(s, field) or 0.0) for s in scores], samples=samples, seed=seed)

            results[name] = FreshnessResult(
                name, rate(before, "stale"), rate(before, "correct"), rate(after, "stale"), rate(after, "correct"), refresh
            )
    return results


def _refresh_once(name: str, system: System, refresher: Refresher | None, folder: Path) -> tuple[System, RefreshResult]:
    """Run the refresher (also on resume: a rebuilt arm knows only the old version) and note its cost."""
    note = folder / f"refresh-{name}.json"
    if refresher is None:
        return system, RefreshResult("none", 0.0, False, "no refresh defined for this arm")
    refreshed, result = refresher(system)
    folder.mkdir(parents=True, exist_ok=True)
    note.write_text(json.dumps(asdict(result)), encoding="utf-8")
    return refreshed, result
