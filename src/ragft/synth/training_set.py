"""Build the training set of a corpus version: chunks -> facts -> question/answer pairs and passages.

The knowledge-injection recipe (issue 13): every fact of a chunk, decontextualized, asked in both
directions with several phrasings (`rules`, or the generator with the rules as a counted fallback),
plus the chunk as text and rewritten in another style (`rewrites`), refusals, replay and, with
`ragft train --pairs`, the team's own pairs. Restricted documents (non-empty acl) are never
trained on: knowledge in weights cannot be filtered per user, so it would leak to everyone who may
query the model. When not every chunk is trained on (a budget or `max_chunks`), the chunks holding
`focus_questions` answers come first, then a seeded random sample of the rest.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ragft.corpus.chunking import chunk_corpus
from ragft.errors import RagftError
from ragft.models.base import DecodingSettings, Generator, embedder_token_counter
from ragft.models.factory import build_embedder
from ragft.prompts import REFUSAL
from ragft.synth.cache import SynthesisCache
from ragft.synth.model_synthesis import paraphrase_with_model, reverse_with_model, synthesize_with_model
from ragft.synth.question_file import load_questions
from ragft.synth.raft import unanswerable_questions
from ragft.synth.replay import replay_pairs
from ragft.synth.rewrites import chunk_passages
from ragft.synth.rules import candidate_count, decontextualize, extract_facts, framed_copies, named, readable_title, reverse_questions
from ragft.synth.team_pairs import load_team_pairs
from ragft.synth.types import FACT_KINDS, Coverage, Fact, Passage, TrainingSet, TrainPair
from ragft.text import TokenCounter
from ragft.types import Chunk, Document
from ragft.workspace import Workspace

MIN_FACTS = 3
MAX_MODEL_PAIRS = 12  # pairs asked of the generator per chunk, in one reply of up to 40 tokens a pair
SYNTHESIS_MODES = ("rules", "model")


class TrainingDataError(RagftError, ValueError):
    """The corpus yields too little to train on; the message says what was found and what to do."""


@dataclass(frozen=True)
class CorpusChunks:
    """A corpus version cut by the index's chunker: every chunk, and the public ones in training order."""

    version: int
    documents: list[Document]
    chunks: list[Chunk]  # every chunk (the coverage denominator counts the public ones)
    ordered: list[Chunk]  # public chunks: focus chunks first, then a seeded random order
    focus: dict[str, list[str]]  # doc id -> answers the focus questions expect (see focus_answers)

    @property
    def corpus_text(self) -> str:
        return " ".join(d.text for d in self.documents)


def corpus_chunks(ws: Workspace, version: int | None = None, *, count_tokens: TokenCounter | None = None) -> CorpusChunks:
    """The chunks of corpus `version` (default: latest) that training may use, in the order it takes them."""
    version = version or ws.store.latest_version()
    if version is None:
        raise TrainingDataError("the workspace has no documents yet; add some with `ragft ingest FOLDER` before training")
    documents = ws.store.documents(version)
    count_tokens = count_tokens or embedder_token_counter(build_embedder(ws.config.models))
    all_chunks = chunk_corpus(documents, ws.config.corpus, count_tokens)
    settings = ws.config.training
    focus = focus_answers(ws.root / settings.focus_questions) if settings.focus_questions else {}
    return CorpusChunks(version, documents, all_chunks, select_chunks(all_chunks, 0, focus=focus, seed=settings.seed), focus)


