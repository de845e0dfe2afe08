"""The training data the fine-tuned arms learn from: facts, question/answer pairs, coverage.

A `Fact` is one statement found in one chunk, with the questions that ask for it; every pair
keeps its source document, chunk and character span, so a trained answer can be traced back.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ragft.files import write_atomic
from ragft.types import Chunk

# fact: a fact's first question; paraphrase: its other forward questions; reverse: the value given, the
# entity asked for; refusal: an out-of-scope question answered with the refusal; replay: a general
# question and the base model's own answer; team: a pair from the team's own file (`ragft train --pairs`).
PAIR_KINDS = ("fact", "paraphrase", "reverse", "refusal", "replay", "team")
FACT_KINDS = ("fact", "paraphrase", "reverse")  # the pairs that teach a document fact


@dataclass(frozen=True)
class Fact:
    """A statement from one chunk and the questions (first = canonical, rest = paraphrases) it answers."""

    fact_id: str
    doc_id: str
    chunk_id: str
    start: int  # span of the supporting statement in the document text
    end: int
    statement: str  # the answer the model is trained to give: one short sentence
    answer: str  # the key value inside the statement (what a grader looks for)
    questions: tuple[str, ...]
    source: str = "rules"  # rules | model
    reverse: tuple[str, ...] = ()  # questions giving `answer` and asking what it belongs to (attribute -> entity)
    reverse_answer: str = ""  # what the reverse questions ask for (the sentence's subject); "" = unknown

    def answer_text(self, reverse: bool = False) -> str:
        """The answer a question about this fact is trained to give: the short value first, then the
        supporting sentence (as knowledge-injection work trains it), so the model learns to say the
        fact, not to restate the question. A reverse question leads with `reverse_answer`."""
        lead = (self.reverse_answer if reverse else self.answer).strip().rstrip(".").strip()
        if not lead or lead == self.statement.rstrip("."):
            return self.statement
        return f"{lead}. {self.statement}"


@dataclass(frozen=True)
class TrainPair:
    """One supervised example: a question and the exact answer text to learn."""

    question: str
    answer: str
    kind: str  # one of PAIR_KINDS
    split: str = "train"  # train | val
    fact_id: str = ""
    doc_id: str = ""
    chunk_id: str = ""
    start: int = 0
    end: int = 0


@dataclass(frozen=True)
class Passage:
    """Continued-pretraining text from one chunk: the chunk itself or a rewrite of it (loss on every token)."""

    chunk_id: str
    doc_id: str
    style: str  # raw | encyclopedic | conversation | model
    text: str


@dataclass(frozen=True)
class Coverage:
    """How much of the corpus the training set covers, and what synthesis threw away."""

    chunks_total: int
    chunks_used: int
    chunks_with_fact: int
    facts: int
    questions: int
    rejected: Mapping[str, int] = field(default_factory=dict)  # reason -> count
    reverse_questions: int = 0  # of `questions`, those asking attribute -> entity
    passages: int = 0  # raw chunks and rewrites trained as text
    team_pairs: int = 0  # pairs from `ragft train --pairs` (not counted in `questions`)
    team_pairs_dropped: Mapping[str, int] = field(default_factory=dict)  # reason -> count (e.g. a probe's near-copy)
    cached_chunks: int = 0  # chunks whose synthesis was reused from the per-chunk cache

    @property
    def chunk_coverage(self) -> float:
        """Share of the chunks used that yielded at least one fact."""
        return self.chunks_with_fact / self.chunks_used if self.chunks_used else 0.0

    @property
    def questions_per_chunk(self) -> float:
        return self.questions / self.chunks_with_fact if self.chunks_with_fact else 0.0

    def summary(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "rejected": dict(self.rejected),
            "team_pairs_dropped": dict(self.team_pairs_dropped),
            "chunk_coverage": round(self.chunk_coverage, 3),
            "questions_per_chunk": round(self.questions_per_chunk, 2),
        }


@dataclass(frozen=True)
class TrainingSet:
    """Facts, the pairs made from them, the chunks they came from, and the coverage report."""

    corpus_version: int
    facts: tuple[Fact, ...]
    pairs: tuple[TrainPair, ...]
    chunks: Mapping[str, Chunk]  # every chunk used (RAFT needs them as oracle and distractors)
    coverage: Coverage
    passages: tuple[Passage, ...] = ()  # raw chunks and rewrites, trained as plain text
    plan: Mapping[str, Any] = field(default_factory=dict)  # the budget plan that chose the chunks (train.budget)

    def split(self, name: str) -> list[TrainPair]:
        return [p for p in self.pairs if p.split == name]

    def taught_chunks(self) -> dict[str, Chunk]:
        """The chunks the arm was trained on: a training pair's (QA, RAFT oracle) or a passage's (raw text, rewrite).

        `chunks` also holds chunks the budget drew that yielded no fact (and, for RAFT, distractors):
        the weights learned nothing from those, so a probe on them is not "covered", and rag-parity
        must not search them.
        """
        ids = {p.chunk_id for p in self.pairs if p.split == "train" and p.chunk_id} | {p.chunk_id for p in self.passages}
        return {chunk_id: chunk for chunk_id, chunk in self.chunks.items() if chunk_id in ids}

    def taught_values(self) -> dict[str, list[str]]:
        """doc id -> the value each trained fact-teaching pair leads with (the fact's value; its subject for a reverse
        question): what the weights were trained to produce. A probe whose gold answer is one of these asks a fact the
        arm was taught, not only a chunk it read."""
        facts = {f.fact_id: f for f in self.facts}
        values: dict[str, list[str]] = {}
        for pair in self.pairs:
            fact = facts.get(pair.fact_id)
            if pair.split == "train" and pair.kind in FACT_KINDS and fact is not None:
                values.setdefault(pair.doc_id, []).append(fact.reverse_answer if pair.kind == "reverse" else fact.answer)
        return values

    def data_hash(self) -> str:
        """sha256 of the pairs and chunks, so a manifest names exactly what an adapter learned."""
        digest = hashlib.sha256()
        for pair in self.pairs:
            digest.update(json.dumps(asdict(pair), sort_keys=True).encode())
        for chunk_id in sorted(self.chunks):
            digest.update(chunk_id.encode() + b"\0" + self.chunks[chunk_id].text.encode())
        for passage in self.passages:
            digest.update(json.dumps(asdict(passage), sort_keys=True).encode())
        return digest.hexdigest()

    def save(self, path: Path) -> None:
        """Write as one JSON file, atomically (a crash leaves the previous file)."""
        payload = {
            "corpus_version": self.corpus_version,
            "coverage": self.coverage.summary(),
            "facts": [asdict(f) for f in self.facts],
            "pairs": [asdict(p) for p in self.pairs],
            "chunks": [{**asdict(c), "acl": sorted(c.acl)} for c in self.chunks.values()],
            "passages": [asdict(p) for p in self.passages],
            "plan": dict(self.plan),
        }
        write_atomic(path, json.dumps(payload, ensure_ascii=False, indent=1).encode("utf-8"))

    @classmethod
    def load(cls, path: Path) -> TrainingSet:
        raw = json.loads(path.read_text(encoding="utf-8"))
        cov = {k: v for k, v in raw["coverage"].items() if k not in ("chunk_coverage", "questions_per_chunk")}
        chunks = {c["chunk_id"]: Chunk(**{**c, "acl": frozenset(c["acl"])}) for c in raw["chunks"]}
        return cls(
            corpus_version=raw["corpus_version"],
            facts=tuple(Fact(**{**f, "questions": tuple(f["questions"]), "reverse": tuple(f.get("reverse", ()))}) for f in raw["facts"]),
            pairs=tuple(TrainPair(**p) for p in raw["pairs"]),
            chunks=chunks,
            coverage=Coverage(**cov),
            passages=tuple(Passage(**p) for p in raw.get("passages", ())),
            plan=raw.get("plan", {}),
        )
