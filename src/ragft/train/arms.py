"""Train an arm end to end: plan the budget, synthesize data, train LoRA, save PEFT + GGUF adapters and the manifest.

`finetuned` learns the facts closed-book (the prompt of the base system: its questions both ways
round, then each chunk's raw text and rewrites as plain text); `hybrid` learns RAFT examples in
the RAG prompt format. Before synthesis, the budget plan (`train.budget`) decides how many chunks
fit in `[training] budget_minutes` on this machine, and says so. The finished adapter replaces the previous one only once it
is complete (built beside it, then swapped in by renames); work in progress and checkpoints live
in `.<arm>.work/` so `--resume` finds them after a kill.
"""

from __future__ import annotations

import random
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ragft.files import swap_directory
from ragft.models.base import Generator
from ragft.models.factory import build_generator, resolve_threads
from ragft.prompts import build_messages
from ragft.synth.raft import raft_examples
from ragft.synth.training_set import (
    CorpusChunks,
    TrainingDataError,
    build_training_set,
    corpus_chunks,
    synthesize_training_set,
    with_replay,
)
from ragft.synth.types import Fact, TrainingSet
from ragft.text import TokenCounter
from ragft.train.adapter_files import EXPOSURE_DIR, TRAINING_SET_FILE, snapshot_saver, write_adapter
from ragft.train.budget import SAMPLE_CHUNKS, TrainingPlan, chunks_within, raft_fit, sample_of
from ragft.train.data import ChatExample, encode_example
from ragft.train.manifest import (
    ADAPTERS,
    MANIFEST,
    AdapterError,
    AdapterManifest,
    adapter_dir,
    resolve_base_model,
    seed_adapter_stale,
    training_seed,
)
from ragft.train.trainer import LoraSettings, StepCallback, TrainMetrics, load_lora_model, measure_throughput, train_lora
from ragft.workspace import Workspace


@dataclass(frozen=True)
class TrainResult:
    """Where the adapter went and what training did."""

    arm: str
    directory: Path
    manifest: AdapterManifest
    metrics: TrainMetrics


def lora_settings(ws: Workspace, arm: str) -> LoraSettings:
    """`[training]` as trainer settings; the hybrid arm uses the `raft_*` ones."""
    t = ws.config.training
    raft = arm == "hybrid"
    return LoraSettings(
        rank=t.lora_rank,
        alpha=t.lora_alpha,
        dropout=t.lora_dropout,
        target_modules=tuple(m.strip() for m in t.target_modules.split(",") if m.strip()),
        learning_rate=t.raft_learning_rate if raft else t.learning_rate,
        epochs=t.raft_epochs if raft else t.epochs,
        batch_size=t.raft_batch_size if raft else t.batch_size,
        max_length_tokens=t.max_length_tokens,
        early_stopping_patience=t.early_stopping_patience,
        checkpoint_every_steps=t.checkpoint_every_steps,
        seed=t.seed,
        precision=t.precision,
        device=ws.config.models.device,
        quantize_base=t.quantize_base,
        threads=resolve_threads(ws.config.models.threads),
    )


def arm_examples(ws: Workspace, arm: str, data: TrainingSet) -> tuple[list[ChatExample], list[ChatExample]]:
    """(train, validation) chat examples for `arm` from the training set."""
    if arm == "finetuned":

        def examples(split: str) -> list[ChatExample]:
            return [ChatExample(build_messages(p.question), p.answer) for p in data.split(split)]

        text = [ChatExample((), p.text, group=p.chunk_id) for p in data.passages]  # continued pretraining: every token learned
        return examples("train") + text, examples("val")
    t = ws.config.training
    count = min(t.raft_examples, int(data.plan.get("raft_examples") or t.raft_examples))  # the budget may allow fewer
    distractors = int(data.plan.get("raft_distractors", -1))  # or fewer distractor passages (-1: not cut)
    raft = raft_examples(
        first_fact_of_each_chunk(data.facts, count),
        data.chunks,
        count=count,
        distractors=t.raft_distractors if distractors < 0 else min(distractors, t.raft_distractors),
        oracle_free_share=t.raft_oracle_free_share,
        seed=t.seed,
    )
    if not raft:
        raise AdapterError(
            f"too few chunks ({len(data.chunks)}) for RAFT with {t.raft_distractors} distractors; raise [training] max_chunks"
        )
    chat = [ChatExample(r.messages, r.answer) for r in raft]
    random.Random(t.seed).shuffle(chat)
    n_val = max(1, round(len(chat) * t.val_share)) if len(chat) > 4 else 0
    return chat[n_val:], chat[:n_val]


