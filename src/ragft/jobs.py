"""The main jobs: `compare` the arms on a workspace, and the `demo` that does it all on the sample corpus.

`run_comparison` builds every requested arm on one corpus version, asks them all the same probes
(generated from the corpus, or the user's question file), and — when a newer corpus version
exists — measures freshness: who answers the changed facts after the update, and what becoming
fresh costs each arm. `run_demo` sets up a workspace on the bundled sample (v1), trains the
fine-tuned and hybrid arms, applies v2, and runs the comparison with demo-sized settings.
"""

from __future__ import annotations

import shutil
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from rich.console import Console

from ragft.config import ConfigError
from ragft.corpus.chunking import chunk_document
from ragft.corpus.diff import diff_versions
from ragft.corpus.ingest import ingest
from ragft.corpus.loaders import load_file
from ragft.evaluate.compare import ArmCost, CompareResult, compare
from ragft.evaluate.domain import LlamaCppLogProbs, domain_distance
from ragft.evaluate.freshness import (
    manifest_refresher,
    measure_freshness,
    rag_refresher,
)
from ragft.evaluate.injection import HOSTILE_DIR, injection_success_rate, rates_by_variant
from ragft.evaluate.injection import load_probes as load_injection_probes
from ragft.evaluate.probe_check import check_against_gold
from ragft.evaluate.requirements import Requirements
from ragft.models.factory import build_generator, resolve_threads
from ragft.retrieval.retriever import Retriever
from ragft.sample import questions_path, sample_dir, write_sample
from ragft.synth.probes import generate_probes
from ragft.synth.question_file import load_questions, write_questions
from ragft.systems.build import IndexedCorpus, build_system, index_corpus
from ragft.train.manifest import AdapterManifest, adapter_dir
from ragft.types import QAItem, System
from ragft.workspace import Workspace

ALL_ARMS = ("base", "rag", "finetuned", "hybrid")
KNOWN_ARMS = (*ALL_ARMS, "finetuned+rag")  # the closed-book adapter with retrieval added (no RAFT)
TRAINED_ARMS = ("finetuned", "hybrid")

# The demo must finish in 10 minutes on two cores (measured: benchmarks/results/demo.json). RAG
# answers cost ~6.5 s each there (prompt prefill), so: two probes per kind, a k sweep whose k=4
# point reuses the main run, two injection probes, and training on the 8 chunks the probes ask
# about first (with 10 chunks and three injection probes it took 615 s once the probes asked about
# glossaries and directories, whose chunks are longer).
DEMO_PROBES = "demo-probes.jsonl"  # in the state folder: the probes, also the training focus
DEMO_SETTINGS = {"probes_per_kind": 2, "noise_ks": [1, 4], "noise_probes": 4, "injection_probes": 2,
                 "max_chunks": 8, "raft_examples": 8, "raft_epochs": 2}  # fmt: skip


@dataclass(frozen=True)
class ProbePlan:
    """The questions to ask, where they came from, and what the generator's checks found."""

    items: list[QAItem]
    stats: dict[str, object]


def trained_arms(ws: Workspace) -> list[str]:
    """Trained arms whose adapter is installed in this workspace."""
    return [arm for arm in TRAINED_ARMS if (adapter_dir(ws, arm) / "manifest.json").is_file()]


def plan_probes(ws: Workspace, version: int, *, questions: Path | None = None, per_kind: int, seed: int) -> ProbePlan:
    """The user's question file, or probes generated from corpus `version` (+ changes to the latest)."""
    if questions is not None:
        items = load_questions(questions)
        return ProbePlan(items, {"source": str(questions), "counts": _counts(items)})
    latest = ws.store.latest_version() or version
    diff = diff_versions(ws.store, version, latest) if latest > version else None
    documents = ws.store.documents(version)
    probes = generate_probes(documents, diff=diff, per_kind=per_kind, seed=seed)
    stats: dict[str, object] = {"source": "generated from the corpus", **probes.to_dict()}
    return ProbePlan(list(probes.items), stats)


