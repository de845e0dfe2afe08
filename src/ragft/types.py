"""Core types shared by every module: plain frozen dataclasses, no behaviour beyond helpers.

Every way of answering is a `System`; every system is judged by the same evaluator on the same
`QAItem`s. Offsets in `Chunk` point into `Document.text`, so a citation can name the exact span.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable
from typing import TypedDict


class ChatMessage(TypedDict):
    """One chat turn, as every chat API spells it (here so prompts sit below the model layer)."""

    role: str  # "system" | "user" | "assistant"
    content: str


@dataclass(frozen=True)
class Document:
    """One version of one source document, as cleaned text plus where it came from."""

    doc_id: str
    title: str
    text: str
    source: str
    version: int = 1
    acl: frozenset[str] = frozenset()  # groups allowed to see it; empty means public
    metadata: Mapping[str, Any] = field(default_factory=dict)

    @property
    def is_restricted(self) -> bool:
        return bool(self.acl)


@dataclass(frozen=True)
class Chunk:
    """A passage of a document; `text == document.text[start:end]`."""

    chunk_id: str
    doc_id: str
    text: str
    start: int
    end: int
    title: str = ""
    acl: frozenset[str] = frozenset()
    page: int | None = None  # 1-based page of `start` for paged sources (PDF), else None


@dataclass(frozen=True)
class User:
    """Who is asking: retrieval only returns chunks whose acl meets these groups."""

    name: str
    groups: frozenset[str] = frozenset()

    def may_see(self, acl: frozenset[str]) -> bool:
        return not acl or bool(acl & self.groups)


@dataclass(frozen=True)
class Hit:
    """A retrieved chunk with its fused score and each retriever's score, for the trace."""

    chunk: Chunk
    score: float
    scores: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Citation:
    """A cited passage: which document, which characters, which page."""

    doc_id: str
    title: str
    start: int
    end: int
    quote: str
    page: int | None = None
    chunk_id: str = ""


@dataclass(frozen=True)
class Answer:
    """What a system says, with what it cited, whether it refused, and how it got there."""

    text: str
    citations: tuple[Citation, ...] = ()
    refused: bool = False
    trace: Mapping[str, Any] = field(default_factory=dict)
    timings: Mapping[str, float] = field(default_factory=dict)  # seconds, keys end in _s


@dataclass(frozen=True)
class QAItem:
    """A question with its gold answers, in the shape of ../shared/benchmarks/*/questions.jsonl."""

    qid: str
    question: str
    answers: tuple[str, ...]
    answerable: bool
    gold_doc_ids: tuple[str, ...]
    kind: str = "fact"
    meta: Mapping[str, Any] = field(default_factory=dict)


@runtime_checkable
class System(Protocol):
    """A way of answering questions: base, rag, finetuned, hybrid."""

    name: str

    def answer(self, question: str, *, user: User | None = None) -> Answer: ...