def first_fact_of_each_chunk(facts: Sequence[Fact], count: int) -> list[Fact]:
    """`count` of `facts` for RAFT: each chunk's first fact in chunk order (focus chunks first, their probed fact
    first), then each chunk's second, and so on; so the hybrid arm learns the questions the fine-tuned arm does."""
    rank: dict[str, int] = {}
    keyed = []
    for i, fact in enumerate(facts):
        rank[fact.chunk_id] = rank.get(fact.chunk_id, -1) + 1
        keyed.append((rank[fact.chunk_id], i, fact))
    return [fact for _, _, fact in sorted(keyed, key=lambda k: k[:2])][:count]


def train_arm(
    ws: Workspace,
    arm: str,
    *,
    resume: bool = False,
    progress: Any | None = None,
    generator: Generator | None = None,
    on_step: StepCallback | None = None,
    version: int | None = None,
    count_tokens: TokenCounter | None = None,
    budget_minutes: float | None = None,
    pairs_file: Path | None = None,
    say: Callable[[str], None] | None = None,
) -> TrainResult:
    """Train `arm` ("finetuned" or "hybrid") on corpus `version` (default: the latest) and install its adapter.

    With `resume`, the training set and checkpoint of the interrupted run are reused. `generator`
    is needed only for `[training] synthesis = "model"`. `count_tokens` is the embedder's token
    counter, for a caller that holds the embedder already (else it is built from `[models]`): the
    training set is cut into the index's chunks. `budget_minutes` overrides `[training]
    budget_minutes`; `pairs_file` adds the team's own pairs (`ragft train --pairs`); `say` hears
    the plan before training starts. `progress` is a rich Progress (see `training_progress()`).
    """
    if arm not in ADAPTERS:
        raise AdapterError(f"unknown arm {arm!r}; choose one of: {', '.join(ADAPTERS)}")
    base = resolve_base_model(ws)
    final = adapter_dir(ws, arm)
    work = final.with_name(f".{arm}.work")
    data_path = work / TRAINING_SET_FILE
    settings = lora_settings(ws, arm)
    if resume and data_path.is_file():
        data = TrainingSet.load(data_path)
        loaded = None
    else:
        if resume:
            raise AdapterError(f"nothing to resume for the {arm} arm ({work} has no interrupted run); train without --resume")
        shutil.rmtree(work, ignore_errors=True)
        loaded = load_lora_model(base.hf_dir(), settings)
        corpus = corpus_chunks(ws, version, count_tokens=count_tokens)
        budget = ws.config.training.budget_minutes if budget_minutes is None else budget_minutes
        plan = plan_training(ws, arm, corpus, loaded, settings, budget)
        if say is not None:
            say(plan.describe())

        def synthesize(limit: int) -> TrainingSet:
            return synthesize_training_set(
                ws,
                version,
                generator=generator,
                progress=progress,
                count_tokens=count_tokens,
                chunk_limit=limit,
                pairs_file=pairs_file,
                corpus=corpus,
            )

        data = synthesize(plan.chunks_covered)
        data, plan = _fit_to_budget(ws, arm, data, plan, loaded[0], settings, synthesize, say)
        replay = None
        if arm == "finetuned" and ws.config.training.replay_share > 0:  # RAFT keeps the RAG prompt: nothing to forget there
            replay = generator or build_generator(ws.config.models)
        data = replace(with_replay(data, replay, ws.config.training), plan=plan.summary())
        del replay  # one built here holds the llama.cpp model (~0.65 GB resident): freed before training, not after
        data.save(data_path)
    train, val = arm_examples(ws, arm, data)
    snapshot = snapshot_saver(work / EXPOSURE_DIR, base) if arm == "finetuned" else None
    model, metrics = train_lora(
        base.hf_dir(), train, val, settings, work, resume=resume, progress=progress, on_step=on_step, loaded=loaded, on_exposure=snapshot
    )
    retry = f"free some space and run `ragft train --arm {arm} --resume` to save it without retraining"
    return _install(ws, arm, final, work, model, data, base, settings, metrics, retry)


