"""The demo keeps its time and memory: the budget cuts RAFT examples, a one-fact budget still finds facts, stages say when they run."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from ragft.corpus.store import IngestPlan
from ragft.evaluate.compare import compare
from ragft.jobs.demo import DEMO_SETTINGS, prepare_demo_workspace, release_memory
from ragft.models.base import DecodingSettings
from ragft.models.testing import ScriptedGenerator
from ragft.synth import synthesize_training_set
from ragft.synth.types import Fact
from ragft.systems.closed_book import ClosedBookSystem
from ragft.train.arms import _fit_to_budget, arm_examples, first_fact_of_each_chunk, lora_settings
from ragft.train.budget import RAFT_FLOOR, TrainingPlan, raft_cut_note, raft_fit
from ragft.types import Document, QAItem
from ragft.workspace import Workspace
from tests.synth_fixtures import HANDBOOK_TEXT

TEXT = HANDBOOK_TEXT


class WordTokenizer:
    """Counts words as tokens: enough for the budget's arithmetic, which only counts."""

    eos_token = ""

    def __call__(self, text: str, add_special_tokens: bool = False) -> dict[str, list[int]]:
        return {"input_ids": list(range(len(text.split())))}

    def apply_chat_template(self, turns: list[dict[str, str]], add_generation_prompt: bool = True, tokenize: bool = False) -> str:
        return "\n".join(t["content"] for t in turns)


def _workspace(tmp_path: Path, **settings: Any) -> Workspace:
    ws = Workspace.init(tmp_path / "ws")
    docs = [Document(f"handbook{i}.md", f"Handbook {i}", TEXT, f"h{i}") for i in range(4)]
    ws.store.commit(IngestPlan(added=tuple(docs)))
    return ws.with_settings({"embedder": "hashing", **settings})


def _hybrid_fit(tmp_path: Path, budget_share: float) -> tuple[TrainingPlan, list[Any]]:
    """The hybrid arm's plan fitted to a 1-minute budget holding `budget_share` of its full examples' words."""
    ws = _workspace(tmp_path, raft_examples=8, raft_distractors=2)
    data = synthesize_training_set(ws)
    settings = lora_settings(ws, "hybrid")
    tokenizer = WordTokenizer()
    full = [e for split in arm_examples(ws, "hybrid", data) for e in split]
    speed = _words(tokenizer, full) * settings.epochs * budget_share / 60

    def no_resynthesis(limit: int) -> Any:
        pytest.fail("the hybrid arm's examples are capped in number: fewer chunks would not shorten its training")

    plan = TrainingPlan(len(data.chunks), len(data.chunks), 1.0, speed, 0.0, settings.epochs, 0)
    _, fitted = _fit_to_budget(ws, "hybrid", data, plan, tokenizer, settings, no_resynthesis, None)
    cut = [e for split in arm_examples(ws, "hybrid", replace(data, plan=fitted.summary())) for e in split]
    return fitted, cut


def _words(tokenizer: WordTokenizer, examples: list[Any]) -> int:
    return sum(len(tokenizer.apply_chat_template(list(e.messages)).split()) + len(e.answer.split()) for e in examples)


def _passages(example: Any) -> int:
    """Numbered passages ("[n] title" lines) in the example's own documents block."""
    return sum(line.startswith("[") for line in example.messages[-1]["content"].splitlines())


def test_a_hybrid_run_over_its_budget_drops_distractors_before_examples(tmp_path: Path):
    fitted, cut = _hybrid_fit(tmp_path, 0.6)  # fewer passages make up 40%: no example needs to go
    assert fitted.raft_examples == 0 and len(cut) == 8 and 0 <= fitted.raft_distractors < 2
    assert {_passages(e) for e in cut} == {fitted.raft_distractors + 1}  # the oracle plus what is left of the distractors
    assert "distractor passage(s) each" in fitted.describe() and not fitted.over_budget
    assert fitted.projected_s <= 1.25 * 60  # the cut run keeps the budget


def test_a_hybrid_budget_never_cuts_raft_below_its_floor_and_says_when_it_overruns(tmp_path: Path):
    fitted, cut = _hybrid_fit(tmp_path, 0.05)  # not even the floor fits
    assert fitted.over_budget and fitted.raft_examples == RAFT_FLOOR == len(cut) and fitted.raft_distractors == 0
    assert "over budget" in fitted.describe() and "over budget" in raft_cut_note(fitted.summary())
    fitted, cut = _hybrid_fit(tmp_path / "b", 0.3)  # without distractors, some examples above the floor fit
    assert RAFT_FLOOR <= fitted.raft_examples == len(cut) < 8 and not fitted.over_budget


