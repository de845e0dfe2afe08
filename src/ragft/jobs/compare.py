"""`compare` on a workspace: check the request, plan the probes, index, build the arms, evaluate.

Everything measured is measured by `ragft.evaluate.compare.compare`, in one pass that assembles
one result; this module supplies what only a workspace knows: the corpus version, the probes
(generated from the corpus, or the user's question file), the index, the arms built from the
registry with what building them cost, and the plans for the stages that need the workspace
(freshness to the latest version, the hostile index for prompt injection, the domain scorer).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from ragft import arms as arm_registry
from ragft.config import ConfigError
from ragft.corpus.diff import diff_versions
from ragft.evaluate.compare import ArmCost, CompareResult, compare
from ragft.evaluate.freshness import Refresher, manifest_refresher, rag_refresher
from ragft.evaluate.hostile_index import hostile_retriever
from ragft.evaluate.probe_check import check_against_gold
from ragft.evaluate.requirements import Requirements
from ragft.evaluate.seeds import SeedPlan
from ragft.evaluate.stages import DomainPlan, FreshnessPlan, InjectionPlan, bundled_injection_probes
from ragft.evaluate.taught import Recall, Snapshot, TaughtPlan, TaughtSet
from ragft.models.base import Generator, embedder_token_counter
from ragft.models.factory import build_embedder, build_generator
from ragft.sample import questions_path, sample_dir
from ragft.synth.probes import generate_probes
from ragft.synth.question_file import load_questions
from ragft.systems.adapter import training_set
from ragft.systems.build import IndexedCorpus, index_corpus
from ragft.train.adapter_files import exposure_dir
from ragft.train.arms import seed_adapter
from ragft.train.budget import raft_cut_note
from ragft.train.manifest import AdapterManifest, adapter_dir
from ragft.types import QAItem, System
from ragft.workspace import Workspace


@dataclass(frozen=True)
class ProbePlan:
    """The questions to ask, where they came from, and what the generator's checks found."""

    items: list[QAItem]
    stats: dict[str, object]


def check_comparison(ws: Workspace, arms: Sequence[str], *, questions: Path | None = None, version: int | None = None) -> None:
    """Raise a RagftError for anything that would stop a comparison, before any probe, index or model is made.

    Unknown arms, arms whose adapter is not trained, a corpus version that does not exist, an
    unreadable question file: each fails here with what to do, not after minutes of indexing.
    """
    names = arm_registry.parse_arms(arms)
    latest = ws.store.latest_version()
    if latest is None:
        raise ConfigError("the corpus is empty; add documents with `ragft ingest PATH` first")
    if version is not None and not 1 <= version <= latest:
        raise ConfigError(f"corpus version {version} does not exist; this workspace has versions 1 to {latest}")
    missing = [a for a in arm_registry.adapters_needed(names) if not arm_registry.adapter_installed(ws, a)]
    if missing:
        raise ConfigError(
            f"arm(s) need adapters not trained yet: run {' and '.join(f'`ragft train --arm {a}`' for a in missing)} "
            f"(or leave out {', '.join(n for n in names if arm_registry.spec(n).adapter in missing)})"
        )
    if questions is not None:
        load_questions(questions)  # raises QuestionFileError naming file:line


def plan_probes(ws: Workspace, version: int, *, questions: Path | None = None, per_kind: int, seed: int) -> ProbePlan:
    """The user's question file, or probes generated from corpus `version` (+ changes to the latest).

    Generated probes are checked against chunks cut by the one chunker with the embedder's token
    counter, so "supported by one chunk" means a chunk the index holds.
    """
    if questions is not None:
        items = load_questions(questions)
        return ProbePlan(items, {"source": str(questions), "counts": _counts(items)})
    latest = ws.store.latest_version() or version
    diff = diff_versions(ws.store, version, latest) if latest > version else None
    documents = ws.store.documents(version)
    embedder = build_embedder(ws.config.models)
    warm_up = getattr(embedder, "warm_up", None)
    if callable(warm_up):
        warm_up()
    probes = generate_probes(
        documents, diff=diff, per_kind=per_kind, seed=seed, chunking=ws.config.corpus, count_tokens=embedder_token_counter(embedder)
    )
    stats: dict[str, object] = {"source": "generated from the corpus", **probes.to_dict()}
    return ProbePlan(list(probes.items), stats)