def _install(
    ws: Workspace,
    arm: str,
    final: Path,
    work: Path,
    model: Any,
    data: TrainingSet,
    base: Any,
    settings: LoraSettings,
    metrics: TrainMetrics,
    retry: str,
) -> TrainResult:
    """Write the adapter beside `final`, swap it in whole, drop the work folder; a failed write leaves `final` untouched."""
    staging = final.with_name(f".{final.name}.new")
    try:
        manifest = write_adapter(ws, arm, staging, model, data, work / TRAINING_SET_FILE, base, settings, metrics)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        kept = "the previous adapter is untouched" if final.exists() else "no earlier adapter existed"
        raise AdapterError(
            f"{staging}: could not write the trained adapter ({exc}); {kept} and the training checkpoint is kept: {retry}"
        ) from exc
    swap_directory(staging, final)
    shutil.rmtree(work, ignore_errors=True)
    return TrainResult(arm, final, manifest, replace(metrics))


def seed_adapter(ws: Workspace, arm: str, seed: int, *, progress: Any | None = None) -> tuple[AdapterManifest, bool]:
    """(the manifest of `arm`'s adapter of seed `seed`, whether it was trained now): reused when its seed and data are unchanged.

    Seed 0 is the installed adapter (`ragft train`), returned as it is. Seed i > 0 trains on exactly
    the installed adapter's training set (copied, not synthesized again) with `[training] seed + i`,
    so seeds differ only in LoRA initialisation and batch order; it lives in `adapters/<arm>-seed<i>/`
    and is reused while its manifest records that seed, the installed adapter's data hash and this
    base model (`manifest.seed_adapter_stale`). Raises AdapterError when seed 0 is not trained.
    """
    source = adapter_dir(ws, arm)
    if not (source / MANIFEST).is_file():
        raise AdapterError(f"the {arm} arm is not trained yet: run `ragft train --arm {arm}` before comparing its seeds")
    installed = AdapterManifest.load(source)
    if seed == 0:
        return installed, False
    base = resolve_base_model(ws)
    final = adapter_dir(ws, arm, seed)
    wanted = training_seed(ws, seed)
    if (final / MANIFEST).is_file():
        cached = AdapterManifest.load(final)
        if not seed_adapter_stale(cached, training_seed=wanted, data_hash=installed.data_hash, base_model=base.model_id):
            return cached, False
    work = final.with_name(f".{final.name}.work")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    data = TrainingSet.load(source / TRAINING_SET_FILE)
    data.save(work / TRAINING_SET_FILE)
    settings = replace(lora_settings(ws, arm), seed=wanted)
    train, val = arm_examples(ws, arm, data)
    model, metrics = train_lora(base.hf_dir(), train, val, settings, work, progress=progress)
    result = _install(ws, arm, final, work, model, data, base, settings, metrics, "free some space and compare again")
    return result.manifest, True


