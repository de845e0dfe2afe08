"""RAG answers from passages the asker may see, cites them as document spans, refuses without evidence."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ragft.config import RetrievalConfig
from ragft.corpus.chunking import chunk_document
from ragft.models.base import DecodingSettings
from ragft.models.embedders import HashingEmbedder
from ragft.models.testing import ScriptedGenerator
from ragft.prompts import REFUSAL, is_refusal, refusal_probability
from ragft.retrieval.retriever import Retriever
from ragft.systems.closed_book import ClosedBookSystem, QuestionError
from ragft.systems.rag import RagSystem
from ragft.types import Document, User

DOCS = [
    Document("offices.md", "Offices", "# Offices\n\nThe Lisbon office opens at 9:00 and closes at 18:00.", "offices.md"),
    Document("refunds.md", "Refunds", "# Refunds\n\nRefunds are processed within 14 days of approval.", "refunds.md"),
    Document("salaries.md", "Salary Bands", "# Salary Bands\n\nBand L3 pays 70,000 EUR per year.", "salaries.md", acl=frozenset({"hr"})),
]


def answer_from_passage_containing(word: str, reply: str):
    """A scripted model that cites the passage containing `word`, or refuses if none does."""

    def respond(messages):
        prompt = messages[-1]["content"]
        for number, body in re.findall(r"^\[(\d+)\] [^\n]*\n(.*?)(?=\n\n\[\d+\] |\n\nQuestion:)", prompt, re.DOTALL | re.MULTILINE):
            if word in body:
                return f"{reply} [{number}]"
        return REFUSAL

    return respond


def rag(tmp_path: Path, generator, **kw) -> RagSystem:
    chunks = [c for d in DOCS for c in chunk_document(d, size_tokens=50, overlap_tokens=5)]
    retriever = Retriever(RetrievalConfig(), HashingEmbedder(), tmp_path / "index")
    retriever.warm_up(chunks, "corpus-v1")
    return RagSystem(generator, retriever, DecodingSettings(), **kw)


def test_rag_cites_the_document_that_contains_the_answer(tmp_path: Path) -> None:
    system = rag(tmp_path, ScriptedGenerator(answer_from_passage_containing("Lisbon", "It opens at 9:00.")))
    answer = system.answer("When does the Lisbon office open?")
    assert answer.text.startswith("It opens at 9:00.") and not answer.refused
    (citation,) = answer.citations
    assert citation.doc_id == "offices.md"
    assert "9:00" in DOCS[0].text[citation.start : citation.end]
    assert answer.trace["citation_source"] == "model"
    assert answer.trace["hits"][0]["scores"]["rrf"] > 0
    assert answer.timings["total_s"] >= answer.timings["retrieval_s"] > 0


def test_an_outsider_never_gets_a_restricted_passage(tmp_path: Path) -> None:
    generator = ScriptedGenerator(answer_from_passage_containing("70,000", "70,000 EUR."))
    system = rag(tmp_path, generator)
    for user in (None, User("mallory", frozenset({"sales"}))):
        answer = system.answer("Band L3 pays 70,000 EUR per year", user=user)
        assert all(hit["doc_id"] != "salaries.md" for hit in answer.trace["hits"])
        passages = answer.trace["messages"][-1]["content"].split("Question:")[0]
        assert "70,000" not in passages and answer.refused
    answer = system.answer("Band L3 pays 70,000 EUR per year", user=User("hanna", frozenset({"hr"})))
    assert [c.doc_id for c in answer.citations] == ["salaries.md"]


def test_no_visible_evidence_means_a_refusal_without_calling_the_model(tmp_path: Path) -> None:
    generator = ScriptedGenerator()
    system = rag(tmp_path, generator)
    system.retriever.search = lambda query, k, user=None: []  # nothing visible matched
    answer = system.answer("What is the CEO's favourite colour?")
    assert answer.refused and answer.text == REFUSAL and not answer.citations
    assert generator.calls == []


def test_the_context_budget_limits_the_passages_in_the_prompt(tmp_path: Path) -> None:
    generator = ScriptedGenerator(lambda m: "ok")
    system = rag(tmp_path, generator, k=3, context_budget_tokens=1)
    answer = system.answer("office refunds")
    assert sum(hit["in_prompt"] for hit in answer.trace["hits"]) == 1
    assert re.findall(r"^\[(\d+)\] ", generator.calls[0][-1]["content"], re.MULTILINE) == ["1"]


def test_an_answer_the_passages_do_not_support_becomes_a_refusal(tmp_path: Path) -> None:
    system = rag(tmp_path, ScriptedGenerator(lambda m: "Refunds take 30 days [1]."))
    answer = system.answer("How long do refunds take?")
    assert answer.refused and answer.text == REFUSAL and not answer.citations
    assert answer.trace["withheld_answer"] == "Refunds take 30 days [1]."
    assert answer.trace["withheld_because"] == "ungrounded"
    assert "30" in answer.trace["grounding"]["unsupported"]


def hesitant(p_refusal: float):
    """First-token candidates where the refusal's first word ("I") has probability `p_refusal`."""
    return lambda messages: (("Ref", 1.0 - p_refusal - 0.01), ("I", p_refusal), (" I", 0.005), ("", 0.005))