def synthesize_training_set(
    ws: Workspace,
    version: int | None = None,
    *,
    generator: Generator | None = None,
    progress: Any | None = None,
    replay_generator: Generator | None = None,
    count_tokens: TokenCounter | None = None,
    chunk_limit: int = 0,
    pairs_file: Path | None = None,
    corpus: CorpusChunks | None = None,
) -> TrainingSet:
    """Facts, question/answer pairs and passages for corpus `version` (default: latest), per `[training]` settings.

    With `synthesis = "model"` the `generator` (required then) writes the pairs and rewrites, and
    chunks where it yields no valid pair fall back to the rules. With a `replay_generator` (the base
    model), `replay_share` general questions answered by it are added. `chunk_limit` (0 = none) and
    `[training] max_chunks` cap the chunks, taken in `corpus_chunks` order; `pairs_file` adds the
    team's own pairs (deduplicated against the probes `ragft compare` generates). Per-chunk results
    are cached by content hash in the state folder, so after an update only changed chunks are
    synthesized again. `progress` is an optional rich Progress. Chunks are the index's, counted by
    `count_tokens`: the configured embedder's counter unless the caller passes its own.
    """
    settings = ws.config.training
    if settings.synthesis not in SYNTHESIS_MODES:
        raise TrainingDataError(f"[training] synthesis = {settings.synthesis!r}; choose one of: {', '.join(SYNTHESIS_MODES)}")
    if settings.synthesis == "model" and generator is None:
        raise TrainingDataError('[training] synthesis = "model" needs a generator; pass one or set synthesis = "rules"')
    corpus = corpus or corpus_chunks(ws, version, count_tokens=count_tokens)
    limits = [n for n in (chunk_limit, settings.max_chunks) if n > 0]
    chunks = corpus.ordered[: min(limits)] if limits else corpus.ordered
    cap = settings.facts_per_chunk or MIN_FACTS  # a chunk gives at most facts_per_chunk facts, however many it holds
    while sum(min(candidate_count(c), cap) for c in chunks) < MIN_FACTS and len(chunks) < len(corpus.ordered):
        chunks = corpus.ordered[: len(chunks) + 1]  # a budget of one chunk still trains on a few facts
    cache = SynthesisCache(ws.state_dir / "synth-cache", f"{settings.synthesis}|{ws.config.models.generator}")
    data = build_training_set(
        chunks,
        corpus.version,
        generator=generator if settings.synthesis == "model" else None,
        settings=settings,
        chunks_total=len(corpus.ordered),
        corpus_text=corpus.corpus_text,
        progress=progress,
        focus=corpus.focus,
        cache=cache,
    )
    if pairs_file is not None:
        data = _with_team_pairs(ws, data, pairs_file, corpus, count_tokens)
    return with_replay(data, replay_generator, settings)


def with_replay(data: TrainingSet, generator: Generator | None, settings: Any) -> TrainingSet:
    """`data` plus `replay_share` of its fact pairs in general questions answered by `generator` (the base model)."""
    if generator is None or settings.replay_share <= 0:
        return data
    facts = sum(p.kind in FACT_KINDS for p in data.pairs)
    replay = replay_pairs(generator, round(facts * settings.replay_share), seed=settings.seed)
    return replace(data, pairs=(*data.pairs, *replay))


def _with_team_pairs(ws: Workspace, data: TrainingSet, path: Path, corpus: CorpusChunks, count_tokens: TokenCounter | None) -> TrainingSet:
    """`data` plus the team's pairs from `path`, minus any that copy a probe `ragft compare` would ask."""
    from ragft.synth.probes import generate_probes

    evaluation = ws.config.evaluation
    probes = [
        i.question
        for i in generate_probes(
            corpus.documents,
            per_kind=evaluation.probes_per_kind,
            seed=evaluation.seed,
            chunking=ws.config.corpus,
            count_tokens=count_tokens,
        ).items
    ]
    if ws.config.training.focus_questions:
        probes += [i.question for i in load_questions(ws.root / ws.config.training.focus_questions)]
    team, dropped = load_team_pairs(path, probes)
    coverage = replace(data.coverage, team_pairs=len(team), team_pairs_dropped=dict(dropped))
    return replace(data, pairs=(*data.pairs, *team), coverage=coverage)


def focus_answers(path: Path) -> dict[str, list[str]]:
    """doc id -> the answers that the questions in `path` expect from it (a multi-document answer split in parts)."""
    focus: dict[str, list[str]] = {}
    for item in load_questions(path):
        answers = list(item.meta.get("answer_parts") or item.answers) if item.answerable else []
        for doc_id in item.gold_doc_ids:
            focus.setdefault(doc_id, []).extend(answers)  # once per question asking: select_chunks ranks by it
    return focus