def plan_training(
    ws: Workspace, arm: str, corpus: CorpusChunks, loaded: tuple[Any, Any], settings: LoraSettings, budget_minutes: float
) -> TrainingPlan:
    """How many chunks fit in `budget_minutes`: tokens per chunk from a seeded sample, tokens/s measured on them."""
    t = ws.config.training
    total = len(corpus.ordered)
    sample = sample_of(corpus.ordered, SAMPLE_CHUNKS, t.seed)
    try:
        data = build_training_set(sample, corpus.version, settings=t, corpus_text=corpus.corpus_text, focus=corpus.focus)
        train, val = arm_examples(ws, arm, data)
    except (TrainingDataError, AdapterError):  # too few facts in the sample to estimate: plan on every chunk
        return TrainingPlan(total, min(total, t.max_chunks or total), budget_minutes, 0.0, 0.0, settings.epochs, t.seed)
    tokenizer, model = loaded
    encoded = [encode_example(tokenizer, ex, settings.max_length_tokens) for ex in train + val]
    per_chunk = sum(len(e.input_ids) for e in encoded) / len(sample)
    if arm == "hybrid":  # RAFT examples are capped in number, not per chunk
        per_chunk = sum(len(e.input_ids) for e in encoded) / max(total, 1)
    tokens_per_s = measure_throughput(model, train, encoded[: len(train)], settings)
    covered = chunks_within(budget_minutes, total, per_chunk, settings.epochs, tokens_per_s)
    return TrainingPlan(
        total, min(covered, t.max_chunks or covered), budget_minutes, round(tokens_per_s, 1), round(per_chunk, 1), settings.epochs, t.seed
    )


def _fit_to_budget(
    ws: Workspace,
    arm: str,
    data: TrainingSet,
    plan: TrainingPlan,
    tokenizer: Any,
    settings: LoraSettings,
    synthesize: Callable[[int], TrainingSet],
    say: Callable[[str], None] | None,
) -> tuple[TrainingSet, TrainingPlan]:
    """The plan with the tokens the chosen chunks really yield (the sample only estimated them); if they overrun the
    budget by more than a quarter, fewer chunks (synthesized again from the per-chunk cache, so cheaply), or for the
    hybrid arm, whose RAFT examples are capped in number rather than per chunk, fewer distractor passages, then fewer
    RAFT examples but never below the floor (`budget.raft_fit`; over budget, said, when even the floor overruns)."""

    def tokens(candidate: TrainingSet) -> int:
        train, val = arm_examples(ws, arm, candidate)
        return sum(len(encode_example(tokenizer, ex, settings.max_length_tokens).input_ids) for ex in train + val)

    actual = tokens(data)
    budget_s = plan.budget_minutes * 60
    share = budget_s * plan.tokens_per_s / (actual * plan.epochs) if budget_s and plan.tokens_per_s and actual else 1.0
    cut: dict[str, Any] = {}
    if share < 0.8 and arm == "hybrid":
        t = ws.config.training
        full = sum(map(len, arm_examples(ws, arm, data)))

        def raft_tokens(examples: int, distractors: int) -> int:
            return tokens(replace(data, plan={"raft_examples": examples, "raft_distractors": distractors}))

        examples, distractors, over = raft_fit(budget_s * plan.tokens_per_s / plan.epochs / 0.8, full, raft_tokens, t.raft_distractors)
        cut = {"raft_examples": examples if examples < full else 0, "over_budget": over}
        cut["raft_distractors"] = distractors if distractors < t.raft_distractors else -1
        actual = raft_tokens(examples, distractors)
    elif share < 0.8 and len(data.chunks) > 1:
        data = synthesize(max(1, int(len(data.chunks) * share)))
        actual = tokens(data)
    fitted = replace(plan, chunks_covered=len(data.chunks), tokens_per_chunk=round(actual / max(len(data.chunks), 1), 1), **cut)
    if say is not None and (fitted.over_budget or abs(fitted.projected_s - plan.projected_s) > 0.25 * max(plan.projected_s, 1)):
        say("Adjusted to the synthesized data: " + fitted.describe())
    return data, fitted


def training_progress() -> Any:
    """A rich Progress whose columns show step, loss, tokens/s and the time left."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]}"),
        TextColumn("{task.fields[tps]} tok/s"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