@pytest.mark.parametrize(("p_refusal", "threshold", "withheld"), [(0.30, 0.25, True), (0.20, 0.25, False), (0.30, 1.0, False)])
def test_an_answer_the_model_hesitated_over_becomes_a_refusal(tmp_path: Path, p_refusal: float, threshold: float, withheld: bool) -> None:
    reply = "Refunds are processed within 14 days [1]."
    system = rag(tmp_path, ScriptedGenerator(lambda m: reply, first_token_top=hesitant(p_refusal)), refusal_threshold=threshold)
    answer = system.answer("How long do refunds take?")
    assert answer.trace["refusal_probability"] == pytest.approx(p_refusal + 0.005)
    assert answer.refused is withheld and (answer.text == REFUSAL) is withheld
    assert answer.trace["withheld_answer"] == (reply if withheld else None)
    assert answer.trace["withheld_because"] == ("unconfident" if withheld else None)
    assert bool(answer.citations) is not withheld


def test_a_threshold_of_one_is_off_even_when_the_model_is_certain_of_the_refusals_first_word(tmp_path: Path) -> None:
    reply = "I believe refunds are processed within 14 days [1]."
    system = rag(tmp_path, ScriptedGenerator(lambda m: reply, first_token_top=lambda m: (("I", 1.0),)), refusal_threshold=1.0)
    answer = system.answer("How long do refunds take?")
    assert answer.trace["refusal_probability"] == 1.0 and not answer.refused and answer.text == reply


def test_without_first_token_probabilities_the_threshold_does_not_apply(tmp_path: Path) -> None:
    system = rag(tmp_path, ScriptedGenerator(lambda m: "Refunds are processed within 14 days [1]."), refusal_threshold=0.0)
    answer = system.answer("How long do refunds take?")
    assert not answer.refused and answer.trace["refusal_probability"] is None


def test_refusal_probability_counts_the_tokens_that_start_the_refusal() -> None:
    assert refusal_probability(()) is None
    assert refusal_probability((("The", 0.6), ("I", 0.3), (" I", 0.05), ("In", 0.04), (" ", 0.01))) == pytest.approx(0.35)


def test_an_uncited_answer_is_attributed_post_hoc_and_says_so(tmp_path: Path) -> None:
    system = rag(tmp_path, ScriptedGenerator(lambda m: "Refunds are processed within 14 days."))
    answer = system.answer("How long do refunds take?")
    assert [c.doc_id for c in answer.citations] == ["refunds.md"]
    assert answer.trace["citation_source"] == "post_hoc"


@pytest.mark.parametrize("question", ["", "   ", "x" * 20_000])
def test_empty_and_huge_questions_are_refused_with_a_reason(tmp_path: Path, question: str) -> None:
    with pytest.raises(QuestionError):
        ClosedBookSystem(ScriptedGenerator(), DecodingSettings()).answer(question)


def test_refusal_detection() -> None:
    assert is_refusal(REFUSAL)
    assert is_refusal("The passages do not contain that information.")
    assert is_refusal("")
    assert not is_refusal("The office opens at 9:00 [1].")