def _counts(items: Sequence[QAItem]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for item in items:
        counts[item.kind] = counts.get(item.kind, 0) + 1
    return counts


def build_arms(
    ws: Workspace, arms: Sequence[str], indexed: IndexedCorpus, *, generator: Generator | None = None
) -> tuple[dict[str, System], dict[str, ArmCost]]:
    """Ready systems for `arms` over the indexed corpus, sharing one generator (`generator` when given) where they can."""
    systems = dict(arm_registry.build_all(ws, arm_registry.parse_arms(arms), indexed, generator=generator))
    index_disk = _disk_mb(ws.index_dir)
    return systems, {arm: _arm_cost(ws, arm, indexed, index_disk) for arm in systems}


def _arm_cost(ws: Workspace, arm: str, indexed: IndexedCorpus, index_disk_mb: float) -> ArmCost:
    spec = arm_registry.spec(arm)
    indexing_s = indexed.chunking_s + indexed.stats.total_s if spec.retrieves else None
    index_mb = index_disk_mb if spec.retrieves else 0.0
    manifest = arm_registry.trained_on(ws, arm)
    if spec.adapter is not None and manifest is not None:
        disk = _disk_mb(adapter_dir(ws, spec.adapter)) + index_mb
        return ArmCost(
            training_s=manifest.metrics.get("wall_s"), indexing_s=indexing_s, disk_mb=round(disk, 1), note=_training_note(manifest)
        )
    return ArmCost(indexing_s=indexing_s, disk_mb=round(index_mb, 1))


def _training_note(manifest: AdapterManifest) -> str:
    """Which corpus version an adapter learned, and how much of it: a fine-tuned arm only knows what it was trained on."""
    note = f"trained on corpus v{manifest.corpus_version}"
    cov = manifest.coverage
    if {"facts", "chunks_with_fact", "chunks_total"} <= cov.keys():
        note += f": {cov['facts']} facts from {cov['chunks_with_fact']} of {cov['chunks_total']} chunks"
    if manifest.settings.get("focus_questions"):  # its probes ask about what it was taught: say so beside its scores
        note += f", first those holding the answers in {manifest.settings['focus_questions']}"
    if cut := raft_cut_note(manifest.plan):  # the hybrid arm's budget cut: fewer distractors, examples, or over budget
        note += f" (budget: {cut})"
    return note


def taught_plan(ws: Workspace, arms: Sequence[str]) -> TaughtPlan | None:
    """What each adapter arm (and each arm searching an adapter's chunks) was taught; None when no arm was."""
    learned: dict[str, TaughtSet] = {}
    for arm in arms:
        spec = arm_registry.spec(arm)
        adapter = spec.adapter or spec.searches_trained
        if adapter is None or not arm_registry.adapter_installed(ws, adapter):
            continue
        learned[arm] = _taught_set(ws, adapter, snapshots_of=None if spec.retrieves else arm)
    if not learned:
        return None
    asked = frozenset(a for a in learned if arm_registry.spec(a).adapter is not None)
    e = ws.config.evaluation
    return TaughtPlan(learned, recall_questions=e.recall_questions, ask_recall=asked, seed=e.seed)


def _taught_set(ws: Workspace, adapter: str, snapshots_of: str | None = None) -> TaughtSet:
    """An adapter's training set and manifest as the evaluation reads them; with `snapshots_of` (a
    closed-book arm), the adapter's exposure snapshots kept in training, each loadable as that arm."""
    data = training_set(ws, adapter)
    manifest = AdapterManifest.load(adapter_dir(ws, adapter))
    keys = {f.fact_id: f.answer for f in data.facts}

    def recalls(split: str) -> tuple[Recall, ...]:
        return tuple(Recall(p.question, keys[p.fact_id]) for p in data.split(split) if keys.get(p.fact_id))

    taught = data.taught_chunks()
    return TaughtSet(
        adapter,
        taught,
        tuple(p.question for p in data.pairs),
        recalls("train"),
        recalls("val"),
        training_s=manifest.metrics.get("wall_s"),
        chunks_used=len(taught),
        chunks_total=int(manifest.coverage.get("chunks_total", len(data.chunks))),
        snapshots=_snapshots(ws, adapter, manifest, snapshots_of) if snapshots_of else (),
        tokens=int(manifest.metrics.get("tokens", 0)),
        values=data.taught_values(),
    )


def _snapshots(ws: Workspace, adapter: str, manifest: AdapterManifest, arm: str) -> tuple[Snapshot, ...]:
    """The exposure snapshots `adapter`'s training kept (manifest metrics "exposure"), loadable as `arm`."""
    found = []
    for point in manifest.metrics.get("exposure", []):
        folder = exposure_dir(adapter_dir(ws, adapter), point["fraction"])
        if point.get("kept") and folder.is_dir():
            found.append(Snapshot(point["fraction"], int(point["tokens"]), partial(arm_registry.build_snapshot, ws, arm, folder)))
    return tuple(found)


def _disk_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6 if path.exists() else 0.0


def seed_plan(
    ws: Workspace, arms: Sequence[str], seeds: int, indexed: IndexedCorpus, *, stages: dict[str, float], say: Callable[[str], None]
) -> SeedPlan | None:
    """Seeds 1..`seeds`-1 of every arm that answers with an adapter, trained now unless cached with the same seed and data.

    Each adapter is trained once per seed (finetuned+rag shares the finetuned seeds); training time
    goes into `stages` as "train <adapter> seed <i>". None when `seeds` is 1 or no arm has an adapter.
    """
    seeded = [a for a in arms if arm_registry.spec(a).adapter is not None]
    if seeds <= 1 or not seeded:
        return None
    training_seeds: dict[str, list[int]] = {}
    for adapter in dict.fromkeys(arm_registry.spec(a).adapter or "" for a in seeded):
        training_seeds[adapter] = []
        for i in range(seeds):
            started = time.perf_counter()
            manifest, trained_now = seed_adapter(ws, adapter, i)
            if trained_now:
                stages[f"train {adapter} seed {i}"] = time.perf_counter() - started
            say(f"{adapter} seed {i} ([training] seed {manifest.settings.get('seed')}): {'trained now' if trained_now else 'cached'}")
            training_seeds[adapter].append(int(manifest.settings.get("seed", i)))
    systems = {a: [arm_registry.build(ws, a, indexed=indexed, seed=i) for i in range(1, seeds)] for a in seeded}
    return SeedPlan(systems, {a: training_seeds[arm_registry.spec(a).adapter or ""] for a in seeded})


def refreshers_for(ws: Workspace, systems: dict[str, System], costs: dict[str, ArmCost], latest: int) -> dict[str, Refresher]:
    """How each arm becomes fresh: a retrieving arm re-indexes; an adapter arm reports its training time; the plain model cannot."""
    out: dict[str, Refresher] = {}
    for arm in systems:
        spec = arm_registry.spec(arm)
        # The plain closed-book model gets the re-index refresher too: it reports "not applicable" for it.
        out[arm] = rag_refresher(ws, latest) if spec.retrieves or spec.adapter is None else manifest_refresher(costs[arm].training_s or 0.0)
    return out


def run_comparison(
    ws: Workspace,
    *,
    arms: Sequence[str],
    out_dir: Path,
    questions: Path | None = None,
    version: int | None = None,
    measure_domain: bool = True,
    stages_s: dict[str, float] | None = None,
    say: Callable[[str], None] = print,
    plan: ProbePlan | None = None,
    seeds: int | None = None,
) -> CompareResult:
    """Build `arms` on corpus `version` (default: latest), evaluate them, measure freshness to the latest.

    `plan` gives probes planned earlier (the demo plans them before training); otherwise they
    are read from `questions` or generated from the corpus. `stages_s` holds the caller's own
    stage times (ingest, training) for the report. `seeds` (default `[evaluation] seeds`) trains and
    asks every adapter arm's other training seeds (`seed_plan`).
    """
    check_comparison(ws, arms, questions=questions, version=version)
    if seeds is not None and seeds < 1:
        raise ConfigError(f"--seeds {seeds}: give at least 1 training seed per trained arm")
    arms = arm_registry.parse_arms(arms)
    stages = dict(stages_s or {})
    latest = ws.store.latest_version()
    version = version or latest
    if version is None or latest is None:  # check_comparison refused an empty corpus already
        raise ConfigError("the corpus is empty; add documents with `ragft ingest PATH` first")
    evaluation = ws.config.evaluation
    if plan is None:
        started = time.perf_counter()
        plan = plan_probes(ws, version, questions=questions, per_kind=evaluation.probes_per_kind, seed=evaluation.seed)
        stages["generate probes"] = time.perf_counter() - started
    if questions is None and _is_sample(ws, version):
        gold = load_questions(questions_path())
        plan.stats["gold_check"] = check_against_gold(plan.items, gold, ws.store.documents(version)).to_dict()
    say(f"{len(plan.items)} probes: {_counts(plan.items)}")

    started = time.perf_counter()
    indexed = index_corpus(ws, version)
    stages["index corpus"] = time.perf_counter() - started
    generator = build_generator(ws.config.models)  # the plain model: the base/rag arms and domain distance share it
    systems, costs = build_arms(ws, arms, indexed, generator=generator)
    seeded = seed_plan(ws, arms, evaluation.seeds if seeds is None else seeds, indexed, stages=stages, say=say)
    documents = ws.store.documents(version)
    models = ws.config.models
    return compare(
        systems,
        plan.items,
        out_dir,
        evaluation=evaluation,
        knows_version=version,
        costs=costs,
        probe_stats=plan.stats,
        requirements=Requirements.from_config(ws.config.requirements, corpus_has_acl=any(d.acl for d in documents)),
        freshness=FreshnessPlan(latest, refreshers_for(ws, systems, costs, latest)) if latest > version else None,
        injection=InjectionPlan(lambda: hostile_retriever(ws, indexed), bundled_injection_probes(evaluation.injection_probes)),
        domain=DomainPlan(documents, generator) if measure_domain else None,
        taught=taught_plan(ws, arms),
        seeds=seeded,
        stages_s=stages,
        say=say,
        models=models,
        meta={
            "corpus_version": version,
            "workspace": str(ws.root),
            "arms": list(arms),
            "seeds": len(next(iter(seeded.training_seeds.values()))) if seeded else 1,
        },
    )


def _is_sample(ws: Workspace, version: int) -> bool:
    """Whether this corpus version is the bundled sample v1 (so its gold set can check the probe generator)."""
    sample_ids = {p.relative_to(sample_dir(1)).as_posix() for p in sample_dir(1).rglob("*") if p.is_file()}
    return {d.doc_id for d in ws.store.documents(version)} == sample_ids


__all__ = ["ProbePlan", "build_arms", "check_comparison", "plan_probes", "run_comparison"]
