"""`compare`: one evaluator for every arm — run, score, then every stage, assembled once into one result.

The arms arrive as ready `System`s (base, rag, finetuned, hybrid, or any the user adds), so this
module never builds or trains anything. Costs the arms incurred while being built (training,
indexing, memory, disk) come in as `ArmCost`s. After the main run and scoring, the stages in
`ragft.evaluate.stages` run in order: the retrieval-noise sweep, the optional LLM judge
(`[evaluation] judge` or a `judge=` generator), freshness (with a `FreshnessPlan`), prompt
injection (with an `InjectionPlan`) and domain distance (with a `DomainPlan`); each is timed
here and its result goes into the one `CompareResult`, which `ragft.report` turns into HTML,
summary.json and a recommendation (report reads evaluate; evaluate never reads report).
"""

from __future__ import annotations

import resource
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from ragft.arms import ARMS, floor_arm
from ragft.config import EvaluationConfig, ModelsConfig
from ragft.evaluate.crossover import ArmCostProfile, Crossover, crossover
from ragft.evaluate.domain import DomainDistance
from ragft.evaluate.freshness import FreshnessResult
from ragft.evaluate.judge import JudgeReport, build_judge_generator
from ragft.evaluate.noise import NoiseSweep
from ragft.evaluate.paired import correct_by_qid, paired_summary
from ragft.evaluate.requirements import ArmEvidence, Requirements
from ragft.evaluate.runner import AnswerRecord, answers_path, concurrency_for, run_arms
from ragft.evaluate.scoring import Score, score_all
from ragft.evaluate.seeds import METHOD as SEEDS_METHOD
from ragft.evaluate.seeds import SeedPlan, SeedSpread, majority_correct, seed_arm_base, seed_arm_name, seed_spread
from ragft.evaluate.stages import (
    DomainPlan,
    FreshnessPlan,
    InjectionPlan,
    domain_stage,
    freshness_stage,
    injection_stage,
    judge_stage,
    noise_stage,
)
from ragft.evaluate.summary import ArmSummary, summarize_arm
from ragft.evaluate.taught import TaughtPlan, taught_stage
from ragft.models.base import Generator
from ragft.models.runtime import describe_machine
from ragft.types import QAItem, System, retrieving