def test_raft_fit_prefers_all_examples_with_fewer_distractors(tmp_path: Path):
    def tokens(examples: int, distractors: int) -> int:
        return examples * 100 * (1 + distractors)

    assert raft_fit(1600, 8, tokens, 1) == (8, 1, False)  # fits as configured
    assert raft_fit(900, 8, tokens, 1) == (8, 0, False)  # the distractor goes, every example stays
    assert raft_fit(600, 8, tokens, 1) == (6, 0, False)  # then examples, down to the floor
    assert raft_fit(100, 8, tokens, 1) == (RAFT_FLOOR, 0, True)  # the floor, over budget
    assert raft_fit(100, 2, tokens, 1) == (2, 0, True)  # fewer facts than the floor: all of them


def test_the_hybrid_arm_learns_each_chunks_first_fact_before_any_second(tmp_path: Path):
    facts = [Fact(f"{c}-{i}", "d", c, 0, 1, f"S {c}{i}.", "v", (f"Q {c}{i}?",)) for c in ("a", "b", "c") for i in range(3)]
    assert [f.fact_id for f in first_fact_of_each_chunk(facts, 4)] == ["a-0", "b-0", "c-0", "a-1"]


def test_a_budget_of_one_fact_per_chunk_takes_enough_chunks_for_three_facts(tmp_path: Path):
    ws = _workspace(tmp_path, facts_per_chunk=1, rewrites=0)
    data = synthesize_training_set(ws, chunk_limit=1)  # each chunk holds six facts but gives one
    assert len(data.facts) >= 3 and len(data.chunks) >= 3


def test_the_demo_trains_one_cheap_fact_per_probed_chunk(tmp_path: Path):
    ws = prepare_demo_workspace(tmp_path / "demo")
    t = ws.config.training
    assert (t.facts_per_chunk, t.rewrites, t.raw_chunks) == (1, 0, False)
    assert t.budget_minutes == DEMO_SETTINGS["budget_minutes"] and ws.config.evaluation.recall_questions <= 4


def test_every_stage_after_the_answers_says_when_it_starts_and_ends(tmp_path: Path):
    probes = [QAItem("q1", "When was Orrivale founded?", ("2017",), True, ("handbook.md",), "fact", {})]
    systems = {"base": ClosedBookSystem(ScriptedGenerator(lambda messages: "In 2017."), DecodingSettings())}
    heard: list[str] = []
    compare(systems, probes, tmp_path / "out", show_progress=False, say=heard.append)
    assert heard[0] == "answer probes: 1 probes asked of 1 arm(s)" and heard[1].startswith("answer probes: done in ")
    assert heard[2].startswith("retrieval-noise sweep: up to ") and heard[3].startswith("retrieval-noise sweep: done in ")
    assert len(heard) == 4


def test_releasing_memory_after_a_stage_gives_freed_heap_pages_back(tmp_path: Path):
    def rss_mb() -> float:
        with open("/proc/self/status", encoding="utf-8") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:")) / 1024

    if not Path("/proc/self/status").is_file():
        pytest.skip("reads /proc (Linux)")
    before = rss_mb()
    small = [bytearray(2000) for _ in range(100_000)]  # ~200 MB in small blocks: the C heap, not mmap
    grown = rss_mb() - before
    survivor = small[-1]  # still in use at the heap's top: glibc does not trim the heap on its own
    del small
    release_memory()
    assert grown > 150 and rss_mb() - before < grown / 2 and len(survivor) == 2000


def test_the_chunk_more_focus_questions_ask_about_is_trained_first(tmp_path: Path):
    from ragft.synth.question_file import write_questions
    from ragft.synth.training_set import corpus_chunks

    ws = _workspace(tmp_path)
    asks = [("handbook0.md", "2017")] + [("handbook3.md", "180 EUR")] * 3
    items = [QAItem(f"q{i}", "What is it?", (answer,), True, (doc,), "fact", {}) for i, (doc, answer) in enumerate(asks)]
    write_questions(items, ws.root / "focus.jsonl")
    ordered = corpus_chunks(ws.with_settings({"focus_questions": "focus.jsonl"})).ordered
    assert [c.doc_id for c in ordered[:2]] == ["handbook3.md", "handbook0.md"]
