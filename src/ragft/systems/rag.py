"""RAG: retrieve passages the user may see, answer from them with [n] citations, keep the trace."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import KW_ONLY, dataclass, field, replace
from typing import Any

from ragft.models.base import DecodingSettings, Generation, Generator, TokenCallback
from ragft.prompts import REFUSAL, build_messages, cited_numbers, is_refusal, refusal_probability
from ragft.retrieval.retriever import Retriever
from ragft.systems.closed_book import validate_question
from ragft.systems.grounding import Grounding, check_grounding
from ragft.systems.injection_guard import DocumentFlags, redirect_reason, screen
from ragft.types import Answer, Citation, Hit, User

_WORD = re.compile(r"\w+")


@dataclass(frozen=True, eq=False)
class RagSystem:
    """Hybrid retrieval + the generator; citations map back to document spans and pages.

    A value: `with_retriever` and `with_k` return a new system (sharing the loaded generator),
    so a measurement that varies k or swaps the index never changes the system others hold.
    """

    generator: Generator
    retriever: Retriever
    decoding: DecodingSettings
    _: KW_ONLY
    k: int = 4
    context_budget_tokens: int = 600
    refuse_ungrounded: bool = True
    refusal_threshold: float = 1.0
    injection_guard: bool = True  # screen instruction-like passages out, withhold planted redirects
    name: str = "rag"
    stale_message: str = ""  # set when the model's adapter learned an older corpus version than the latest
    adapter_info: Mapping[str, Any] = field(default_factory=dict)  # the adapter behind the model, for the trace; {} for none
    _flags: DocumentFlags = field(default_factory=DocumentFlags, init=False, repr=False, compare=False)  # per-corpus cache

    def with_retriever(self, retriever: Retriever) -> RagSystem:
        """This system searching `retriever` instead (e.g. a newer corpus version's index)."""
        return replace(self, retriever=retriever)

    def with_k(self, k: int) -> RagSystem:
        """This system putting up to `k` passages in the prompt."""
        return replace(self, k=k)

    def answer(self, question: str, *, user: User | None = None, on_token: TokenCallback | None = None) -> Answer:
        """Answer `question` for `user` (None: an anonymous outsider who sees public documents only)."""
        question = validate_question(question)
        started = time.perf_counter()
        hits = self.retriever.search(question, self.k, user=user)
        shown, screened_out = self._screened(question, hits, user)
        retrieval = self.retriever.last_timings
        retrieval_s = time.perf_counter() - started
        passages = self._within_budget(shown)
        messages = build_messages(question, passages)
        if not passages:  # nothing the user may see matched: refusing is the only honest answer
            if on_token:
                on_token(REFUSAL)
            generation = Generation(REFUSAL, 0, 0, 0.0, 0.0, 0.0, model="(no passages: not called)")
        else:
            decoding = replace(self.decoding, first_token_candidates=True)  # for the refusal probability
            generation = self.generator.generate(messages, decoding, on_token)
        text = generation.text.strip()
        refused = is_refusal(text)
        grounding = check_grounding(text, [hit.chunk.text for hit in passages])
        p_refusal = refusal_probability(generation.first_token_top)
        withheld_because = None if refused else self._withhold_because(grounding, p_refusal)
        if not (refused or withheld_because) and self.injection_guard:
            withheld_because = redirect_reason(question, text, [hit.chunk.text for hit in passages])
        withheld_text = text if withheld_because else None
        if withheld_because:
            text, refused = REFUSAL, True
        citations, citation_source = ((), "none") if refused else self._citations(text, passages)
        total_s = time.perf_counter() - started
        trace = {
            "system": self.name,
            "query": question,
            "user": user.name if user else None,
            "hits": [_hit_trace(hit, used=hit in passages) for hit in _union(hits, shown)],
            "screened_out": screened_out,
            "messages": messages,
            "model": generation.model or self.generator.name,
            **({"adapter": dict(self.adapter_info)} if self.adapter_info else {}),
            "prompt_tokens": generation.prompt_tokens,
            "completion_tokens": generation.completion_tokens,
            "citation_source": citation_source,
            "grounding": {"supported_share": grounding.supported_share, "unsupported": list(grounding.unsupported)},
            "refusal_probability": p_refusal,
            "withheld_answer": withheld_text,
            "withheld_because": withheld_because,
        }
        timings = {
            "retrieval_s": retrieval_s,
            "embed_query_s": retrieval.get("embed_query_s", 0.0),
            "search_s": retrieval.get("search_s", 0.0),
            "prefill_s": generation.prefill_s,
            "time_to_first_token_s": retrieval_s + generation.time_to_first_token_s,
            "generate_s": generation.total_s,
            "total_s": total_s,
        }
        return Answer(text=text, citations=citations, refused=refused, trace=trace, timings=timings)

    def _withhold_because(self, grounding: Grounding, p_refusal: float | None) -> str | None:
        """Why an answer the model gave should become a refusal instead, or None to keep it.

        "ungrounded": its figures or most of its words appear in no passage. "unconfident": the
        model itself leaned towards refusing (the probability of its reply starting as the refusal
        does is at least `refusal_threshold`). Off by default: on SQuAD 2.0 the default 0.5B model's
        refusal probability does not tell its right answers from its wrong ones (AUC 0.51 over 525
        answers, benchmarks/results/rag.json, squad), so a threshold only refuses at random; a
        larger, better calibrated model may differ, and bench_rag measures it.
        """
        if self.refuse_ungrounded and not grounding.ok:
            return "ungrounded"
        if self.refusal_threshold < 1.0 and p_refusal is not None and p_refusal >= self.refusal_threshold:
            return "unconfident"
        return None

    def _screened(self, question: str, hits: list[Hit], user: User | None) -> tuple[list[Hit], list[dict[str, object]]]:
        """The hits without passages that read as instructions (ragft.systems.injection_guard), topped
        up to `k` from further down the ranking when some were left out; and what was left out."""
        if not self.injection_guard:
            return hits, []
        flags = self._flags.of(self.retriever.chunks, self.retriever)
        shown, dropped = screen(hits, flags)
        if dropped:
            shown, dropped = screen(self.retriever.search(question, self.k + len(dropped) + 4, user=user), flags)
        return shown[: self.k], dropped

    def _within_budget(self, hits: Sequence[Hit]) -> list[Hit]:
        """The best hits whose passages fit the context budget (always at least the first)."""
        chosen: list[Hit] = []
        used = 0
        for hit in hits:
            tokens = self.generator.count_tokens(hit.chunk.text)
            if chosen and used + tokens > self.context_budget_tokens:
                break
            chosen.append(hit)
            used += tokens
        return chosen

    def _citations(self, text: str, passages: Sequence[Hit]) -> tuple[tuple[Citation, ...], str]:
        numbers = cited_numbers(text, len(passages))
        source = "model"
        if not numbers:  # the model answered without citing: attribute to passages sharing its words
            numbers, source = _overlapping_passages(text, passages), "post_hoc"
        return tuple(_citation(passages[n - 1]) for n in numbers), source if numbers else "none"


def _overlapping_passages(text: str, passages: Sequence[Hit]) -> list[int]:
    words = {w for w in _WORD.findall(text.lower()) if len(w) > 2}
    if not words:
        return []
    best = max(range(len(passages)), key=lambda i: len(words & set(_WORD.findall(passages[i].chunk.text.lower()))))
    overlap = len(words & set(_WORD.findall(passages[best].chunk.text.lower()))) / len(words)
    return [best + 1] if overlap >= 0.5 else []


def _union(first: Sequence[Hit], second: Sequence[Hit]) -> list[Hit]:
    """`first`, then the hits of `second` whose chunks it lacks (the top-up after screening)."""
    seen = {hit.chunk.chunk_id for hit in first}
    return [*first, *(hit for hit in second if hit.chunk.chunk_id not in seen)]


def _citation(hit: Hit) -> Citation:
    chunk = hit.chunk
    return Citation(
        doc_id=chunk.doc_id, title=chunk.title, start=chunk.start, end=chunk.end, quote=chunk.text, page=chunk.page, chunk_id=chunk.chunk_id
    )


def _hit_trace(hit: Hit, *, used: bool) -> dict[str, object]:
    chunk = hit.chunk
    return {
        "chunk_id": chunk.chunk_id,
        "doc_id": chunk.doc_id,
        "title": chunk.title,
        "start": chunk.start,
        "end": chunk.end,
        "page": chunk.page,
        "score": hit.score,
        "scores": dict(hit.scores),
        "in_prompt": used,
    }
