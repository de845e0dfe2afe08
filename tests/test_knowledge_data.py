"""The knowledge-injection data mix and the training budget: text examples, the shuffle, team pairs, the cache, the plan."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from ragft.config import TrainingConfig
from ragft.corpus.chunking import chunk_document
from ragft.corpus.store import IngestPlan
from ragft.prompts import REFUSAL, build_messages
from ragft.synth import build_training_set, synthesize_training_set
from ragft.synth.cache import SynthesisCache
from ragft.synth.question_file import QuestionFileError
from ragft.synth.team_pairs import load_team_pairs
from ragft.train.budget import BudgetError, TrainingPlan, chunks_within, parse_budget
from ragft.train.data import ChatExample, epoch_batches
from ragft.types import Document
from ragft.workspace import Workspace
from tests.synth_fixtures import HANDBOOK_TEXT

TEXT = HANDBOOK_TEXT
SETTINGS = TrainingConfig(paraphrases=3, val_share=0.2, refusal_share=0.1, rewrites=2)


def _chunks():
    return chunk_document(Document("handbook.md", "Handbook", TEXT, "handbook.md"), size_tokens=40, overlap_tokens=0)


def test_every_chunk_is_trained_raw_and_in_two_rewritten_styles_naming_its_subject():
    data = build_training_set(_chunks(), 1, settings=SETTINGS, corpus_text=TEXT)
    for chunk_id, chunk in data.chunks.items():
        styles = {p.style: p.text for p in data.passages if p.chunk_id == chunk_id}
        assert styles["raw"] == chunk.text.strip() and {"encyclopedic", "conversation"} <= set(styles)
        assert all(line.startswith("Handbook") for line in styles["encyclopedic"].splitlines())  # the subject in every line
        assert styles["conversation"].startswith("Q: ") and "\nA: " in styles["conversation"]


def test_no_batch_holds_two_variants_of_one_chunk_and_questions_come_first():
    qa = [ChatExample(build_messages(f"Question {i}?"), f"Answer {i}.") for i in range(10)]
    text = [ChatExample((), f"chunk {c} variant {v}", group=f"c{c}") for c in range(3) for v in range(3)]
    examples = qa + text
    for seed in range(5):
        plan = epoch_batches(examples, 4, seed)
        assert sorted(i for batch in plan for i in batch) == list(range(len(examples)))  # every example once
        for batch in plan:
            groups = [examples[i].group for i in batch if examples[i].is_text]
            assert len(groups) == len(set(groups))  # rows are cut from a batch: no row packs two variants either
        order = [i for batch in plan for i in batch]
        assert max(order.index(i) for i in range(10)) < min(order.index(i) for i in range(10, len(examples)))


def test_a_text_example_is_learned_on_every_token_but_its_first(tmp_path: Path):
    pytest.importorskip("transformers")
    from transformers import AutoTokenizer

    from ragft.models.testing import make_tiny_hf_model
    from ragft.train.data import encode_example, pack

    tokenizer = AutoTokenizer.from_pretrained(make_tiny_hf_model(tmp_path / "m"))
    qa = encode_example(tokenizer, ChatExample(build_messages("Which year?"), "2017."), 256)
    text = encode_example(tokenizer, ChatExample((), "Orrivale was founded in 2017.", group="c1"), 256)
    assert text.answer_start == 1 and text.answer_tokens == len(text.input_ids) - 1
    row = pack([qa, text])
    learned_text = [label for label, seg in zip(row.labels, row.segments) if seg == 2]
    assert learned_text[0] == -100 and all(label != -100 for label in learned_text[1:])


def test_team_pairs_are_validated_deduplicated_against_probes_and_counted(tmp_path: Path):
    path = tmp_path / "pairs.jsonl"
    lines = [
        {"qid": "t1", "question": "How long is the standard working week at Orrivale?", "answers": ["37.5 hours"]},
        {"qid": "t2", "question": "how long is the standard working week at orrivale", "answers": ["37.5 hours"]},  # duplicate
        {"qid": "t3", "question": "According to the Handbook, the hotel cap is how much per night in every city?", "answers": ["180 EUR"]},
        {"qid": "t4", "question": "Who sponsors the chess club?", "answers": [], "answerable": False},
    ]
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    probe = "According to the Handbook, the hotel cap is how much per night in every city?"
    pairs, dropped = load_team_pairs(path, [probe])
    assert [p.question for p in pairs] == [lines[0]["question"], lines[3]["question"]]
    assert pairs[1].answer == REFUSAL and all(p.kind == "team" for p in pairs)
    assert dropped == {"duplicate": 1, "probe_near_copy": 1}
    path.write_text(json.dumps(lines[0]) + "\n{not json\n")
    with pytest.raises(QuestionFileError, match=r"pairs.jsonl:2"):
        load_team_pairs(path)


def test_the_workspace_mixes_team_pairs_in_and_counts_them_apart(tmp_path: Path):
    ws = Workspace.init(tmp_path / "ws").with_settings({"embedder": "hashing"})
    ws.store.commit(IngestPlan(added=(Document("handbook.md", "Handbook", TEXT, "handbook.md"),)))
    (ws.root / "pairs.jsonl").write_text(json.dumps({"qid": "t1", "question": "Is there a gym pass?", "answers": ["No."]}) + "\n")
    data = synthesize_training_set(ws, pairs_file=ws.root / "pairs.jsonl")
    assert [p.question for p in data.pairs if p.kind == "team"] == ["Is there a gym pass?"]
    assert data.coverage.team_pairs == 1 and data.coverage.questions == sum(len(f.questions) + len(f.reverse) for f in data.facts)


def test_synthesis_is_cached_per_chunk_content_so_an_update_regenerates_only_changed_chunks(tmp_path: Path):
    cache = SynthesisCache(tmp_path / "cache")
    first = build_training_set(_chunks(), 1, settings=SETTINGS, corpus_text=TEXT, cache=cache)
    assert first.coverage.cached_chunks == 0
    changed = TEXT.replace("180 EUR", "195 EUR")
    moved = chunk_document(Document("handbook.md", "Handbook", changed, "handbook.md"), size_tokens=40, overlap_tokens=0)
    second = build_training_set(moved, 2, settings=SETTINGS, corpus_text=changed, cache=cache)
    assert second.coverage.cached_chunks == len(moved) - 1  # only the chunk holding the hotel cap was synthesized again
    assert any("195 EUR" in f.statement for f in second.facts) and not any("180 EUR" in f.statement for f in second.facts)
    fresh = build_training_set(moved, 2, settings=SETTINGS, corpus_text=changed)
    assert [replace(f) for f in second.facts] == list(fresh.facts) and second.passages == fresh.passages


def test_the_budget_covers_everything_when_it_fits_and_a_sample_otherwise():
    assert chunks_within(0, 500, 2000.0, 3, 100.0) == 500  # no limit
    assert chunks_within(30, 10, 2000.0, 3, 100.0) == 10  # 10 chunks take 10 minutes
    assert chunks_within(30, 500, 2000.0, 3, 100.0) == 30  # 30 min x 100 tok/s / 6000 tokens a chunk
    assert chunks_within(0.01, 500, 2000.0, 3, 100.0) == 1  # never nothing
    plan = TrainingPlan(500, 30, 30.0, 100.0, 2000.0, 3, 0)
    assert plan.sampled and plan.tokens_planned == 180_000 and plan.projected_all_s == 30_000
    assert "30/500 chunks" in plan.describe() and "8.3 h" in plan.describe()
    assert parse_budget("smoke") == 2.0 and parse_budget("45") == 45.0
    with pytest.raises(BudgetError, match="preset"):
        parse_budget("lots")


def test_a_budgeted_run_takes_focus_chunks_then_a_seeded_random_sample(tmp_path: Path):
    from ragft.synth.question_file import write_questions
    from ragft.synth.training_set import corpus_chunks
    from ragft.types import QAItem

    assert TrainingConfig().max_chunks == 0 and TrainingConfig().budget_minutes > 0  # no silent cap of 6 chunks any more
    ws = Workspace.init(tmp_path / "ws")
    memos = [
        Document(f"memo{i}.md", f"Memo {i}", f"The memo number {i} was written in 20{10 + i} by the finance team of Orrivale.", f"m{i}")
        for i in range(12)
    ]
    ws.store.commit(IngestPlan(added=(Document("handbook.md", "Handbook", TEXT, "handbook.md"), *memos)))
    write_questions([QAItem("q1", "When was memo 7 written?", ("2017",), True, ("memo7.md",), "fact", {})], ws.root / "focus.jsonl")
    ws = ws.with_settings({"embedder": "hashing", "focus_questions": "focus.jsonl"})
    orders = {seed: [c.doc_id for c in corpus_chunks(ws.with_settings({"training.seed": seed})).ordered] for seed in (0, 1)}
    assert orders[0][0] == orders[1][0] == "memo7.md"  # the chunk a focus question asks about comes first
    assert sorted(orders[0]) == sorted(orders[1]) and orders[0] != orders[1]  # then a seeded random order of the rest
    data = synthesize_training_set(ws, chunk_limit=4)
    assert [c.doc_id for c in data.chunks.values()] == orders[0][:4] and data.coverage.chunks_total == len(orders[0])