def _counts(items: Sequence[QAItem]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for item in items:
        counts[item.kind] = counts.get(item.kind, 0) + 1
    return counts


def build_arms(ws: Workspace, arms: Sequence[str], indexed: IndexedCorpus) -> tuple[dict[str, System], dict[str, ArmCost]]:
    """Ready systems for `arms` over the indexed corpus, sharing one generator where they can."""
    from ragft.systems.hybrid import StaleAdapterWarning, load_arm_system

    unknown = [arm for arm in arms if arm not in KNOWN_ARMS]
    if unknown:
        raise ConfigError(f"unknown arm(s) {', '.join(unknown)}; choose from: {', '.join(KNOWN_ARMS)}")
    generator = build_generator(ws.config.models)
    systems: dict[str, System] = {}
    costs: dict[str, ArmCost] = {}
    index_disk = _disk_mb(ws.index_dir)
    for arm in arms:
        if arm in ("base", "rag"):
            systems[arm] = build_system(ws, arm, generator=generator, indexed=indexed)
        else:
            with warnings.catch_warnings():
                if _trained_on(ws, arm) == indexed.version:  # evaluated on the version it learned: not stale here
                    warnings.simplefilter("ignore", StaleAdapterWarning)
                systems[arm] = load_arm_system(ws, arm, indexed=indexed)
        costs[arm] = _arm_cost(ws, arm, indexed, index_disk)
    return systems, costs


def _trained_on(ws: Workspace, arm: str) -> int | None:
    manifest = adapter_dir(ws, "hybrid" if arm == "hybrid" else "finetuned") / "manifest.json"
    return AdapterManifest.load(manifest.parent).corpus_version if manifest.is_file() else None


def _arm_cost(ws: Workspace, arm: str, indexed: IndexedCorpus, index_disk_mb: float) -> ArmCost:
    retrieves = arm in ("rag", "hybrid", "finetuned+rag")
    indexing_s = indexed.chunking_s + indexed.stats.total_s if retrieves else None
    if arm != "rag" and arm != "base":
        adapter = adapter_dir(ws, "hybrid" if arm == "hybrid" else "finetuned")
        manifest = AdapterManifest.load(adapter)
        disk = _disk_mb(adapter) + (index_disk_mb if retrieves else 0.0)
        return ArmCost(training_s=manifest.metrics.get("wall_s"), indexing_s=indexing_s, disk_mb=round(disk, 1),
                       note=_training_note(manifest))  # fmt: skip
    return ArmCost(indexing_s=indexing_s, disk_mb=round(index_disk_mb, 1) if arm == "rag" else 0.0)


def _training_note(manifest: AdapterManifest) -> str:
    """Which corpus version an adapter learned, and how much of it: a fine-tuned arm only knows what it was trained on."""
    note = f"trained on corpus v{manifest.corpus_version}"
    cov = manifest.coverage
    if {"facts", "chunks_with_fact", "chunks_total"} <= cov.keys():
        note += f": {cov['facts']} facts from {cov['chunks_with_fact']} of {cov['chunks_total']} chunks"
    if manifest.settings.get("focus_questions"):  # its probes ask about what it was taught: say so beside its scores
        note += f", first those holding the answers in {manifest.settings['focus_questions']}"
    return note


def _disk_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6 if path.exists() else 0.0


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
) -> CompareResult:
    """Build `arms` on corpus `version` (default: latest), evaluate them, measure freshness to the latest.

    `plan` gives probes planned earlier (the demo plans them before training); otherwise they
    are read from `questions` or generated from the corpus.
    """
    stages = dict(stages_s or {})
    latest = ws.store.latest_version()
    version = version or latest
    if version is None:
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
    systems, costs = build_arms(ws, arms, indexed)
    documents = ws.store.documents(version)
    requirements = Requirements.from_config(ws.config.requirements, corpus_has_acl=any(d.acl for d in documents))
    result = compare(systems, plan.items, out_dir, requirements=requirements, evaluation=evaluation, knows_version=version,
                     costs=costs, probe_stats=plan.stats, stages_s=stages, models=ws.config.models,
                     meta={"corpus_version": version, "workspace": str(ws.root), "arms": list(arms)})  # fmt: skip
    stages = dict(result.stages_s)

    if latest is not None and latest > version:
        started = time.perf_counter()
        refreshers = {arm: rag_refresher(ws, latest) for arm in systems if arm in ("rag", "hybrid", "finetuned+rag")}
        for arm in systems:
            if arm == "finetuned":
                refreshers[arm] = manifest_refresher(costs[arm].training_s or 0.0)
        freshness = measure_freshness(systems, plan.items, out_dir / "answers", new_version=latest, refreshers=refreshers,
                                      timeout_s=evaluation.timeout_s, samples=evaluation.bootstrap_samples, seed=evaluation.seed,
                                      answered=result.records)  # fmt: skip
        result = replace(result, freshness=freshness)
        stages["freshness"] = time.perf_counter() - started

    if evaluation.injection_probes > 0:
        started = time.perf_counter()
        result = replace(result, injection=measure_injection(ws, systems, indexed, limit=evaluation.injection_probes))
        stages["prompt injection"] = time.perf_counter() - started

    if measure_domain and "base" in result.summaries:
        started = time.perf_counter()
        known = result.summaries["base"].by_kind.get("fact", {}).get("accuracy")
        scorer = LlamaCppLogProbs(ws.config.models.generator, threads=resolve_threads(ws.config.models.threads))
        result = replace(result, domain=domain_distance(documents, scorer, known_facts=known, model=ws.config.models.generator))
        stages["domain distance"] = time.perf_counter() - started
    return replace(result, stages_s=stages)