T = TypeVar("T")


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
    noise: NoiseSweep = field(default_factory=NoiseSweep)
    freshness: dict[str, FreshnessResult] = field(default_factory=dict)
    domain: DomainDistance | None = None
    probe_stats: dict[str, Any] = field(default_factory=dict)  # counts, rejected, gold check
    stages_s: dict[str, float] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    injection: dict[str, dict[str, Any]] = field(default_factory=dict)  # arm -> rate, probes, exposed, caught
    judge: JudgeReport | None = None  # the optional LLM judge's verdicts and agreement with the string metrics
    taught: dict[str, Any] = field(default_factory=dict)  # trained arms judged on what they were taught (evaluate.taught)
    seed_scores: dict[str, list[list[Score]]] = field(default_factory=dict)  # trained arm -> scores of each seed, seed 0 first
    training_seeds: dict[str, list[int]] = field(default_factory=dict)  # trained arm -> [training] seed of each, seed 0 first

    @property
    def arms(self) -> list[str]:
        return list(self.summaries)

    def verdicts(self) -> dict[str, dict[str, bool]]:
        """arm -> qid -> right, what the paired tests read: a seeded arm's probe is right by a strict majority of its seeds."""
        out = {}
        for arm, scores in self.scores.items():
            seeded = self.seed_scores.get(arm)
            out[arm] = majority_correct([correct_by_qid(s) for s in seeded]) if seeded else correct_by_qid(scores)
        return out

    def seed_spreads(self) -> dict[str, SeedSpread]:
        """The accuracy spread of every arm answered by more than one training seed."""
        return {
            arm: seed_spread(arm, [correct_by_qid(s) for s in seeded], self.training_seeds.get(arm, list(range(len(seeded)))))
            for arm, seeded in self.seed_scores.items()
        }

    def cost_profiles(self) -> dict[str, ArmCostProfile]:
        """What each arm costs to build, per answer and per corpus update (`evaluate.crossover`), from this run's measurements."""
        out = {}
        for arm, scores in self.scores.items():
            cost = self.costs.get(arm, ArmCost())
            latencies = [s.latency_s for s in scores if s.latency_s is not None]
            tokens = [float(r.trace["prompt_tokens"]) for r in self.records.get(arm, []) if r.trace.get("prompt_tokens")]
            training, indexing = cost.training_s or 0.0, cost.indexing_s or 0.0
            out[arm] = ArmCostProfile(
                arm,
                training + indexing,
                sum(latencies) / len(latencies) if latencies else 0.0,
                sum(tokens) / len(tokens) if tokens else None,
                training + indexing,  # a corpus update means training again (adapter arms) and re-indexing (retrieving arms)
            )
        return out

    def crossovers(self) -> list[Crossover]:
        """Every trained arm against every untrained, retrieving, non-diagnostic arm (e.g. finetuned vs rag)."""
        profiles = self.cost_profiles()
        trained = [a for a in profiles if self.costs.get(a, ArmCost()).training_s is not None]
        others = [
            a
            for a in profiles
            if self.costs.get(a, ArmCost()).training_s is None
            and self.costs.get(a, ArmCost()).indexing_s is not None
            and not (a in ARMS and ARMS[a].diagnostic)
        ]
        req = self.requirements
        return [
            crossover(profiles[a], profiles[b], update_frequency=req.update_frequency, queries_per_month=req.queries_per_month)
            for a in trained
            for b in others
        ]

    def evidence(self) -> list[ArmEvidence]:
        """The measurements the recommendation rules read, per arm."""
        out = []
        verdicts = self.verdicts()
        for arm, summary in self.summaries.items():
            m = summary.overall
            fresh = self.freshness.get(arm)
            refresh_s = fresh.refresh.seconds if fresh and fresh.refresh.method != "none" else None
            out.append(
                ArmEvidence(
                    arm,
                    m["accuracy"],
                    m["latency_p95_s"],
                    m["citation_rate"],
                    m["leak_rate"] if m["leak_rate"].n else None,
                    refresh_s,
                    fresh.refresh.method if fresh else None,
                    fresh.refresh.performed if fresh else True,
                    fresh.fresh_after.value if fresh and fresh.fresh_after.n else None,
                    verdicts[arm],
                    summary.failures,
                    summary.failures_by_kind,
                )
            )
        return out

    def summary_dict(self) -> dict[str, Any]:
        """The measurements of summary.json: every metric with its interval, per arm and kind (the report adds its recommendation)."""
        return {
            "meta": self.meta,
            "requirements": asdict(self.requirements),
            "arms": {arm: {**s.to_dict(), "cost": asdict(self.costs.get(arm, ArmCost()))} for arm, s in self.summaries.items()},
            "noise": [p.to_dict() for p in self.noise.points],
            "noise_not_applicable": dict(self.noise.not_applicable),
            "freshness": {arm: f.to_dict() for arm, f in self.freshness.items()},
            "domain": self.domain.to_dict() if self.domain else None,
            "probes": self.probe_stats,
            "stages_s": self.stages_s,
            "injection": self.injection,
            "judge": self.judge.to_dict() if self.judge else None,
            "paired": paired_summary(self.verdicts()),
            "seeds": self._seeds_dict(),
            "crossover": [c.to_dict() for c in self.crossovers()],
            "taught": self.taught,
            "answers": {arm: str(answers_path(self.run_dir, arm)) for arm in self.records},
        }

    def _seeds_dict(self) -> dict[str, Any]:
        """summary.json's seeds section: the method, each seeded arm's spread, and where each seed's answers are."""
        return {
            "method": SEEDS_METHOD,
            "arms": {arm: spread.to_dict() for arm, spread in self.seed_spreads().items()},
            "answers": {
                arm: [str(answers_path(self.run_dir, seed_arm_name(arm, i))) for i in range(len(seeded))]
                for arm, seeded in self.seed_scores.items()
            },
        }


