"""`compare`: one evaluator for every arm — run, score, sweep k, and gather what the report needs.

The arms arrive as ready `System`s (base, rag, finetuned, hybrid, or any the user adds), so this
module never builds or trains anything. Costs the arms incurred while being built (training,
indexing, memory, disk) come in as `ArmCost`s; freshness (which needs a corpus update between
runs) and domain distance are measured by their own modules and attached with `dataclasses.replace`
or the `freshness=` / `domain=` arguments, before `report.write_report` turns it all into HTML.
With `[evaluation] judge` set (or a `judge=` generator passed in), an LLM judge grades every answer
after the run, beside the string metrics (see `ragft.evaluate.judge`).
"""

from __future__ import annotations

import resource
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ragft.config import EvaluationConfig, ModelsConfig
from ragft.evaluate.domain import DomainDistance
from ragft.evaluate.freshness import FreshnessResult
from ragft.evaluate.judge import Judge, JudgeReport, build_judge_generator, judge_arms
from ragft.evaluate.noise import NoisePoint, noise_sweep
from ragft.evaluate.paired import correct_by_qid, paired_summary
from ragft.evaluate.requirements import ArmEvidence, Requirements
from ragft.evaluate.runner import AnswerRecord, run_arms
from ragft.evaluate.scoring import Score, score_all
from ragft.evaluate.summary import ArmSummary, summarize_arm
from ragft.models.base import Generator
from ragft.models.runtime import describe_machine
from ragft.types import QAItem, System


@dataclass(frozen=True)
class ArmCost:
    """What building an arm cost; None where it does not apply or was not measured."""

    training_s: float | None = None
    indexing_s: float | None = None
    peak_memory_mb: float | None = None
    disk_mb: float | None = None
    note: str = ""


@dataclass(frozen=True)
class CompareResult:
    """Everything one comparison measured, traceable to the per-answer JSONL in `run_dir`."""

    run_dir: Path
    probes: list[QAItem]
    records: dict[str, list[AnswerRecord]]
    scores: dict[str, list[Score]]
    summaries: dict[str, ArmSummary]
    requirements: Requirements
    costs: dict[str, ArmCost] = field(default_factory=dict)
    noise: list[NoisePoint] = field(default_factory=list)
    freshness: dict[str, FreshnessResult] = field(default_factory=dict)
    domain: DomainDistance | None = None
    probe_stats: dict[str, Any] = field(default_factory=dict)  # counts, rejected, gold check
    stages_s: dict[str, float] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    injection: dict[str, dict[str, Any]] = field(default_factory=dict)  # arm -> rate, probes, exposed, caught
    judge: JudgeReport | None = None  # the optional LLM judge's verdicts and agreement with the string metrics

    @property
    def arms(self) -> list[str]:
        return list(self.summaries)

    def evidence(self) -> list[ArmEvidence]:
        """The measurements the recommendation rules read, per arm."""
        out = []
        for arm, summary in self.summaries.items():
            m = summary.overall
            fresh = self.freshness.get(arm)
            refresh_s = fresh.refresh.seconds if fresh and fresh.refresh.method != "none" else None
            out.append(ArmEvidence(arm, m["accuracy"], m["latency_p95_s"], m["citation_rate"],
                                   m["leak_rate"] if m["leak_rate"].n else None, refresh_s,
                                   fresh.refresh.method if fresh else None, fresh.refresh.performed if fresh else True,
                                   fresh.fresh_after.value if fresh and fresh.fresh_after.n else None,
                                   correct_by_qid(self.scores[arm]), summary.failures, summary.failures_by_kind))  # fmt: skip
        return out

    def recommendation(self) -> Any:
        """The recommendation from the requirements and this evidence (rules in `ragft.report.recommend`)."""
        from ragft.report.recommend import (
            recommend,  # report consumes evaluate; imported late to keep layers one-way
        )

        return recommend(self.evidence(), self.requirements, machine=self.meta.get("machine"))

    def summary_dict(self) -> dict[str, Any]:
        """The machine-readable summary (summary.json): every metric with its interval, per arm and kind."""
        return {
            "meta": self.meta,
            "requirements": asdict(self.requirements),
            "recommendation": self.recommendation().to_dict(),
            "arms": {arm: {**s.to_dict(), "cost": asdict(self.costs.get(arm, ArmCost()))} for arm, s in self.summaries.items()},
            "noise": [p.to_dict() for p in self.noise],
            "freshness": {arm: f.to_dict() for arm, f in self.freshness.items()},
            "domain": self.domain.to_dict() if self.domain else None,
            "probes": self.probe_stats,
            "stages_s": self.stages_s,
            "injection": self.injection,
            "judge": self.judge.to_dict() if self.judge else None,
            "paired": paired_summary({arm: correct_by_qid(s) for arm, s in self.scores.items()}),
            "answers": {arm: str(self.run_dir / f"{arm}.jsonl") for arm in self.records},
        }


