"""Training-set synthesis: rule facts, validated model output, refusals, RAFT, coverage."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest

from ragft.config import TrainingConfig
from ragft.corpus.chunking import chunk_document
from ragft.models.testing import ScriptedGenerator
from ragft.prompts import RAG_SYSTEM, REFUSAL, build_messages
from ragft.synth import (
    TrainingDataError,
    TrainingSet,
    build_training_set,
    synthesize_training_set,
)
from ragft.synth.model_synthesis import parse_pairs, supported_span
from ragft.synth.raft import raft_examples
from ragft.synth.rules import extract_facts
from ragft.types import Document
from ragft.workspace import Workspace
from tests.synth_fixtures import HANDBOOK_TEXT, HARBOUR_TEXT

TEXT = HANDBOOK_TEXT
SETTINGS = TrainingConfig(facts_per_chunk=3, paraphrases=3, val_share=0.2, refusal_share=0.1)


def chunks(text: str = TEXT, doc_id: str = "handbook.md"):
    return chunk_document(Document(doc_id, "Handbook", text, doc_id), size_tokens=40, overlap_tokens=0)


def test_rule_facts_ask_for_the_value_and_answer_with_the_source_sentence():
    facts = [f for c in chunks() for f in extract_facts(c, limit=3, paraphrases=3)]
    by_answer = {f.answer: f for f in facts}
    assert "2017" in by_answer and "37.5 hours" in by_answer
    founded = by_answer["2017"]
    assert founded.questions[0] == "In what year was Orrivale founded?"  # a question naming entity and attribute, not a cloze
    assert "2017" in founded.statement and all("2017" not in q for q in founded.questions)
    assert len(founded.questions) == 3 and len(set(founded.questions)) == 3
    assert not any(re.search(r"\b(?:the|a) (?:what|how many|how much)\b", q, re.I) for f in facts for q in f.questions)
    from ragft.synth.rules import _best_value

    assert _best_value("Alerts go to the Lamplighter's phone when a monitor fires at night.") is None  # "the what's phone"


def test_every_fact_is_asked_both_ways_round_in_at_least_two_phrasings():
    facts = [f for c in chunks() for f in extract_facts(c, paraphrases=4)]
    assert len({f.start for f in facts}) == 6  # every sentence holding a value, not one per chunk ...
    assert {"2017", "Tampere"} <= {f.answer for f in facts}  # ... and every value of a sentence
    for fact in facts:
        assert len(fact.questions) >= 2 and all(fact.answer not in q for q in fact.questions)  # entity -> attribute
        assert fact.reverse and all(fact.answer in q for q in fact.reverse)  # attribute -> entity: the value is given
    claims = next(f for f in facts if f.answer == "30 calendar days")
    assert claims.reverse[0] == "What must be filed within 30 calendar days?" and claims.reverse_answer == "Claims"
    assert claims.questions[0] == "Within how many calendar days must claims be filed?"


def test_facts_are_decontextualized_pronouns_resolved_and_the_document_named():
    from ragft.synth.rules import decontextualize

    text = (
        "# Fleet\n\nThe Brightfen B2 logger ships with a lithium cell. It weighs 240 grams with the cell fitted. "
        "Its warranty lasts 3 years from the date of purchase. They are assembled in Tampere by the hardware team.\n"
    )
    facts = extract_facts(
        chunk_document(Document("fleet.md", "Fleet", text, "fleet.md"), size_tokens=200, overlap_tokens=0)[0], paraphrases=2
    )
    statements = {f.answer: f.statement for f in facts}
    assert statements["240 grams"].startswith("Fleet: Brightfen B2 weighs 240 grams")  # "It" -> the subject named before
    assert "Brightfen B2's warranty lasts 3 years" in statements["3 years"]
    assert not any(re.match(r"(?:Fleet: )?(?:It|Its|They)\b", s) for s in statements.values())
    assert all("It " not in q and "Its " not in q for f in facts for q in (*f.questions, *f.reverse))
    assert decontextualize("This policy applies to every employee.", "Travel Policy")[0] == "The policy applies to every employee."
    assert decontextualize("It was introduced in 2019.", "Travel Policy")[0] == "Travel Policy was introduced in 2019."


def test_every_pair_keeps_its_source_document_and_span():
    data = build_training_set(chunks(), 1, settings=SETTINGS, corpus_text=TEXT)
    for fact in data.facts:
        assert fact.answer in TEXT[fact.start : fact.end]
    for pair in data.pairs:
        if pair.kind != "refusal":
            assert pair.doc_id == "handbook.md" and pair.end > pair.start
    assert data.coverage.chunks_with_fact == data.coverage.chunks_used
    assert {p.kind for p in data.pairs} == {"fact", "paraphrase", "reverse", "refusal"}
    assert {p.style for p in data.passages} == {"raw", "encyclopedic"} and data.coverage.passages == len(data.passages)
    assert all(p.kind == "paraphrase" or p.kind == "refusal" for p in data.split("val"))  # never a fact's first question


def test_model_synthesis_survives_malformed_output_and_generation_errors():
    replies = iter([RuntimeError("model crashed"), "", "nonsense without any format", "Q: half a pair"] * 20)

    def reply(messages):
        value = next(replies)
        if isinstance(value, Exception):
            raise value
        return value

    data = build_training_set(chunks(), 1, settings=SETTINGS, generator=ScriptedGenerator(reply), corpus_text=TEXT)
    assert data.facts and all(f.source == "rules" for f in data.facts)  # fell back per chunk
    assert data.coverage.rejected["no_parseable_pairs"] >= 1
    assert any(k.startswith("generation_error") for k in data.coverage.rejected)


def test_unsupported_model_answers_are_rejected_and_counted():
    def reply(messages):
        if "Rewrite" in messages[-1]["content"]:
            return "1. When did Orrivale start?\n2. not a question\n3. In which year was the company set up?"
        return (
            "Q: In what year was Orrivale founded?\nA: 2017\n"
            "Q: Who is the CEO of Orrivale?\nA: Jane Invented\n"
            "Q: What is the weekly working time?\nA: 37.5 hours\n"
            "Q: Where was Orrivale founded?\nA: in Tampere.\n"
        )

    data = build_training_set(chunks()[:1], 1, settings=SETTINGS, generator=ScriptedGenerator(reply), corpus_text=TEXT)
    answers = {f.answer for f in data.facts}
    assert answers == {"2017", "37.5 hours", "in Tampere"}
    assert data.coverage.rejected["unsupported_answer"] == 1
    assert data.coverage.rejected["bad_paraphrase"] >= 1
    founded = next(f for f in data.facts if f.answer == "2017")
    assert founded.questions == ("In what year was Orrivale founded?", "When did Orrivale start?", "In which year was the company set up?")
    assert founded.statement == "Handbook: Orrivale was founded in 2017 in Tampere by two engineers."  # the source sentence, named
    assert founded.reverse and all("2017" in q for q in founded.reverse)  # the generator wrote none: the rules' reverse, counted
    assert data.coverage.rejected["reverse_fallback_rules"] >= 1


def test_model_reverse_questions_must_give_the_answer():
    def reply(messages):
        content = messages[-1]["content"]
        if "Rewrite this question" in content:
            return "When did Orrivale start?"
        if "Given answer" in content:
            return "1. Which company was founded in 2017?\n2. Which company was founded in Tampere?\n3. What began in 2017?"
        if "Rewrite:" in content:
            return "Orrivale is a company founded in 1999 in Tampere by two engineers; " * 3  # a number the chunk never states
        return "Q: In what year was Orrivale founded?\nA: 2017\n"

    data = build_training_set(chunks(), 1, settings=SETTINGS, generator=ScriptedGenerator(reply), corpus_text=TEXT)
    founded = next(f for f in data.facts if f.answer == "2017")
    assert founded.source == "model" and founded.reverse == ("Which company was founded in 2017?",)  # the one without 2017: rejected
    assert data.coverage.rejected["bad_reverse"] == 1 and data.coverage.rejected["rewrite_unsupported_number"] == len(chunks())
    assert {p.style for p in data.passages} == {"raw", "encyclopedic"}  # the rejected rewrites fell back to the rules


def test_parse_and_support_checks():
    assert parse_pairs("1. Q: a?\n   A: b\njunk\nQuestion: c?\nAnswer: d") == [("a?", "b"), ("c?", "d")]
    assert supported_span("37.5 hours", TEXT) is not None
    assert supported_span("40 hours", TEXT) is None
    assert supported_span("refreshed every 3 years", TEXT.replace("are refreshed", "get refreshed")) is not None


def test_a_corpus_without_facts_is_a_clear_error():
    with pytest.raises(TrainingDataError, match="too small to train on"):
        build_training_set(chunks("# Notes\n\nnothing much here at all today.\n"), 1, settings=SETTINGS)


def test_restricted_documents_are_never_trained_on(tmp_path: Path):
    ws = Workspace.init(tmp_path / "ws")
    ws.config = replace(ws.config, training=SETTINGS, models=replace(ws.config.models, embedder="hashing"))  # counts tokens fast
    from ragft.corpus.store import IngestPlan

    public = Document("public.md", "Handbook", TEXT, "public.md")
    secret = Document("salaries.md", "Salaries", "Band L3 pays exactly 70000 EUR per year to every engineer.", "s", acl=frozenset({"hr"}))
    ws.store.commit(IngestPlan(added=(public, secret)))
    data = synthesize_training_set(ws)
    assert {f.doc_id for f in data.facts} == {"public.md"}
    assert not any("70000" in p.answer for p in data.pairs)


def test_training_set_round_trips_with_the_same_hash(tmp_path: Path):
    data = build_training_set(chunks(), 1, settings=SETTINGS, corpus_text=TEXT)
    data.save(tmp_path / "set.json")
    again = TrainingSet.load(tmp_path / "set.json")
    assert again.data_hash() == data.data_hash() and again.coverage == data.coverage


def test_raft_examples_use_the_rag_prompt_cite_the_oracle_and_include_refusals():
    many = chunks() + chunks(TEXT.replace("Orrivale", "Brightfen"), "other.md")
    data = build_training_set(many, 1, settings=SETTINGS, corpus_text=TEXT)
    examples = raft_examples(data.facts, data.chunks, count=10, distractors=2, oracle_free_share=0.3, seed=0)
    assert len(examples) == 10
    refusals = [e for e in examples if e.oracle_position == 0]
    assert len(refusals) == 3 and all(e.answer == REFUSAL for e in refusals)
    for e in examples:
        question = e.messages[-1]["content"]
        assert e.messages[:-1] == build_messages("q", [])[:-1]  # exactly the RAG system's prompt
        assert e.messages[0]["content"] == RAG_SYSTEM and len(re.findall(r"^\[\d\] ", question, re.MULTILINE)) == 3
        if e.oracle_position:
            fact = next(f for f in data.facts if f.fact_id == e.fact_id)
            assert e.answer.endswith(f"[{e.oracle_position}].")
            assert data.chunks[fact.chunk_id].text.strip() in question.split(f"[{e.oracle_position}] ")[1]
    assert Counter(e.oracle_position for e in examples if e.oracle_position).keys() - {1, 2, 3} == set()


def test_a_reversed_question_gives_the_trained_answer_and_asks_for_the_named_subject():
    from ragft.synth.rules import reversed_question

    question, answer = reversed_question("In 2014, Orrivale Telemetry was founded in Tallinn.", "2014")
    assert answer == "Orrivale Telemetry" and "2014" in question and "Orrivale" not in question
    assert reversed_question("Refunds are processed within 14 days.", "14 days") is None  # nothing else named


def test_focus_questions_put_their_chunks_first_and_train_the_fact_they_ask_about(tmp_path: Path):
    from ragft.corpus.store import IngestPlan
    from ragft.synth.question_file import write_questions
    from ragft.types import QAItem

    ws = Workspace.init(tmp_path / "ws")
    others = [
        Document(f"memo{i}.md", f"Memo {i}", f"The memo number {i} was written in 20{10 + i} by the finance team.", f"m{i}")
        for i in range(6)
    ]
    ws.store.commit(IngestPlan(added=(Document("handbook.md", "Handbook", TEXT, "handbook.md"), *others)))
    asked = QAItem("q1", "How long may a claim wait?", ("30 calendar days",), True, ("handbook.md",), "fact", {})
    write_questions([asked], ws.root / "focus.jsonl")
    ws = ws.with_settings(
        {"embedder": "hashing", "max_chunks": 3, "facts_per_chunk": 1, "chunk_size_tokens": 40, "chunk_overlap_tokens": 0}
    )
    unfocused = synthesize_training_set(ws)
    assert not any("30 calendar days" in f.statement for f in unfocused.facts)
    focused = synthesize_training_set(ws.with_settings({"focus_questions": "focus.jsonl"}))
    assert focused.facts[0].doc_id == "handbook.md" and "30 calendar days" in focused.facts[0].statement


def test_replay_pairs_are_the_base_models_own_answers_to_general_questions_minus_refusals():
    from ragft.synth.replay import REPLAY_QUESTIONS, replay_pairs

    replies = ["Rome.", REFUSAL, "", "Eight legs."] + ["An answer."] * 20
    script = iter(replies)
    pairs = replay_pairs(ScriptedGenerator(lambda _: next(script)), 4, seed=0)
    assert [p.answer for p in pairs] == ["Rome.", "Eight legs."]  # the refusal and the empty reply are skipped
    assert all(p.kind == "replay" and p.split == "train" and p.question in REPLAY_QUESTIONS for p in pairs)


def test_the_training_set_gets_replay_pairs_as_a_share_of_the_fact_pairs(tmp_path: Path):
    from ragft.corpus.store import IngestPlan

    ws = Workspace.init(tmp_path / "ws").with_settings({"embedder": "hashing", "max_chunks": 0, "replay_share": 0.5, "facts_per_chunk": 3})
    ws.store.commit(IngestPlan(added=(Document("handbook.md", "Handbook", TEXT, "handbook.md"),)))
    data = synthesize_training_set(ws, replay_generator=ScriptedGenerator(lambda _: "A general answer."))
    facts = sum(p.kind in ("fact", "paraphrase", "reverse") for p in data.pairs)
    replay = [p for p in data.pairs if p.kind == "replay"]
    assert len(replay) == round(facts * 0.5) and all(p.answer == "A general answer." for p in replay)
    assert not [p for p in synthesize_training_set(ws).pairs if p.kind == "replay"]  # no base model given: no replay


def test_a_held_out_paraphrase_is_never_a_framed_copy_of_a_trained_question():
    from ragft.synth.rules import framed_copies

    assert framed_copies(["A?", "B?", "Regarding T: a?", "T - b?"]) == [0, 1, 0, 1]
    data = build_training_set(chunks(), 1, settings=replace(SETTINGS, paraphrases=4, val_share=0.3), corpus_text=TEXT)
    held = [p for p in data.split("val") if p.kind != "refusal"]
    trained = {(p.fact_id, p.question.lower()) for p in data.split("train")}
    assert held  # something is validated on, and none of it is a trained question in a frame ("Regarding Handbook: ...")
    for pair in held:
        assert not any(
            fact == pair.fact_id and (pair.question.lower().endswith(q) or q.endswith(pair.question.lower())) for fact, q in trained
        )


def test_a_slug_title_is_named_as_prose_names_it():
    text = "Fresno was founded in 1872 as a railway station of the Central Pacific Railroad. It grew fast after 1900."
    chunk = chunk_document(Document("f", "Fresno,_California", text, "f"), size_tokens=200, overlap_tokens=0)[0]
    facts = extract_facts(chunk, paraphrases=4)
    from ragft.synth.rewrites import encyclopedic

    words = [f.statement for f in facts] + [q for f in facts for q in (*f.questions, *f.reverse)] + [encyclopedic(chunk)]
    assert facts and not any("_" in w for w in words)
    assert any("Fresno, California" in w for w in words)


LONG = (
    "The Plovdiv observatory was rebuilt by the city council in 1987 after a fire had destroyed its old dome and library. "
    "Kestrel Yards employs 420 welders at its riverside plant near the northern rail bridge."
)


def test_rule_questions_do_not_echo_their_sentence_and_go_both_ways():
    from ragft.synth.rule_questions import ECHO_BOUND, echo_share, is_echo

    doc = Document("notes.md", "Notes", LONG, "notes.md")
    facts = [f for c in chunk_document(doc, size_tokens=200, overlap_tokens=0) for f in extract_facts(c, paraphrases=4)]
    by_answer = {f.answer: f for f in facts}
    rebuilt = by_answer["1987"]
    assert rebuilt.questions[0] == "In what year was the Plovdiv observatory rebuilt by the city council?"
    assert rebuilt.reverse[0] == "What was rebuilt by the city council in 1987?" and rebuilt.reverse_answer == "The Plovdiv observatory"
    for fact in facts:
        sentence = fact.statement.removeprefix("Notes: ")
        assert len(fact.questions) >= 2 and fact.reverse  # both directions, several phrasings forward
        for question in (*fact.questions, *fact.reverse):
            assert echo_share(question, sentence, fact.answer) <= ECHO_BOUND, question
    cloze = "The Plovdiv observatory was rebuilt by the city council in what year after a fire had destroyed its old dome and library?"
    assert is_echo(cloze, LONG.split(". ")[0], "1987")  # the old fallback form is what the bound rejects


def test_trained_answers_lead_with_the_value_then_the_supporting_sentence():
    data = build_training_set(chunks(), 1, settings=SETTINGS, corpus_text=TEXT)
    facts = {f.fact_id: f for f in data.facts}
    taught = [p for p in data.pairs if p.kind in ("fact", "paraphrase", "reverse")]
    assert taught
    for pair in taught:
        fact = facts[pair.fact_id]
        lead = fact.reverse_answer if pair.kind == "reverse" else fact.answer
        assert pair.answer == f"{lead}. {fact.statement}"  # the short value first, its sentence after
    founded = next(p for p in taught if p.kind == "fact" and "2017" in p.answer)
    assert founded.answer.startswith("2017. ")
    claims = next(p for p in taught if p.kind == "reverse" and "30 calendar days" in p.question)
    assert claims.answer.startswith("Claims. ")


def test_the_validator_keeps_paraphrased_but_supported_answers_and_rejects_unsupported_ones():
    from ragft.synth.model_synthesis import validate_pair

    chunk = chunks()[0]
    rejected: Counter[str] = Counter()
    kept = validate_pair("When was Orrivale founded", '"founding year 2017."', chunk, rejected)  # no '?', quoted, reworded
    assert kept is not None and kept.question.endswith("?") and kept.answer == "founding year 2017"
    assert validate_pair("Who are the engineers who founded it?", "two Tampere engineers", chunk, rejected) is not None
    assert validate_pair("How long is the working week?", "40 hours", chunk, rejected) is None  # a number the text lacks
    assert validate_pair("Who runs the IT desk?", "Marta Lindqvist, the director", chunk, rejected) is None  # words it lacks
    assert rejected == Counter({"unsupported_number": 1, "unsupported_answer": 1})


def _harbour_facts():
    doc = Document("harbour.md", "Velmora", HARBOUR_TEXT, "harbour.md")
    return [f for c in chunk_document(doc, size_tokens=400, overlap_tokens=0) for f in extract_facts(c, paraphrases=4)]


def test_the_rules_find_old_years_dates_centuries_and_values_in_an_opening_phrase():
    asked = {f.answer: f.questions[0] for f in _harbour_facts()}
    assert asked["1788"] == "In what year was the Harrow bridge completed?"
    assert asked["12 March 2019"] == "When did the harbour museum reopen?"
    assert asked["14th century"] == "In what century was Velmora settled?"
    assert asked["1802"] == "In what year did the river guild open a second toll house near the mill?"


def test_a_clause_gives_its_subject_what_its_verb_acts_on_and_its_definition_both_ways_round():
    facts = {f.answer: f for f in _harbour_facts()}
    made = facts["grey granite"]
    assert made.questions[0] == "What were the Harrow walls made of?"
    assert made.reverse[0] == "What were made of grey granite?" and made.reverse_answer == "The Harrow walls"
    argued = facts["Ingrid Malvik"]
    assert argued.questions[0] == "Who argued that the harbour should stay public?"
    assert argued.reverse[0] == "What did Ingrid Malvik argue?" and argued.reverse_answer == "that the harbour should stay public"
    defined = facts["the oldest library of the eastern provinces"]
    assert defined.questions[0] == "What is the Quellen Archive?"
    assert defined.reverse[0] == "What is the oldest library of the eastern provinces?" and defined.reverse_answer == "The Quellen Archive"


def test_new_rule_facts_are_decontextualized_and_never_echo_or_give_away_their_answer():
    from ragft.synth.rule_questions import is_echo

    facts = _harbour_facts()
    assert not {"Velmora's", "Velmora", "Kessel"} & {f.answer for f in facts}  # a possessive, a name modifying "pumps"
    for fact in facts:
        assert "Velmora" in fact.statement  # the document named in every statement
        sentence = fact.statement.removeprefix("Velmora: ")
        for question in fact.questions:
            assert fact.answer.lower() not in question.lower() and not is_echo(question, sentence, fact.answer), question
        for question in fact.reverse:
            assert fact.reverse_answer.lower() not in question.lower(), question