def peak_memory_mb() -> float:
    """This process's peak resident memory so far, in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _timed(stages: dict[str, float], name: str, run: Callable[[], T], say: Callable[[str], None] | None = None, what: str = "") -> T:
    """Run one stage, recording its wall time under `name`; `say` hears a line as it starts (what it does) and ends.

    The stages after the main run can take minutes on a small CPU; a line each keeps the terminal
    from looking stuck, as the answering stage's progress bars do.
    """
    if say is not None:
        say(f"{name}: {what}" if what else f"{name}...")
    started = time.perf_counter()
    try:
        return run()
    finally:
        stages[name] = time.perf_counter() - started
        if say is not None:
            say(f"{name}: done in {stages[name]:.0f} s")


def compare(
    systems: Mapping[str, System],
    probes: Sequence[QAItem],
    out_dir: Path,
    *,
    requirements: Requirements | None = None,
    evaluation: EvaluationConfig | None = None,
    knows_version: Mapping[str, int] | int | None = None,
    costs: Mapping[str, ArmCost] | None = None,
    freshness: FreshnessPlan | None = None,
    injection: InjectionPlan | None = None,
    domain: DomainPlan | None = None,
    probe_stats: Mapping[str, Any] | None = None,
    stages_s: Mapping[str, float] | None = None,
    meta: Mapping[str, Any] | None = None,
    show_progress: bool = True,
    models: ModelsConfig | None = None,
    judge: Generator | None = None,
    taught: TaughtPlan | None = None,
    say: Callable[[str], None] | None = None,
    seeds: SeedPlan | None = None,
) -> CompareResult:
    """Every arm answers every probe (resumable, into `out_dir/answers`), scored and summarised; then every stage.

    The stages: the k sweep (`[evaluation] noise_probes`, `noise_ks`), the LLM judge (when `judge`,
    e.g. a scripted generator in tests, is given or `evaluation.judge` names one; that name is built
    with the other `models` settings before any arm answers, so a bad setting fails at once),
    freshness, prompt injection and domain distance (each when its plan is given; domain distance
    also needs the plain-model arm, whose fact accuracy it reports beside the perplexity), and
    with a `taught` plan, the trained arms judged on what they were taught (`evaluate.taught`).
    With a `seeds` plan, each trained arm's other seeds answer every probe too (after the main run,
    under the name `<arm>@seed<i>`): the result carries their scores, the spread and majority verdicts.
    `stages_s` holds the caller's own stage times (ingesting, training, indexing): they head the
    result's `stages_s`, followed by each stage timed here. `say` (e.g. the console's print) hears a
    line as each stage after the main run starts and ends.
    """
    evaluation = evaluation or EvaluationConfig()
    run_dir = out_dir / "answers"
    stages = dict(stages_s or {})
    if judge is None and evaluation.judge:
        judge = build_judge_generator(evaluation.judge, models)
    records = _timed(
        stages,
        "answer probes",
        lambda: _answer(systems, probes, run_dir, evaluation, knows_version, show_progress),
        say,
        f"{len(probes)} probes asked of {len(systems)} arm(s)",
    )
    scores = {arm: score_all(recs, probes) for arm, recs in records.items()}
    seed_scores: dict[str, list[list[Score]]] = {}
    if seeds is not None and seeds.systems:
        seed_scores = _timed(
            stages,
            "answer probes, other training seeds",
            lambda: _answer_seeds(seeds, scores, probes, run_dir, evaluation, knows_version, show_progress),
        )
    summaries = {arm: summarize_arm(arm, s, samples=evaluation.bootstrap_samples, seed=evaluation.seed) for arm, s in scores.items()}
    noise = NoiseSweep()
    if evaluation.noise_probes > 0 and evaluation.noise_ks:
        noise = _timed(
            stages,
            "retrieval-noise sweep",
            lambda: noise_stage(
                systems, probes, run_dir, evaluation, knows_version=knows_version, answered=records, show_progress=show_progress
            ),
            say,
            f"up to {evaluation.noise_probes} probes per retrieving arm at k = {', '.join(map(str, evaluation.noise_ks))}",
        )
    judged = (
        _timed(
            stages, "LLM judge", lambda: judge_stage(judge, evaluation, records, scores, probes, run_dir), say, "a verdict on every answer"
        )
        if judge
        else None
    )
    fresh: dict[str, FreshnessResult] = {}
    if freshness is not None:
        fresh = _timed(
            stages,
            "freshness",
            lambda: freshness_stage(systems, probes, run_dir, evaluation, freshness, answered=records, show_progress=show_progress),
            say,
            f"the changed facts asked again after each arm's refresh to corpus v{freshness.new_version}",
        )
    injected = {}
    if injection and injection.probes:
        exposed = sum(retrieving(s) is not None for s in systems.values())
        doing = f"{len(injection.probes)} questions over hostile documents, asked of {exposed} retrieving arm(s)"
        injected = _timed(stages, "prompt injection", lambda: injection_stage(systems, injection), say, doing)
    floor = floor_arm(summaries)
    distance = None
    if domain and floor:
        doing = "the base model's perplexity on the corpus and on reference text"
        distance = _timed(stages, "domain distance", lambda: domain_stage(domain, summaries, floor), say, doing)
    learned = {}
    if taught:
        doing = f"each trained arm asked up to {taught.recall_questions} of its training and held-out questions"
        learned = _timed(stages, "what trained arms were taught", lambda: taught_stage(systems, scores, probes, taught, floor), say, doing)
    info = {
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "probes": len(probes),
        "machine": describe_machine(),
        "peak_memory_mb": round(peak_memory_mb(), 1),
        "concurrency": {arm: concurrency_for(system, evaluation.concurrency) for arm, system in systems.items()},
        **dict(meta or {}),
    }
    decodings = {arm: repr(getattr(s, "decoding", None)) for arm, s in systems.items()}
    if len(set(decodings.values())) > 1:
        info["warning"] = f"arms used different decoding settings: {decodings}"
    return CompareResult(
        run_dir,
        list(probes),
        records,
        scores,
        summaries,
        requirements or Requirements(),
        dict(costs or {}),
        noise,
        fresh,
        distance,
        dict(probe_stats or {}),
        stages,
        info,
        injected,
        judged,
        learned,
        seed_scores,
        {arm: list(seeds.training_seeds[arm]) for arm in seed_scores} if seeds else {},
    )


def _answer(
    systems: Mapping[str, System],
    probes: Sequence[QAItem],
    run_dir: Path,
    evaluation: EvaluationConfig,
    knows_version: Mapping[str, int] | int | None,
    show_progress: bool,
) -> dict[str, list[AnswerRecord]]:
    """`run_arms` with the evaluation's timeout, warm-up and concurrency: the main run and every other seed alike."""
    return run_arms(
        systems,
        probes,
        run_dir,
        knows_version=knows_version,
        timeout_s=evaluation.timeout_s,
        warmup_questions=evaluation.warmup_questions,
        show_progress=show_progress,
        concurrency=evaluation.concurrency,
    )


def _answer_seeds(
    seeds: SeedPlan,
    scores: Mapping[str, list[Score]],
    probes: Sequence[QAItem],
    run_dir: Path,
    evaluation: EvaluationConfig,
    knows_version: Mapping[str, int] | int | None,
    show_progress: bool,
) -> dict[str, list[list[Score]]]:
    """Every other seed of every seeded arm answers every probe; arm -> scores per seed, seed 0 (the main run) first."""
    named = {
        seed_arm_name(arm, i): system for arm, systems in seeds.systems.items() if arm in scores for i, system in enumerate(systems, 1)
    }
    if isinstance(knows_version, Mapping):
        knows_version = {name: knows_version[seed_arm_base(name)] for name in named if seed_arm_base(name) in knows_version}
    records = _answer(named, probes, run_dir, evaluation, knows_version, show_progress)
    return {
        arm: [scores[arm], *(score_all(records[seed_arm_name(arm, i)], probes) for i in range(1, len(systems) + 1))]
        for arm, systems in seeds.systems.items()
        if arm in scores
    }
