"""Build the training set of a corpus version: chunks -> facts -> question/answer pairs.

Restricted documents (non-empty acl) are never trained on: knowledge in weights cannot be
filtered per user, so it would leak to everyone who may query the model. Chunks are taken
round-robin across documents, so a capped demo still covers the whole corpus.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from ragft.corpus.chunking import chunk_corpus
from ragft.errors import RagftError
from ragft.models.base import DecodingSettings, Generator, embedder_token_counter
from ragft.models.factory import build_embedder
from ragft.prompts import REFUSAL
from ragft.synth.model_synthesis import paraphrase_with_model, synthesize_with_model
from ragft.synth.question_file import load_questions
from ragft.synth.raft import unanswerable_questions
from ragft.synth.replay import replay_pairs
from ragft.synth.rules import candidate_count, extract_facts
from ragft.synth.types import Coverage, Fact, TrainingSet, TrainPair
from ragft.text import TokenCounter
from ragft.types import Chunk
from ragft.workspace import Workspace

MIN_FACTS = 3
SYNTHESIS_MODES = ("rules", "model")


class TrainingDataError(RagftError, ValueError):
    """The corpus yields too little to train on; the message says what was found and what to do."""


def synthesize_training_set(
    ws: Workspace,
    version: int | None = None,
    *,
    generator: Generator | None = None,
    progress: Any | None = None,
    replay_generator: Generator | None = None,
    count_tokens: TokenCounter | None = None,
) -> TrainingSet:
    """Facts and question/answer pairs for corpus `version` (default: latest), per `[training]` settings.

    With `synthesis = "model"` the `generator` (required then) writes the pairs, and chunks where
    it yields no valid pair fall back to the rules. With a `replay_generator` (the base model),
    `replay_share` general questions answered by it are added. `progress` is an optional rich Progress.
    Chunks are the index's (`chunk_corpus` with `[corpus]` settings), counted by `count_tokens`:
    the configured embedder's counter unless the caller, holding that embedder, passes its own.
    """
    settings = ws.config.training
    if settings.synthesis not in SYNTHESIS_MODES:
        raise TrainingDataError(f"[training] synthesis = {settings.synthesis!r}; choose one of: {', '.join(SYNTHESIS_MODES)}")
    if settings.synthesis == "model" and generator is None:
        raise TrainingDataError('[training] synthesis = "model" needs a generator; pass one or set synthesis = "rules"')
    version = version or ws.store.latest_version()
    if version is None:
        raise TrainingDataError("the workspace has no documents yet; add some with `ragft ingest FOLDER` before training")
    documents = ws.store.documents(version)
    count_tokens = count_tokens or embedder_token_counter(build_embedder(ws.config.models))
    all_chunks = chunk_corpus(documents, ws.config.corpus, count_tokens)
    focus = focus_answers(ws.root / settings.focus_questions) if settings.focus_questions else {}
    chunks = select_chunks(all_chunks, settings.max_chunks, focus=focus)
    data = build_training_set(chunks, version, generator=generator if settings.synthesis == "model" else None,
                              settings=settings, chunks_total=len(all_chunks), corpus_text=" ".join(d.text for d in documents),
                              progress=progress, focus=focus)  # fmt: skip
    if replay_generator is None or settings.replay_share <= 0:
        return data
    facts = sum(p.kind in ("fact", "paraphrase") for p in data.pairs)
    replay = replay_pairs(replay_generator, round(facts * settings.replay_share), seed=settings.seed)
    return replace(data, pairs=(*data.pairs, *replay))


def focus_answers(path: Path) -> dict[str, list[str]]:
    """doc id -> the answers that the questions in `path` expect from it (a multi-document answer split in parts)."""
    focus: dict[str, list[str]] = {}
    for item in load_questions(path):
        answers = list(item.meta.get("answer_parts") or item.answers) if item.answerable else []
        for doc_id in item.gold_doc_ids:
            focus.setdefault(doc_id, []).extend(a for a in answers if a not in focus.get(doc_id, []))
    return focus


def select_chunks(chunks: Sequence[Chunk], limit: int, *, focus: Mapping[str, Sequence[str]] | None = None) -> list[Chunk]:
    """The public ones of `chunks`, at most `limit` (0 = all): first those holding a `focus` answer
    (doc id -> answers), then round-robin across documents, richest in facts first."""
    focus = focus or {}
    by_doc: dict[str, list[Chunk]] = {}
    for chunk in chunks:
        if not chunk.acl:
            by_doc.setdefault(chunk.doc_id, []).append(chunk)
    per_doc = [sorted(doc_chunks, key=lambda c: -candidate_count(c)) for doc_chunks in by_doc.values()]
    chosen = [c for chunks in per_doc for c in chunks if _holds(c, focus.get(c.doc_id, ()))]
    focused = {c.chunk_id for c in chosen}
    depth = 0
    while any(depth < len(chunks) for chunks in per_doc):
        chosen.extend(chunks[depth] for chunks in per_doc if depth < len(chunks) and chunks[depth].chunk_id not in focused)
        depth += 1
    return chosen[:limit] if limit > 0 else chosen


def _holds(chunk: Chunk, answers: Sequence[str]) -> bool:
    return any(a and a.lower() in chunk.text.lower() for a in answers)


def build_training_set(
    chunks: Sequence[Chunk],
    version: int,
    *,
    settings: Any,
    generator: Generator | None = None,
    chunks_total: int | None = None,
    corpus_text: str = "",
    progress: Any | None = None,
    focus: Mapping[str, Sequence[str]] | None = None,
) -> TrainingSet:
    """The training set for `chunks` (the part of synthesis that needs no workspace; tests call it).

    `focus` (doc id -> answers) makes the rules prefer, in a chunk, the fact holding such an answer.
    """
    focus = focus or {}
    rejected: Counter[str] = Counter()
    decoding = DecodingSettings(max_new_tokens=256, temperature=0.0, seed=settings.seed)
    facts: list[Fact] = []
    task = progress.add_task("synthesizing questions", total=len(chunks), loss="-", tps="-") if progress is not None else None
    for chunk in chunks:
        found = _model_facts(generator, chunk, settings, decoding, rejected) if generator is not None else []
        if not found:
            found = _rule_facts(chunk, settings, focus.get(chunk.doc_id, ()))
        facts.extend(found)
        if progress is not None:
            progress.advance(task)
    if len(facts) < MIN_FACTS:
        detail = f"; rejected: {dict(rejected)}" if rejected else ""
        raise TrainingDataError(
            f"only {len(facts)} facts found in {len(chunks)} chunks (need at least {MIN_FACTS}){detail}: the corpus is "
            "too small to train on — add documents with concrete facts (names, numbers, dates) or raise [training] max_chunks"
        )
    pairs = _pairs(facts, settings, corpus_text)
    coverage = Coverage(
        chunks_total=chunks_total if chunks_total is not None else len(chunks),
        chunks_used=len(chunks),
        chunks_with_fact=len({f.chunk_id for f in facts}),
        facts=len(facts),
        questions=sum(len(f.questions) for f in facts),
        rejected=dict(rejected),
    )
    return TrainingSet(version, tuple(facts), tuple(pairs), {c.chunk_id: c for c in chunks}, coverage)


def _rule_facts(chunk: Chunk, settings: Any, prefer: Sequence[str] = ()) -> list[Fact]:
    found = extract_facts(chunk, limit=settings.facts_per_chunk, paraphrases=settings.paraphrases, prefer=prefer)
    return [Fact(f"{chunk.chunk_id}/r{i}", chunk.doc_id, chunk.chunk_id, chunk.start + f.start, chunk.start + f.end,
                 f.statement, f.answer, f.questions, "rules") for i, f in enumerate(found)]  # fmt: skip


def _model_facts(generator: Generator, chunk: Chunk, settings: Any, decoding: DecodingSettings, rejected: Counter[str]) -> list[Fact]:
    facts = []
    for i, pair in enumerate(synthesize_with_model(generator, chunk, count=settings.facts_per_chunk, decoding=decoding, rejected=rejected)):
        extra = paraphrase_with_model(generator, pair.question, count=settings.paraphrases - 1, decoding=decoding, rejected=rejected)
        statement = pair.answer if pair.answer.endswith(".") else pair.answer + "."
        facts.append(Fact(f"{chunk.chunk_id}/m{i}", chunk.doc_id, chunk.chunk_id, chunk.start + pair.start,
                          chunk.start + pair.end, statement, pair.answer, (pair.question, *extra), "model"))  # fmt: skip
    return facts


def _pairs(facts: Sequence[Fact], settings: Any, corpus_text: str) -> list[TrainPair]:
    """Every question of every fact; a share of paraphrases (never a fact's first question) held out."""
    rng = random.Random(settings.seed)
    pairs = [
        TrainPair(q, f.statement, "fact" if i == 0 else "paraphrase", "train", f.fact_id, f.doc_id, f.chunk_id, f.start, f.end)
        for f in facts
        for i, q in enumerate(f.questions)
    ]
    candidates = [i for i, p in enumerate(pairs) if p.kind == "paraphrase"]
    held_out = set(rng.sample(candidates, min(len(candidates), round(len(pairs) * settings.val_share))))
    pairs = [_with_split(p, "val") if i in held_out else p for i, p in enumerate(pairs)]
    refusals = unanswerable_questions(corpus_text, max(1, round(len(pairs) * settings.refusal_share)), seed=settings.seed)
    pairs += [TrainPair(q, REFUSAL, "refusal", "val" if i == 0 and held_out else "train") for i, q in enumerate(refusals)]
    return pairs


def _with_split(pair: TrainPair, split: str) -> TrainPair:
    return TrainPair(pair.question, pair.answer, pair.kind, split, pair.fact_id, pair.doc_id, pair.chunk_id, pair.start, pair.end)
