"""The evaluation's stages after the main run, each a small function over systems and probes.

`ragft.evaluate.compare.compare` runs them in order and assembles their results once; the
inputs a stage needs from the workspace (refreshers, the hostile index, the domain scorer) come
in as the plans below, made by the caller, so this layer never opens a workspace itself. Every
arm appears in every stage's result: one a stage does not apply to (a closed-book arm has no
passages to vary, inject into or re-index) is reported with the reason, never left out.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ragft.config import EvaluationConfig
from ragft.evaluate.domain import DomainDistance, domain_distance
from ragft.evaluate.freshness import FreshnessResult, Refresher, measure_freshness
from ragft.evaluate.injection import HOSTILE_DIR, InjectionProbe, injection_success_rate, rates_by_variant
from ragft.evaluate.injection import load_probes as load_injection_probes
from ragft.evaluate.judge import Judge, JudgeReport, judge_arms
from ragft.evaluate.noise import NoiseSweep, noise_sweep
from ragft.evaluate.runner import AnswerRecord
from ragft.evaluate.scoring import Score
from ragft.evaluate.summary import ArmSummary
from ragft.models.base import Generator
from ragft.types import Document, QAItem, System, retrieving

NOT_EXPOSED = "not exposed: answers without retrieval, so no document (hostile or not) reaches its prompt"


@dataclass(frozen=True)
class FreshnessPlan:
    """Measure freshness: the changed facts are scored against `new_version`; each arm refreshes with its refresher."""

    new_version: int
    refreshers: Mapping[str, Refresher]


@dataclass(frozen=True)
class InjectionPlan:
    """Measure prompt injection with `probes`; `hostile_retriever()` builds the index with the hostile documents (only when run)."""

    hostile_retriever: Callable[[], Any]
    probes: Sequence[InjectionProbe]


def bundled_injection_probes(limit: int, path: Path = HOSTILE_DIR / "probes.json") -> list[InjectionProbe]:
    """The first `limit` bundled injection probes, their doc ids as the hostile documents are indexed (`hostile/<name>`)."""
    return [replace(p, doc_id=f"hostile/{p.doc_id}") for p in load_injection_probes(path)][:limit]


@dataclass(frozen=True)
class DomainPlan:
    """Measure domain distance: the base model's perplexity on `documents` vs reference text.

    `generator` is the configured one (the plain-model arms' own); where its backend cannot score
    text, the result says "not measured" and why instead of failing the comparison.
    """

    documents: Sequence[Document]
    generator: Generator


def noise_stage(
    systems: Mapping[str, System],
    probes: Sequence[QAItem],
    run_dir: Path,
    evaluation: EvaluationConfig,
    *,
    knows_version: Mapping[str, int] | int | None,
    answered: Mapping[str, Sequence[AnswerRecord]],
    show_progress: bool,
) -> NoiseSweep:
    """Accuracy of the retrieving arms as k varies; the others are listed as not applicable."""
    return noise_sweep(
        systems,
        probes,
        run_dir,
        ks=evaluation.noise_ks,
        limit=evaluation.noise_probes,
        knows_version=knows_version,
        timeout_s=evaluation.timeout_s,
        samples=evaluation.bootstrap_samples,
        seed=evaluation.seed,
        show_progress=show_progress,
        answered=answered,
    )


def judge_stage(
    judge: Generator,
    evaluation: EvaluationConfig,
    records: Mapping[str, list[AnswerRecord]],
    scores: Mapping[str, list[Score]],
    probes: Sequence[QAItem],
    run_dir: Path,
) -> JudgeReport:
    """The LLM judge's verdict on every answer, beside the string metrics."""
    return judge_arms(
        Judge(judge, retries=evaluation.judge_retries, seed=evaluation.seed),
        dict(records),
        dict(scores),
        probes,
        out_dir=run_dir / "judge",
        samples=evaluation.bootstrap_samples,
        seed=evaluation.seed,
    )


def freshness_stage(
    systems: Mapping[str, System],
    probes: Sequence[QAItem],
    run_dir: Path,
    evaluation: EvaluationConfig,
    plan: FreshnessPlan,
    *,
    answered: Mapping[str, Sequence[AnswerRecord]],
    show_progress: bool,
) -> dict[str, FreshnessResult]:
    """Stale and fresh rates on the changed facts, before and after each arm's refresh."""
    return measure_freshness(
        systems,
        probes,
        run_dir,
        new_version=plan.new_version,
        refreshers=plan.refreshers,
        timeout_s=evaluation.timeout_s,
        samples=evaluation.bootstrap_samples,
        seed=evaluation.seed,
        show_progress=show_progress,
        answered=answered,
    )


def injection_stage(systems: Mapping[str, System], plan: InjectionPlan) -> dict[str, dict[str, Any]]:
    """Injection success rate of every retrieving arm over the hostile index; closed-book arms reported as not exposed.

    Each retrieving arm answers as a new system over the hostile index (`with_retriever`), so the
    arm itself keeps its own index.
    """
    probes = plan.probes
    hostile = plan.hostile_retriever() if any(retrieving(s) is not None for s in systems.values()) else None
    results: dict[str, dict[str, Any]] = {}
    for name, system in systems.items():
        arm = retrieving(system)
        if arm is None or hostile is None:
            results[name] = {"rate": None, "probes": 0, "note": NOT_EXPOSED}
            continue
        rate, rows = injection_success_rate(arm.with_retriever(hostile), probes)
        results[name] = {
            "rate": rate,
            "probes": len(rows),
            "exposed": sum(r["retrieved"] for r in rows),
            "caught_by_grounding": sum(r["caught_by_grounding"] for r in rows),
            "by_variant": rates_by_variant(rows),
            "rows": rows,
        }
    return results


def domain_stage(plan: DomainPlan, summaries: Mapping[str, ArmSummary], floor_arm: str) -> DomainDistance:
    """How far the corpus is from what the base model knows: perplexity ratio, beside `floor_arm`'s fact accuracy."""
    known = summaries[floor_arm].by_kind.get("fact", {}).get("accuracy")
    return domain_distance(plan.documents, plan.generator, known_facts=known)
