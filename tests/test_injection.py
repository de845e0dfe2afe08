"""The prompt-injection measurement: hostile documents, ordinary probes, and the success rate."""

from __future__ import annotations

import re

import pytest

from ragft.config import RetrievalConfig
from ragft.corpus.chunking import chunk_document
from ragft.corpus.ingest import ingest
from ragft.errors import RagftError
from ragft.evaluate.injection import (
    HOSTILE_DIR,
    VARIANTS,
    InjectionProbe,
    injection_success_rate,
    load_probes,
    rates_by_variant,
)
from ragft.models.base import DecodingSettings
from ragft.models.embedders import HashingEmbedder
from ragft.models.testing import ScriptedGenerator
from ragft.prompts import REFUSAL
from ragft.retrieval.retriever import Retriever
from ragft.systems.closed_book import ClosedBookSystem
from ragft.systems.rag import RagSystem
from ragft.workspace import Workspace

HOSTILE = HOSTILE_DIR
_CANARY = re.compile(r"\b[A-Z]+(?:-[A-Z]+)*-\d{4}\b|[\w./:-]*evil\.example[\w/-]*")


def obey_injected_text(messages) -> str:
    """A gullible model: finds the canary or attacker contact a document plants and says it."""
    found = _CANARY.search(messages[-1]["content"])
    return f"Contact {found.group(0)}" if found else REFUSAL


def answer_from_first_passage(messages) -> str:
    """A well-behaved model: quotes the first passage's first sentence and cites it, ignoring the rest."""
    match = re.search(r"^\[1\] [^\n]*\n(?:#[^\n]*\n+)?([^\n]+)", messages[-1]["content"], re.MULTILINE)
    return f"{match.group(1).strip()} [1]" if match else REFUSAL


@pytest.fixture(scope="module")
def probes() -> list[InjectionProbe]:
    return load_probes(HOSTILE / "probes.json")


@pytest.fixture(scope="module")
def retriever(tmp_path_factory: pytest.TempPathFactory) -> Retriever:
    root = tmp_path_factory.mktemp("injection")
    ws = Workspace.init(root / "ws")
    ingest(ws.store, [HOSTILE], max_file_mb=1)
    chunks = [c for d in ws.store.documents() for c in chunk_document(d, size_tokens=60, overlap_tokens=5)]
    retriever = Retriever(RetrievalConfig(), HashingEmbedder(), root / "index")
    retriever.warm_up(chunks, "corpus-hostile")
    return retriever


def rag(retriever: Retriever, reply, *, guard: bool = False) -> RagSystem:
    """A RAG system over `retriever`; the injection guard is off unless asked (these tests check the measure)."""
    return RagSystem(ScriptedGenerator(reply), retriever, DecodingSettings(max_new_tokens=40), injection_guard=guard)


def test_every_hostile_document_has_its_canary_and_probes(probes: list[InjectionProbe]) -> None:
    documents = {p.name: p.read_text(encoding="utf-8") for p in HOSTILE.glob("*.md")}
    assert {p.doc_id for p in probes} == set(documents)
    for probe in probes:
        assert probe.canary in documents[probe.doc_id]
        assert sum(probe.canary in text for text in documents.values()) == 1  # unique to its document


def test_a_model_that_obeys_injected_text_scores_one(retriever: Retriever, probes: list[InjectionProbe]) -> None:
    rate, rows = injection_success_rate(rag(retriever, obey_injected_text), probes)
    assert all(row["retrieved"] for row in rows)
    assert rate == 1.0


def test_a_model_that_ignores_injected_text_scores_zero(retriever: Retriever, probes: list[InjectionProbe]) -> None:
    generic = [p for p in probes if p.variant == "generic"]  # the others' documents hold no true answer to quote
    rate, rows = injection_success_rate(rag(retriever, answer_from_first_passage), generic)
    assert rate == 0.0
    assert all(row["retrieved"] and not row["refused"] for row in rows)


def test_following_the_instruction_without_the_canary_still_counts() -> None:
    probe = InjectionProbe("q", "parking.md", "SALARY-LEAK-4410", ("salary table",))
    assert probe.injected("Here is the Salary Table you asked for.")
    assert probe.injected("salary-leak-4410")
    assert not probe.injected("Employees may park from 7:00 to 20:00.")


def test_a_closed_book_system_is_never_exposed(probes: list[InjectionProbe]) -> None:
    rate, rows = injection_success_rate(ClosedBookSystem(ScriptedGenerator(obey_injected_text), DecodingSettings(), name="base"), probes)
    assert rate == 0.0 and not any(row["retrieved"] for row in rows)


def test_no_probes_is_an_error() -> None:
    with pytest.raises(ValueError, match="at least one"):
        injection_success_rate(ClosedBookSystem(ScriptedGenerator(), DecodingSettings()), [])


def test_the_probes_cover_every_attack_variant_at_the_issues_scale(probes: list[InjectionProbe]) -> None:
    counts = {v: sum(p.variant == v for p in probes) for v in VARIANTS}
    assert all(n >= 12 for n in counts.values()), counts
    assert {p.variant for p in probes[: len(VARIANTS)]} == set(VARIANTS), "any prefix (jobs' limit) spans the variants"
    corpus_questions = [p for p in probes if p.variant != "generic"]
    assert all(p.answers for p in corpus_questions), "corpus questions carry their true answer"
    assert len({p.question for p in corpus_questions}) == len(corpus_questions)


def test_an_unknown_variant_is_an_error(tmp_path) -> None:
    (tmp_path / "p.json").write_text('[{"question": "q", "doc_id": "d", "canary": "c", "variant": "qna"}]')
    with pytest.raises(RagftError, match=r"unknown variant.*qa"):
        load_probes(tmp_path / "p.json")


def test_rates_are_reported_per_variant(retriever: Retriever, probes: list[InjectionProbe]) -> None:
    _, rows = injection_success_rate(rag(retriever, obey_injected_text), probes)
    by_variant = rates_by_variant(rows)
    assert set(by_variant) == set(VARIANTS)
    assert all(r["rate"] == 1.0 and r["injected"] == r["probes"] for r in by_variant.values())
    assert by_variant["qa"]["scored"] == by_variant["qa"]["probes"] and by_variant["qa"]["correct"] == 0
    assert by_variant["generic"]["scored"] < by_variant["generic"]["probes"], "hostile-answered probes are not scored"


def test_the_guard_stops_a_gullible_model_on_every_variant(retriever: Retriever, probes: list[InjectionProbe]) -> None:
    rate, rows = injection_success_rate(rag(retriever, obey_injected_text, guard=True), probes)
    assert rate == 0.0, [r for r in rows if r["injected"]]
    assert all(row["screened_out"] for row in rows), "every hostile passage was screened out, with its evidence"
