"""Core types shared by every module: plain frozen dataclasses, no behaviour beyond helpers.

Every way of answering is a `System`; every system is judged by the same evaluator on the same
`QAItem`s. Offsets in `Chunk` point into `Document.text`, so a citation can name the exact span.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypedDict, runtime_checkable


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


TokenCallback = Callable[[str], None]  # receives each piece of the answer as it is generated


@runtime_checkable
class System(Protocol):
    """A way of answering questions (an arm: see `ragft.arms`); `on_token` streams the answer's pieces."""

    @property
    def name(self) -> str:
        """The arm's name (read-only here, so frozen dataclasses and properties satisfy the protocol)."""
        ...

    def answer(self, question: str, *, user: User | None = None, on_token: TokenCallback | None = None) -> Answer: ...


@runtime_checkable
class RetrievingSystem(System, Protocol):
    """A system that answers from retrieved passages: a value whose index and passage count can be varied.

    `with_retriever` and `with_k` return a new system and leave this one as it was, so a
    measurement (the k sweep, freshness, prompt injection) or a corpus swap in the server never
    changes a system someone else holds.
    """

    @property
    def k(self) -> int:
        """How many passages it puts in the prompt."""
        ...

    @property
    def retriever(self) -> Any:
        """The ragft.retrieval.Retriever it searches (typed loosely: types sits below retrieval)."""
        ...

    def with_retriever(self, retriever: Any) -> RetrievingSystem: ...

    def with_k(self, k: int) -> RetrievingSystem: ...


def retrieving(system: System) -> RetrievingSystem | None:
    """`system` as a retrieving system, or None when it answers without retrieval (closed-book)."""
    return system if isinstance(system, RetrievingSystem) else None