def peak_memory_mb() -> float:
    """This process's peak resident memory so far, in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def compare(
    systems: Mapping[str, System],
    probes: Sequence[QAItem],
    out_dir: Path,
    *,
    requirements: Requirements | None = None,
    evaluation: EvaluationConfig | None = None,
    knows_version: Mapping[str, int] | int | None = None,
    costs: Mapping[str, ArmCost] | None = None,
    freshness: Mapping[str, FreshnessResult] | None = None,
    domain: DomainDistance | None = None,
    probe_stats: Mapping[str, Any] | None = None,
    stages_s: Mapping[str, float] | None = None,
    meta: Mapping[str, Any] | None = None,
    show_progress: bool = True,
    models: ModelsConfig | None = None,
    judge: Generator | None = None,
) -> CompareResult:
    """Every arm answers every probe (resumable, into `out_dir/answers`), scored and summarised; then the k sweep.

    The LLM judge runs when `judge` (a generator, e.g. a scripted one in tests) is given or
    `evaluation.judge` names one; that name is built with the other `models` settings ([models] defaults
    when None) before any arm answers, so a bad setting fails at once rather than after the run.
    """
    evaluation = evaluation or EvaluationConfig()
    run_dir = out_dir / "answers"
    stages = dict(stages_s or {})
    if judge is None and evaluation.judge:
        judge = build_judge_generator(evaluation.judge, models)
    started = time.perf_counter()
    records = run_arms(systems, probes, run_dir, knows_version=knows_version, timeout_s=evaluation.timeout_s,
                       warmup_questions=evaluation.warmup_questions, show_progress=show_progress)  # fmt: skip
    stages["answer probes"] = time.perf_counter() - started
    scores = {arm: score_all(recs, probes) for arm, recs in records.items()}
    summaries = {arm: summarize_arm(arm, s, samples=evaluation.bootstrap_samples, seed=evaluation.seed) for arm, s in scores.items()}
    noise: list[NoisePoint] = []
    if evaluation.noise_probes > 0 and evaluation.noise_ks:
        started = time.perf_counter()
        noise = noise_sweep(systems, probes, run_dir, ks=evaluation.noise_ks, limit=evaluation.noise_probes,
                            knows_version=knows_version, timeout_s=evaluation.timeout_s,
                            samples=evaluation.bootstrap_samples, seed=evaluation.seed, show_progress=show_progress,
                            answered=records)  # fmt: skip
        stages["retrieval-noise sweep"] = time.perf_counter() - started
    judged = None
    if judge is not None:
        started = time.perf_counter()
        judged = judge_arms(Judge(judge, retries=evaluation.judge_retries, seed=evaluation.seed), records, scores, probes,
                            out_dir=run_dir / "judge", samples=evaluation.bootstrap_samples, seed=evaluation.seed)  # fmt: skip
        stages["LLM judge"] = time.perf_counter() - started
    info = {"created_at": datetime.now(UTC).isoformat(timespec="seconds"), "probes": len(probes), "machine": describe_machine(),
            "peak_memory_mb": round(peak_memory_mb(), 1), **dict(meta or {})}  # fmt: skip
    decodings = {arm: repr(getattr(s, "decoding", None)) for arm, s in systems.items()}
    if len(set(decodings.values())) > 1:
        info["warning"] = f"arms used different decoding settings: {decodings}"
    return CompareResult(run_dir, list(probes), records, scores, summaries, requirements or Requirements(),
                         dict(costs or {}), noise, dict(freshness or {}), domain, dict(probe_stats or {}), stages, info,
                         judge=judged)  # fmt: skip