def measure_injection(ws: Workspace, systems: dict[str, System], indexed: IndexedCorpus, *, limit: int) -> dict[str, dict]:
    """Injection success rate of every retrieving arm, with the bundled hostile documents added to its index.

    Closed-book arms never see documents, so they are reported as not exposed rather than measured.
    The arm's own retriever is put back afterwards.
    """
    embedder = indexed.retriever.embedder
    count = getattr(embedder, "count_tokens", None)
    chunks = list(indexed.retriever.chunks)
    for path in sorted(HOSTILE_DIR.glob("*.md")):
        for document in load_file(path, f"hostile/{path.name}", max_file_mb=1):
            chunks.extend(chunk_document(document, size_tokens=ws.config.corpus.chunk_size_tokens,
                                         overlap_tokens=ws.config.corpus.chunk_overlap_tokens,
                                         **({"count_tokens": count} if callable(count) else {})))  # fmt: skip
    hostile = Retriever(ws.config.retrieval, embedder, ws.index_dir)
    hostile.warm_up(chunks, version_key=f"corpus-v{indexed.version}-hostile")
    probes = [replace(p, doc_id=f"hostile/{p.doc_id}") for p in load_injection_probes(HOSTILE_DIR / "probes.json")][:limit]
    results: dict[str, dict] = {}
    for arm, system in systems.items():
        own = getattr(system, "retriever", None)
        if own is None:
            results[arm] = {"rate": None, "probes": 0, "note": "closed-book: never shown documents"}
            continue
        system.retriever = hostile  # type: ignore[attr-defined]
        try:
            rate, rows = injection_success_rate(system, probes)
        finally:
            system.retriever = own  # type: ignore[attr-defined]
        results[arm] = {"rate": rate, "probes": len(rows), "exposed": sum(r["retrieved"] for r in rows),
                        "caught_by_grounding": sum(r["caught_by_grounding"] for r in rows), "by_variant": rates_by_variant(rows), "rows": rows}  # fmt: skip
    return results


def _is_sample(ws: Workspace, version: int) -> bool:
    """Whether this corpus version is the bundled sample v1 (so its gold set can check the probe generator)."""
    sample_ids = {p.relative_to(sample_dir(1)).as_posix() for p in sample_dir(1).rglob("*") if p.is_file()}
    return {d.doc_id for d in ws.store.documents(version)} == sample_ids


def prepare_demo_workspace(directory: Path) -> Workspace:
    """A fresh workspace in `directory` whose ragft.toml has demo-sized evaluation and training settings."""
    if (directory / "ragft.toml").exists():  # a previous demo: start over (the demo owns this folder)
        shutil.rmtree(directory / ".ragft", ignore_errors=True)
        shutil.rmtree(directory / "report", ignore_errors=True)
        (directory / "ragft.toml").unlink()
    return Workspace.init(directory).with_settings(DEMO_SETTINGS, note="demo-sized")


def run_demo(
    directory: Path,
    *,
    arms: Sequence[str] = ALL_ARMS,
    train: Callable[[Workspace, str, int], None],
    console: Console | None = None,
    settings: Mapping[str, Any] | None = None,
) -> tuple[CompareResult, Path]:
    """Sample v1 and v2 → probes → train on v1 → compare on v1 with freshness to v2 → report. Returns the report path.

    The demo trains on a few chunks to finish in minutes; it picks the chunks its probes ask
    about first (`[training] focus_questions`), standing in for a fine-tune on every chunk, so
    the fine-tuned arms are judged on facts they were taught, not on coverage.
    """
    from ragft.report import write_report

    console = console or Console()
    directory = directory.expanduser().resolve()
    ws = prepare_demo_workspace(directory)
    if settings:  # e.g. tests: tiny models
        ws = ws.with_settings(settings)
    stages: dict[str, float] = {}
    docs = ws.root / "docs"

    for version in (1, 2):
        started = time.perf_counter()
        write_sample(docs, version)
        ingest(ws.store, [docs], max_file_mb=ws.config.corpus.max_file_mb, note=f"sample v{version}")
        stages[f"ingest v{version}"] = time.perf_counter() - started
    started = time.perf_counter()
    plan = plan_probes(ws, 1, per_kind=ws.config.evaluation.probes_per_kind, seed=ws.config.evaluation.seed)
    probes_file = write_questions(plan.items, ws.state_dir / DEMO_PROBES)
    ws = ws.with_settings({"focus_questions": probes_file.relative_to(ws.root).as_posix()}, note="demo: train on what the probes ask")
    stages["generate probes"] = time.perf_counter() - started
    for arm in arms:
        if arm in TRAINED_ARMS:
            console.rule(f"training the {arm} arm on corpus v1")
            started = time.perf_counter()
            train(ws, arm, 1)
            stages[f"train {arm}"] = time.perf_counter() - started

    console.rule("comparing " + ", ".join(arms))
    out_dir = ws.root / "report"
    result = run_comparison(ws, arms=arms, out_dir=out_dir, version=1, stages_s=stages, say=console.print, plan=plan)
    return result, write_report(result, out_dir)


__all__ = ["ALL_ARMS", "run_comparison", "run_demo", "trained_arms"]