def select_chunks(chunks: Sequence[Chunk], limit: int, *, focus: Mapping[str, Sequence[str]] | None = None, seed: int = 0) -> list[Chunk]:
    """The public ones of `chunks`, at most `limit` (0 = all): first those holding a `focus` answer
    (doc id -> answers), those more questions ask about first, then the rest in a random order seeded
    by `seed` (a sample of the corpus)."""
    focus = focus or {}
    public = [c for c in chunks if not c.acl]
    asked = {c.chunk_id: _asked(c, focus.get(c.doc_id, ())) for c in public}
    chosen = sorted((c for c in public if asked[c.chunk_id]), key=lambda c: -asked[c.chunk_id])  # most asked first
    focused = {c.chunk_id for c in chosen}
    rest = [c for c in public if c.chunk_id not in focused]
    random.Random(seed).shuffle(rest)
    chosen += rest
    return chosen[:limit] if limit > 0 else chosen


def _asked(chunk: Chunk, answers: Sequence[str]) -> int:
    """How many of the focus questions' `answers` (one per question asking) `chunk` holds."""
    return sum(bool(a) and a.lower() in chunk.text.lower() for a in answers)


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
    cache: SynthesisCache | None = None,
) -> TrainingSet:
    """The training set for `chunks` (the part of synthesis that needs no workspace; tests call it).

    `focus` (doc id -> answers) makes the rules put, in a chunk, the fact holding such an answer first.
    """
    focus = focus or {}
    rejected: Counter[str] = Counter()
    decoding = DecodingSettings(max_new_tokens=256, temperature=0.0, seed=settings.seed)
    facts: list[Fact] = []
    passages: list[Passage] = []
    cached = 0
    task = progress.add_task("synthesizing questions", total=len(chunks), loss="-", tps="-") if progress is not None else None
    for chunk in chunks:
        prefer = tuple(dict.fromkeys(focus.get(chunk.doc_id, ())))  # each answer once
        hit = cache.get(chunk, settings, repr(prefer)) if cache is not None else None
        if hit is None:
            found = _model_facts(generator, chunk, settings, decoding, rejected) if generator is not None else []
            if not found:
                found = _rule_facts(chunk, settings, prefer)
            texts = chunk_passages(
                chunk,
                found,
                rewrites=settings.rewrites,
                raw=settings.raw_chunks,
                generator=generator,
                decoding=replace(decoding, max_new_tokens=384),
                rejected=rejected,
            )
            if cache is not None:
                cache.put(chunk, settings, found, texts, repr(prefer))
        else:
            (found, texts), cached = hit, cached + 1
        facts.extend(found)
        passages.extend(texts)
        if progress is not None:
            progress.advance(task)
    if len(facts) < MIN_FACTS:
        detail = f"; rejected: {dict(rejected)}" if rejected else ""
        raise TrainingDataError(
            f"only {len(facts)} facts found in {len(chunks)} chunks (need at least {MIN_FACTS}){detail}: the corpus is "
            "too small to train on — add documents with concrete facts (names, numbers, dates), or raise "
            "[training] max_chunks or budget_minutes"
        )
    pairs = _pairs(facts, settings, corpus_text)
    coverage = Coverage(
        chunks_total=chunks_total if chunks_total is not None else len(chunks),
        chunks_used=len(chunks),
        chunks_with_fact=len({f.chunk_id for f in facts}),
        facts=len(facts),
        questions=sum(len(f.questions) + len(f.reverse) for f in facts),
        rejected=dict(rejected),
        reverse_questions=sum(len(f.reverse) for f in facts),
        passages=len(passages),
        cached_chunks=cached,
    )
    return TrainingSet(version, tuple(facts), tuple(pairs), {c.chunk_id: c for c in chunks}, coverage, tuple(passages))


def _rule_facts(chunk: Chunk, settings: Any, prefer: Sequence[str] = ()) -> list[Fact]:
    found = extract_facts(chunk, limit=settings.facts_per_chunk, paraphrases=settings.paraphrases, prefer=prefer)
    return [
        Fact(
            f"{chunk.chunk_id}/r{i}",
            chunk.doc_id,
            chunk.chunk_id,
            chunk.start + f.start,
            chunk.start + f.end,
            f.statement,
            f.answer,
            f.questions,
            "rules",
            f.reverse,
            f.reverse_answer,
        )
        for i, f in enumerate(found)
    ]


