"""Tiny fake arms for the evaluation tests: scripted answers, optional retrieval trace, no model."""

from __future__ import annotations

import copy
from collections.abc import Mapping

from ragft.prompts import REFUSAL
from ragft.types import Answer, Citation, QAItem, User


class FakeArm:
    """Answers from a question -> text table (else refuses); with `docs`, cites and traces like RAG."""

    def __init__(
        self,
        name: str,
        table: Mapping[str, str],
        *,
        docs: Mapping[str, str] | None = None,
        latency_s: float = 0.1,
        fail_on: frozenset[str] = frozenset(),
        k: int | None = None,
        withheld: Mapping[str, str] | None = None,
    ) -> None:
        self.name = name
        self.withheld = dict(withheld or {})  # question -> the answer a confidence check replaced by the refusal
        self.table = dict(table)
        self.docs = docs  # question -> doc_id retrieved (RAG-like) or None (closed-book)
        self.latency_s = latency_s
        self.fail_on = fail_on
        self.calls: list[tuple[str, User | None]] = []
        if k is not None:  # a retrieving arm (ragft.types.RetrievingSystem): k and a "retriever" (its docs table)
            self.k = k
            self.retriever = docs

    def with_k(self, k: int) -> FakeArm:
        """A copy putting `k` passages in the prompt (the scripted answers do not depend on it)."""
        other = copy.copy(self)
        other.k = k
        return other

    def with_retriever(self, retriever: Mapping[str, str] | None) -> FakeArm:
        """A copy retrieving from another question -> doc_id table."""
        other = copy.copy(self)
        other.retriever = other.docs = retriever
        return other

    def answer(self, question: str, *, user: User | None = None, on_token=None) -> Answer:
        self.calls.append((question, user))
        if question in self.fail_on:
            raise RuntimeError("model crashed")
        text = self.table.get(question, REFUSAL)
        refused = text == REFUSAL
        trace: dict = {"system": self.name}
        citations: tuple[Citation, ...] = ()
        if self.docs is not None:
            doc = self.docs.get(question, "other.md")
            trace["hits"] = [{"doc_id": doc, "in_prompt": True, "score": 1.0}]
            if not refused:
                citations = (Citation(doc, doc, 0, len(text), text),)
        if question in self.withheld:
            trace.update(withheld_answer=self.withheld[question], withheld_because="unconfident", refusal_probability=0.31)
        return Answer(text, citations, refused, trace, {"total_s": self.latency_s, "time_to_first_token_s": self.latency_s / 2})


def item(qid: str, question: str, answers: tuple[str, ...] = (), kind: str = "fact", gold: tuple[str, ...] = ("a.md",), **meta) -> QAItem:
    answerable = bool(answers) and kind not in ("out_of_scope",)
    return QAItem(qid, question, answers, answerable, gold if answerable else (), kind, meta)
