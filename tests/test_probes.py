"""Probe generation: every kind from small documents, validation with counted rejections, question files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ragft.corpus.diff import CorpusDiff, DocumentChange
from ragft.synth.probes import extract_facts, generate_probes
from ragft.synth.question_file import PROBE_KINDS, QuestionFileError, load_questions, write_questions
from ragft.types import Document

DOCS = [
    Document(
        "expense.md",
        "Expense Policy",
        "# Expense Policy\n\nSubmit each claim within 30 calendar days of the expense date.\n\n"
        "The daily meal limit for employees on business travel is €65 per day.\n\nAttach a receipt for every expense above €25 please.\n",
        "expense.md",
    ),
    Document(
        "prices.md",
        "Price List",
        "# Price List\n\n| Product | Price |\n|---|---|\n| Frostwick F3 logger | €189 |\n| Frostwick F5 logger | €329 |\n\n"
        "Hardware is shipped within 5 business days of order confirmation from the warehouse.\n",
        "prices.md",
    ),
    Document(
        "hr/salaries.md",
        "Salary Bands",
        "# Salary Bands\n\nThe minimum annual base salary for employees in band E3 is €64,000 in Tampere.\n",
        "hr/salaries.md",
        acl=frozenset({"hr"}),
    ),
]


def test_facts_blank_one_value_and_table_rows_name_their_column() -> None:
    facts = {f.answer: f.question for f in extract_facts(DOCS[0]) + extract_facts(DOCS[1])}
    assert facts["30 calendar days"] == "According to the Expense Policy, submit each claim within how long of the expense date?"
    assert facts["€189"] == "In the Price List, what is the price for Frostwick F3 logger?"


def test_every_kind_is_generated_validated_and_rejections_are_counted() -> None:
    change = DocumentChange(
        "expense.md",
        "Expense Policy",
        1,
        2,
        ("The daily meal limit for employees on business travel is €65 per day.",),
        ("The daily meal limit for employees on business travel is €70 per day.",),
    )
    probes = generate_probes(DOCS, diff=CorpusDiff(1, 2, (), (), (change,)), per_kind=5)
    kinds = probes.counts()
    assert set(kinds) == set(PROBE_KINDS), kinds
    by_kind = {i.kind: i for i in probes.items}
    restricted = by_kind["restricted"]
    assert restricted.answers == ("€64,000",) and restricted.meta["acl"] == ["hr"]
    changed = by_kind["changed_fact"]
    assert changed.answers == ("€65",) and changed.meta["answers_v2"] == ["€70"] and changed.meta["changed_in"] == 2
    oos = by_kind["out_of_scope"]
    assert not oos.answerable and oos.answers == () and oos.meta["absent_terms"]
    assert all(term.lower() not in " ".join(d.text for d in DOCS).lower() for term in oos.meta["absent_terms"])
    unanticipated = by_kind["unanticipated"]
    assert unanticipated.meta["user_terms"] and all(t not in " ".join(d.text for d in DOCS) for t in unanticipated.meta["user_terms"])
    multi = by_kind["multi_doc"]
    assert len(set(multi.gold_doc_ids)) == 2 and len(multi.meta["answer_parts"]) == 2
    for probe in probes.items:  # the answer is never given away by the question
        assert all(a.lower() not in probe.question.lower() for a in probe.answers if probe.kind != "multi_doc")
    assert sum(probes.rejected.get("paraphrase", {}).values()) + kinds["paraphrase"] >= 1


def test_a_restricted_fact_that_is_also_public_is_rejected() -> None:
    leaky = Document(
        "hr/leaky.md", "Leaky", "The office party budget for employees this year is €189 in total.\n", "hr/leaky.md", acl=frozenset({"hr"})
    )
    probes = generate_probes([*DOCS, leaky], per_kind=5)
    assert probes.rejected["restricted"]["restricted answer also in a public document"] == 1


def test_question_files_round_trip_and_errors_name_file_and_line(tmp_path: Path) -> None:
    probes = generate_probes(DOCS, per_kind=2).items
    path = write_questions(probes, tmp_path / "q.jsonl")
    assert load_questions(path) == list(probes)
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"qid": "a", "question": "q?", "answers": ["x"]}) + "\n{not json\n")
    with pytest.raises(QuestionFileError, match=r"bad.jsonl:2: not valid JSON"):
        load_questions(bad)
    bad.write_text(json.dumps({"qid": "a", "question": "q?", "answers": ["x"], "kind": "trivia"}) + "\n")
    with pytest.raises(QuestionFileError, match=r"bad.jsonl:1: unknown kind 'trivia'; choose one of: fact, paraphrase"):
        load_questions(bad)
    bad.write_text(json.dumps({"qid": "a", "question": "q?", "answers": ["x"], "kind": "changed_fact"}) + "\n")
    with pytest.raises(QuestionFileError, match=r"meta\.answers_v2"):
        load_questions(bad)


def test_the_sample_gold_set_loads_in_the_shared_shape() -> None:
    from ragft.sample import questions_path

    items = load_questions(questions_path())
    assert len(items) == 225 and {i.kind for i in items} == set(PROBE_KINDS)


def test_generated_probes_cover_the_sample_gold_set(tmp_path: Path) -> None:
    """The generator checked against the hand-written gold set of the bundled corpus."""
    from ragft.corpus.diff import diff_versions
    from ragft.corpus.ingest import ingest
    from ragft.evaluate.probe_check import check_against_gold
    from ragft.sample import questions_path, sample_dir
    from ragft.workspace import Workspace

    ws = Workspace.init(tmp_path / "ws")
    for version in (1, 2):
        ingest(ws.store, [sample_dir(version)], max_file_mb=50.0)
    documents = ws.store.documents(1)
    probes = generate_probes(documents, diff=diff_versions(ws.store, 1, 2), per_kind=1000)
    check = check_against_gold(probes.items, load_questions(questions_path()), documents)
    assert check.answerability_precision >= 0.95 and check.gold_answerability_precision >= 0.95
    assert check.by_kind["fact"]["fact_coverage"] >= 0.35  # measured 0.45: a template generator finds about half the hand-picked facts
    assert check.by_kind["changed_fact"]["fact_coverage"] >= 0.6  # measured 0.79 (15 of 19 changes)
    assert check.by_kind["restricted"]["doc_coverage"] == 1.0
    assert check.by_kind["unanticipated"]["fact_coverage"] >= 0.8  # measured 0.93 (13 of 14): glossary terms asked by their definitions
    assert (
        check.by_kind["multi_doc"]["fact_coverage"] >= 0.5
    )  # measured 0.58 (7 of 12): the other 5 need arithmetic or a column-keyed table


GLOSSARY = Document(
    "glossary.md",
    "Glossary",
    "# Glossary\n\n**Nightjar** — The engineer who answers customer pages at night. Nightjars rotate weekly.\n\n"
    "**SLT (Service Level Target)** — The promised time to a first reply on a ticket.\n\n"
    "**Moonbeam** — The Moonbeam dashboard that shows open pages.\n",
    "glossary.md",
)
ONCALL = Document(
    "oncall.md",
    "On-call Guide",
    "# On-call Guide\n\nThe Nightjar is paid €90 for each night of the rotation.\n\n"
    "Tickets are logged in Ferrybook, our ticket tracker, and every SLT is measured from the first customer message.\n",
    "oncall.md",
)


def test_definitions_become_unanticipated_probes_asked_in_the_definitions_words() -> None:
    probes = generate_probes([GLOSSARY, ONCALL], per_kind=10)
    asked = {i.answers[0]: i for i in probes.items if i.kind == "unanticipated"}
    nightjar = asked["Nightjar"]  # a glossary entry: the term asked for by what it means
    assert nightjar.question.endswith("the engineer who answers customer pages at night?") and "nightjar" not in nightjar.question.lower()
    assert nightjar.gold_doc_ids == ("glossary.md",) and nightjar.meta["definition"] == "The engineer who answers customer pages at night"
    assert asked["SLT"].answers == ("SLT", "Service Level Target")  # an acronym's long form is accepted too
    assert "our ticket tracker?" in asked["Ferrybook"].question  # prose: "X, our Y"
    swapped = next(i for i in probes.items if i.kind == "unanticipated" and i.answers == ("€90",))  # a fact in the glossary's words
    assert "the engineer who answers customer pages at night is paid how much" in swapped.question and swapped.meta["terms"] == ["Nightjar"]
    assert probes.rejected["unanticipated"]["question uses the term itself"] == 1  # Moonbeam's definition says "Moonbeam"
    assert "Moonbeam" not in asked


DIRECTORY = Document(
    "people.docx",
    "Team Directory",
    "# Team Directory\n\nName | Role | Team | Office\nWilma Trask | Storage Lead | Storage Ops | Ghent\n"
    "Ivo Lenz | Billing Lead | Billing | Lyon\n",
    "people.docx",
)
INCIDENT = Document(
    "incident.md",
    "Outage of 3 May",
    "# Outage of 3 May\n\n- **Report owner:** Wilma Trask\n- **Severity:** high\n\n"
    "Uploads failed for 40 minutes. Refunds above €500 for affected customers are approved by the Billing Lead.\n",
    "incident.md",
)


def test_bridges_ask_for_an_attribute_from_another_document_through_a_relation() -> None:
    probes = generate_probes([INCIDENT, DIRECTORY], per_kind=10)
    bridges = {i.answers[0]: i for i in probes.items if i.kind == "multi_doc" and "bridge" in i.meta}
    team = bridges["Storage Ops"]  # incident: owner -> directory: the owner's team
    assert team.question == "Which team does the report owner of the Outage of 3 May belong to?"
    assert team.gold_doc_ids == ("incident.md", "people.docx") and "Wilma" not in team.question
    assert bridges["Ghent"].gold_doc_ids == ("incident.md", "people.docx")
    holder = bridges["Ivo Lenz"]  # incident: a role -> directory: who holds it
    assert "approved by which person (by name)" in holder.question and holder.gold_doc_ids == ("incident.md", "people.docx")


def test_a_bridge_whose_answer_no_single_chunk_supports_is_rejected_and_counted() -> None:
    notes = " ".join(f"note{chr(97 + i // 26)}{chr(97 + i % 26)}." for i in range(300))  # one cell longer than a chunk
    directory = Document(
        "people.docx", "Team Directory", f"# Team Directory\n\nName | Team | Notes\nWilma Trask | Storage Ops | {notes}\n", "people.docx"
    )
    probes = generate_probes([INCIDENT, directory], per_kind=10)
    assert not [i for i in probes.items if i.kind == "multi_doc" and i.answers == ("Storage Ops",)]
    assert probes.rejected["multi_doc"]["not supported by one chunk"] == 1
    assert probes.rejected["multi_doc"]["attribute too long to be an answer"] == 1