def _model_facts(generator: Generator, chunk: Chunk, settings: Any, decoding: DecodingSettings, rejected: Counter[str]) -> list[Fact]:
    """Validated pairs by the generator, each with forward paraphrases and reverse questions (rules when it writes none)."""
    facts = []
    count = settings.facts_per_chunk or min(MAX_MODEL_PAIRS, max(4, 2 * candidate_count(chunk)))  # extra asks: some get rejected
    asking = replace(decoding, max_new_tokens=max(decoding.max_new_tokens, 40 * count))
    for i, pair in enumerate(synthesize_with_model(generator, chunk, count=count, decoding=asking, rejected=rejected)):
        extra = paraphrase_with_model(generator, pair.question, count=settings.paraphrases - 1, decoding=decoding, rejected=rejected)
        start, end, sentence = _sentence_at(chunk, pair.start, pair.end)
        title = readable_title(chunk.title)
        statement = named(decontextualize(sentence, title)[0], title) if sentence else pair.answer.rstrip(".") + "."
        reverse = reverse_with_model(
            generator, statement, pair.answer, count=max(1, settings.paraphrases // 2), decoding=decoding, rejected=rejected
        )
        subject = ""
        if not reverse and sentence:
            at = sentence.lower().find(pair.answer.lower().strip(". "))
            asked, subject = reverse_questions(sentence, (at, at + len(pair.answer)), title) if at >= 0 else ((), "")
            reverse = list(asked)
            rejected["reverse_fallback_rules"] += 1
        facts.append(
            Fact(
                f"{chunk.chunk_id}/m{i}",
                chunk.doc_id,
                chunk.chunk_id,
                chunk.start + start,
                chunk.start + end,
                statement,
                pair.answer,
                (pair.question, *extra),
                "model",
                tuple(reverse),
                subject,
            )
        )
    return facts


def _sentence_at(chunk: Chunk, start: int, end: int) -> tuple[int, int, str]:
    """(start, end, cleaned sentence) of the chunk sentence holding [start, end); the span itself if none does."""
    from ragft.synth.rules import _sentences

    for s_start, s_end, sentence in _sentences(chunk.text):
        if s_start <= start and end <= s_end:
            return s_start, s_end, sentence
    return start, end, ""


def _pairs(facts: Sequence[Fact], settings: Any, corpus_text: str) -> list[TrainPair]:
    """Every question of every fact; a share of paraphrases held out by wording (`_held_out`)."""
    rng = random.Random(settings.seed)
    pairs = [
        TrainPair(q, f.answer_text(), "fact" if i == 0 else "paraphrase", "train", f.fact_id, f.doc_id, f.chunk_id, f.start, f.end)
        for f in facts
        for i, q in enumerate(f.questions)
    ]
    pairs += [
        TrainPair(q, f.answer_text(reverse=True), "reverse", "train", f.fact_id, f.doc_id, f.chunk_id, f.start, f.end)
        for f in facts
        for q in f.reverse
    ]
    held_out = _held_out(facts, round(len(pairs) * settings.val_share), rng)
    pairs = [_with_split(p, "val") if (p.fact_id, p.question) in held_out else p for p in pairs]
    refusals = unanswerable_questions(corpus_text, max(1, round(len(pairs) * settings.refusal_share)), seed=settings.seed)
    pairs += [TrainPair(q, REFUSAL, "refusal", "val" if i == 0 and held_out else "train") for i, q in enumerate(refusals)]
    return pairs


def _held_out(facts: Sequence[Fact], count: int, rng: random.Random) -> set[tuple[str, str]]:
    """(fact id, question) of about `count` paraphrases to validate on, whole wordings at a time.

    A wording is a question and its framed copies ("Regarding T: q"); the one of a fact's first
    question is never held out. Holding out a copy while its source is trained would make early
    stopping and the generalisation diagnostic measure memorisation.
    """
    wordings = []
    for fact in facts:
        groups = framed_copies(fact.questions)
        for group in sorted(set(groups) - {groups[0]}) if groups else ():
            wordings.append([(fact.fact_id, q) for q, g in zip(fact.questions, groups, strict=True) if g == group])
    rng.shuffle(wordings)
    held: set[tuple[str, str]] = set()
    for wording in wordings:
        if len(held) >= count:
            break
        held.update(wording)
    return held


def _with_split(pair: TrainPair, split: str) -> TrainPair:
    return TrainPair(pair.question, pair.answer, pair.kind, split, pair.fact_id, pair.doc_id, pair.chunk_id, pair.start, pair.end)
