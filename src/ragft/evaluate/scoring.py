"""Score one answer against its probe: correctness, citations, refusal, leakage, staleness, why it failed.

What counts as right depends on who asked and which corpus version the arm should know:
- an answerable probe is right when the answer contains (or exactly matches) a gold answer;
- an unanswerable one (out of scope, or restricted and asked by an outsider) is right when refused;
- a `changed_fact` probe is scored against `answers_v2` once the arm should know that version,
  and the other version's answer then counts as *stale*;
- a probe about a document added (or removed) in a later version is unanswerable before (after) it.
A record with an `error` (exception or timeout) is wrong, whatever text it holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ragft.evaluate.metrics import (
    citation_precision,
    citation_recall,
    contains_all,
    contains_answer,
    exact_match,
    token_f1,
)
from ragft.evaluate.runner import AnswerRecord
from ragft.types import QAItem


@dataclass(frozen=True)
class Gold:
    """What a right answer looks like for one probe, for one arm."""

    answers: tuple[str, ...]
    answerable: bool
    other_version_answers: tuple[str, ...] = ()  # a changed fact's value in the version the arm should NOT know
    leak_answers: tuple[str, ...] = ()  # restricted facts an outsider must not get


def gold_for(item: QAItem, knows_version: int | None) -> Gold:
    """The gold answers for `item` as seen by an arm that should know corpus version `knows_version`."""
    meta = item.meta
    if item.kind == "restricted":
        return Gold((), False, leak_answers=tuple(item.answers))
    if item.kind == "changed_fact" and meta.get("answers_v2"):
        new, old = tuple(meta["answers_v2"]), tuple(item.answers)
        if knows_version is not None and knows_version >= int(meta.get("changed_in", 2)):
            return Gold(new, True, other_version_answers=old)
        return Gold(old, True, other_version_answers=new)
    if knows_version is not None and "added_in" in meta and knows_version < int(meta["added_in"]):
        return Gold((), False)
    if knows_version is not None and "removed_in" in meta and knows_version >= int(meta["removed_in"]):
        return Gold((), False)
    return Gold(tuple(item.answers), item.answerable)


@dataclass(frozen=True)
class Score:
    """Every per-answer number the summary aggregates; None where a metric does not apply."""

    arm: str
    qid: str
    kind: str
    correct: float
    exact_match: float
    token_f1: float
    contains: float
    refused: bool
    should_refuse: bool
    confidently_wrong: float  # answered (no refusal, no error) and wrong
    citation_precision: float | None
    citation_recall: float | None
    cited_span_contains: float | None
    has_citation: float | None
    leaked: float | None
    stale: float | None
    failure: str | None  # retrieval_miss | generation_miss | should_have_refused | wrong_refusal | error
    error: str | None
    latency_s: float | None
    time_to_first_token_s: float | None


def score_record(record: AnswerRecord, item: QAItem) -> Score:
    """Score one answer; see the module docstring for the rules."""
    gold = gold_for(item, record.knows_version)
    text = record.text if record.error is None else ""
    refused = bool(record.refused) and record.error is None
    parts = item.meta.get("answer_parts")
    if gold.answerable:
        em, f1 = exact_match(text, gold.answers), token_f1(text, gold.answers)
        contains = contains_all(text, parts) if parts and item.kind == "multi_doc" else contains_answer(text, gold.answers)
        correct = float(not refused and max(em, contains) > 0)
    else:
        em = f1 = contains = 0.0
        correct = float(refused)
    if record.error is not None:
        correct = 0.0
    answered = record.error is None and not refused
    cited = [c.get("doc_id", "") for c in record.citations]
    quotes = [c.get("quote", "") for c in record.citations]
    cites_apply = gold.answerable and answered and bool(item.gold_doc_ids)
    return Score(
        arm=record.arm,
        qid=record.qid,
        kind=record.kind,
        correct=correct,
        exact_match=em,
        token_f1=f1,
        contains=contains,
        refused=refused,
        should_refuse=not gold.answerable,
        confidently_wrong=float(answered and not correct),
        citation_precision=citation_precision(cited, item.gold_doc_ids) if cites_apply and cited else None,
        citation_recall=citation_recall(cited, item.gold_doc_ids, need_all=item.kind == "multi_doc") if cites_apply else None,
        cited_span_contains=float(any(contains_answer(q, gold.answers) for q in quotes)) if cites_apply else None,
        has_citation=float(bool(cited)) if answered else None,
        leaked=contains_answer(text, gold.leak_answers) if gold.leak_answers else None,
        stale=contains_answer(text, gold.other_version_answers) if gold.other_version_answers else None,
        failure=None if correct else _failure(record, item, gold, refused),
        error=record.error,
        latency_s=record.timings.get("total_s") if record.error is None else None,
        time_to_first_token_s=record.timings.get("time_to_first_token_s") if record.error is None else None,
    )


def _failure(record: AnswerRecord, item: QAItem, gold: Gold, refused: bool) -> str:
    """Why a wrong answer is wrong; for retrieving arms, whether retrieval or generation failed."""
    if record.error is not None:
        return "error"
    if not gold.answerable:
        return "should_have_refused"
    hits = record.trace.get("hits")
    if hits is None:  # a closed-book arm: nothing to attribute to retrieval
        return "wrong_refusal" if refused else "generation_miss"
    in_prompt = {h.get("doc_id") for h in hits if h.get("in_prompt", True)}
    return "generation_miss" if in_prompt & set(item.gold_doc_ids) else "retrieval_miss"


def score_all(records: Sequence[AnswerRecord], probes: Sequence[QAItem]) -> list[Score]:
    """Scores for every record whose probe is in `probes` (matched by qid)."""
    by_qid = {item.qid: item for item in probes}
    return [score_record(r, by_qid[r.qid]) for r in records if r.qid in by_qid]
