"""Scoring rules, citation metrics and bootstrap intervals on hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from ragft.evaluate.metrics import citation_precision, citation_recall, contains_all
from ragft.evaluate.runner import AnswerRecord
from ragft.evaluate.scoring import gold_for, score_record
from ragft.evaluate.stats import bootstrap, percentile
from ragft.evaluate.summary import summarize_arm
from tests.evaluate_fakes import item


def record(
    text: str, *, refused: bool = False, error: str | None = None, cites=(), hits=None, version=None, kind="fact", qid="q1"
) -> AnswerRecord:
    trace = {} if hits is None else {"hits": [{"doc_id": d, "in_prompt": True} for d in hits]}
    citations = [{"doc_id": d, "quote": q} for d, q in cites]
    return AnswerRecord("arm", qid, kind, "?", text, citations, refused, trace, {"total_s": 1.0}, error, None, version)


def test_citation_precision_and_recall_by_hand() -> None:
    assert citation_precision(["a", "b", "b"], ["a"]) == 0.5  # distinct cited: a, b; one is gold
    assert citation_recall(["a"], ["a", "c"]) == 1.0  # alternatives: any gold doc counts
    assert citation_recall(["a"], ["a", "c"], need_all=True) == 0.5  # multi-doc: both are needed
    assert contains_all("It is 10:00; then 4 hours.", ["10:00", "4 hours"]) == 1.0
    assert contains_all("It is 10:00.", ["10:00", "4 hours"]) == 0.0


def test_a_right_answer_with_a_supporting_citation() -> None:
    q = item("q1", "How long?", ("14 days",), gold=("refunds.md",))
    s = score_record(record("Refunds take 14 days [1].", cites=[("refunds.md", "within 14 days of approval")], hits=["refunds.md"]), q)
    assert (s.correct, s.contains, s.exact_match, s.confidently_wrong) == (1.0, 1.0, 0.0, 0.0)
    assert s.citation_precision == 1.0 and s.citation_recall == 1.0 and s.cited_span_contains == 1.0
    assert s.failure is None


def test_wrong_answers_are_attributed_to_retrieval_or_generation() -> None:
    q = item("q1", "How long?", ("14 days",), gold=("refunds.md",))
    assert score_record(record("30 days", hits=["offices.md"]), q).failure == "retrieval_miss"
    assert score_record(record("30 days", hits=["refunds.md"]), q).failure == "generation_miss"
    assert score_record(record("30 days"), q).failure == "generation_miss"  # closed-book: no hits
    confident = score_record(record("30 days"), q)
    assert confident.confidently_wrong == 1.0


def test_an_error_is_wrong_even_if_its_text_is_right() -> None:
    q = item("q1", "How long?", ("14 days",))
    s = score_record(record("14 days", error="timed out: 200 s > 120 s"), q)
    assert s.correct == 0.0 and s.failure == "error" and s.latency_s is None


def test_out_of_scope_and_restricted_are_right_only_when_refused() -> None:
    oos = item("q2", "Who is the CEO's dog?", kind="out_of_scope")
    assert score_record(record("I don't know", refused=True, kind="out_of_scope"), oos).correct == 1.0
    assert score_record(record("Rex", kind="out_of_scope"), oos).failure == "should_have_refused"
    secret = item("q3", "Band E3 minimum?", ("€64,000",), kind="restricted", gold=("hr/salary.md",), acl=["hr"])
    leaked = score_record(record("It is €64,000.", kind="restricted"), secret)
    assert leaked.leaked == 1.0 and leaked.correct == 0.0
    assert score_record(record("I don't know", refused=True, kind="restricted"), secret).leaked == 0.0


def test_changed_facts_are_scored_against_the_version_the_arm_should_know() -> None:
    q = item("q4", "F3 price?", ("€189",), kind="changed_fact", answers_v2=["€199"], changed_in=2)
    assert gold_for(q, 1).answers == ("€189",) and gold_for(q, 2).answers == ("€199",)
    stale = score_record(record("€189", version=2, kind="changed_fact"), q)
    assert stale.correct == 0.0 and stale.stale == 1.0
    assert score_record(record("€199", version=2, kind="changed_fact"), q).correct == 1.0
    added = item("q5", "New doc fact?", ("x",), added_in=2)
    assert not gold_for(added, 1).answerable and gold_for(added, 2).answerable


def test_bootstrap_interval_brackets_the_mean_and_is_reproducible() -> None:
    values = [1.0] * 30 + [0.0] * 70
    a, b = bootstrap(values, seed=1), bootstrap(values, seed=1)
    assert a == b and a.value == pytest.approx(0.3) and a.low < 0.3 < a.high and a.n == 100
    assert a.low > 0.2 and a.high < 0.4  # ±1.96·sqrt(.3·.7/100) ≈ ±0.09
    single = bootstrap([0.5])
    assert single.low == single.high == 0.5
    assert bootstrap([]).n == 0
    p95 = bootstrap(list(np.arange(1, 101, dtype=float)), percentile(95))
    assert p95.value == pytest.approx(95.05)


def test_refusal_precision_and_recall_by_hand() -> None:
    items = [item("a", "qa", ("x",)), item("b", "qb", kind="out_of_scope"), item("c", "qc", kind="out_of_scope")]
    records = [
        record("", refused=True, qid="a"),
        record("", refused=True, qid="b", kind="out_of_scope"),
        record("y", qid="c", kind="out_of_scope"),
    ]
    from ragft.evaluate.scoring import score_all

    summary = summarize_arm("arm", score_all(records, items), samples=50)
    # refused a and b; only b should be refused -> precision 1/2; of b, c (should refuse) one refused -> recall 1/2
    assert summary.overall["refusal_precision"].value == 0.5
    assert summary.overall["refusal_recall"].value == 0.5
    assert summary.overall["accuracy"].value == pytest.approx(1 / 3)
    assert summary.failures == {"wrong_refusal": 1, "should_have_refused": 1}
