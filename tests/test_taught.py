"""Judged on what it was taught: coverage tagging, covered accuracy, leakage, recall, rag-parity, one decoding."""

from __future__ import annotations

import json
from pathlib import Path

from ragft import arms
from ragft.corpus.store import IngestPlan
from ragft.evaluate.scoring import Score
from ragft.evaluate.taught import (
    Recall,
    Snapshot,
    cost_to_cover,
    covered_accuracy,
    exposure_curve,
    fact_split,
    fact_taught,
    known_split,
    probe_coverage,
    probe_leakage,
    recall,
)
from ragft.systems.adapter import training_set
from ragft.systems.build import decoding_settings, index_corpus
from ragft.types import Answer, Chunk, Document, QAItem
from ragft.workspace import Workspace

CHUNKS = {
    "a#0": Chunk("a#0", "a.md", "The hotel cap is 180 EUR per night.", 0, 35),
    "b#1": Chunk("b#1", "b.md", "Claims are filed within 30 days.", 40, 72),
    "c#0": Chunk("c#0", "c.md", "The F3 logger had an RMA rate of 0.8%.", 0, 38),
}
PROBES = [
    QAItem("p1", "What is the hotel cap?", ("180 EUR",), True, ("a.md",)),  # its fact is in a trained chunk
    QAItem("p2", "Who founded b?", ("two engineers",), True, ("b.md",)),  # b.md trained, but not the chunk with this fact
    QAItem("p3", "What is the on-call pay?", ("350",), True, ("d.md",)),  # d.md not trained at all
    QAItem("p4", "What is the CEO's shoe size?", (), False, (), kind="out_of_scope"),  # nothing to have learned
    QAItem(
        "p5",
        "Cap and claims?",
        ("180 EUR; 30 days",),
        True,
        ("a.md", "b.md"),
        kind="multi_doc",
        meta={"answer_parts": ["180 EUR", "30 days"]},
    ),  # each part in a trained chunk of a gold doc
    QAItem(
        "p6", "Cap and logger?", ("180 EUR; 2017",), True, ("a.md", "c.md"), kind="multi_doc", meta={"answer_parts": ["180 EUR", "2017"]}
    ),  # one part missing from the trained text
]


def _score(qid: str, correct: float) -> Score:
    return Score(
        "finetuned", qid, "fact", correct, 0.0, 0.0, 0.0, False, False, 0.0, None, None, None, None, None, None, None, None, None, None
    )


def test_a_probe_is_covered_only_when_its_gold_fact_is_in_a_trained_chunk() -> None:
    assert probe_coverage(PROBES, CHUNKS) == {"p1": True, "p2": False, "p3": False, "p4": None, "p5": True, "p6": False}
    assert probe_coverage(PROBES, {}) == {"p1": False, "p2": False, "p3": False, "p4": None, "p5": False, "p6": False}


def test_a_chunk_the_budget_drew_but_that_gave_no_training_text_is_not_taught() -> None:
    """The demo drew 5 chunks and found facts in 3: probes on the other 2 were counted as covered."""
    from ragft.synth.types import Coverage, Passage, TrainingSet, TrainPair

    pairs = (
        TrainPair("What is the hotel cap?", "180 EUR.", "fact", "train", "f1", "a.md", "a#0"),
        TrainPair("How high is the hotel cap?", "180 EUR.", "paraphrase", "val", "f2", "b.md", "b#1"),  # held out only
    )
    data = TrainingSet(1, (), pairs, CHUNKS, Coverage(3, 3, 2, 2, 2), (Passage("c#0", "c.md", "raw", CHUNKS["c#0"].text),))
    assert set(data.taught_chunks()) == {"a#0", "c#0"}
    assert probe_coverage(PROBES, data.taught_chunks())["p5"] is False  # b.md's fact was never trained


def test_covered_accuracy_is_counted_on_covered_answerable_probes() -> None:
    coverage = probe_coverage(PROBES, CHUNKS)
    scores = [_score("p1", 1), _score("p2", 0), _score("p3", 1), _score("p4", 1), _score("p5", 0), _score("p6", 0)]
    got = covered_accuracy(scores, coverage)
    assert got == {
        "probes": 6,
        "answerable": 5,
        "covered": 2,
        "coverage_share": 0.4,
        "accuracy_all": round(3 / 6, 4),
        "accuracy_answerable": 0.4,
        "accuracy_covered": 0.5,
        "accuracy_uncovered": round(1 / 3, 4),
    }


def test_a_covered_probe_is_split_by_whether_a_training_question_taught_its_fact() -> None:
    """Reading a chunk is not being taught its facts: the covered probes split by the trained values."""
    from ragft.synth.types import Coverage, Fact, TrainingSet, TrainPair

    facts = (
        Fact("f1", "a.md", "a#0", 0, 35, "The hotel cap is 180 EUR.", "180 EUR", ("What is the hotel cap?",)),
        Fact("f2", "b.md", "b#1", 40, 72, "Claims are filed within 30 days.", "30 days", ("When?",), reverse_answer="Claims"),
    )
    pairs = (
        TrainPair("What is the hotel cap?", "180 EUR.", "fact", "train", "f1", "a.md", "a#0"),
        TrainPair("What is filed within 30 days?", "Claims.", "reverse", "train", "f2", "b.md", "b#1"),
        TrainPair("When are claims filed?", "30 days.", "paraphrase", "val", "f2", "b.md", "b#1"),  # held out: not taught
    )
    data = TrainingSet(1, facts, pairs, CHUNKS, Coverage(3, 3, 2, 2, 3))
    assert data.taught_values() == {"a.md": ["180 EUR"], "b.md": ["Claims"]}
    coverage = probe_coverage(PROBES, CHUNKS)
    taught = fact_taught(PROBES, coverage, data.taught_values())
    assert taught == {"p1": True, "p5": False}  # p5's "30 days" part was only held out; uncovered probes are not keys
    scores = [_score("p1", 1), _score("p2", 1), _score("p5", 0)]
    assert fact_split(scores, taught) == {"fact_taught": 1, "accuracy_fact_taught": 1.0, "chunk_only": 1, "accuracy_chunk_only": 0.0}


def test_the_known_split_counts_kept_and_gained_facts_against_the_base_model() -> None:
    coverage = probe_coverage(PROBES, CHUNKS)
    base = [_score("p1", 1), _score("p2", 1), _score("p3", 0), _score("p4", 1), _score("p5", 0), _score("p6", 0)]
    tuned = [_score("p1", 1), _score("p2", 0), _score("p3", 1), _score("p4", 0), _score("p5", 0), _score("p6", 0)]
    assert known_split(tuned, base, coverage) == {"known": 2, "unknown": 3, "kept": 0.5, "gained": round(1 / 3, 4)}


def test_the_cost_to_cover_the_rest_is_the_measured_time_per_chunk() -> None:
    assert cost_to_cover(120.0, 6, 40) == {
        "chunks_used": 6,
        "chunks_total": 40,
        "chunks_left": 34,
        "training_s_per_chunk": 20.0,
        "projected_s_for_the_rest": 680.0,
    }
    assert cost_to_cover(None, 6, 40)["projected_s_for_the_rest"] is None
    assert cost_to_cover(50.0, 10, 10)["chunks_left"] == 0


def test_leakage_finds_copies_and_near_copies_of_probes_in_the_training_questions() -> None:
    probes = [
        QAItem("copy", "What is the hotel cap per night in Tampere?", ("180",), True, ("a.md",)),
        QAItem("near", "So what is the hotel cap per night in Tampere these days?", ("180",), True, ("a.md",)),
        QAItem("new", "Who answers Squall-1 incidents?", ("Lamplighter",), True, ("s.md",)),
    ]
    training = ["What is the hotel cap per night in Tampere?", "When are claims due?", "How long is the working week?"]
    leak = probe_leakage(probes, training)
    assert leak["leaked"] == 2 and leak["max_containment"] == 1.0 and leak["training_questions"] == 3
    assert [c["qid"] for c in leak["closest"]] == ["copy", "near"]  # "new" shares no 5-gram: not listed
    assert leak["closest"][0]["jaccard"] == 1.0 and 0.5 <= leak["closest"][1]["containment"] < 1.0
    assert probe_leakage(probes[2:], training)["leaked"] == 0


class _Echo:
    """A system whose answer is fixed per question: recall is scored on what it says."""

    name = "echo"

    def __init__(self, replies: dict[str, str]) -> None:
        self.replies = replies

    def answer(self, question: str, *, user=None, on_token=None) -> Answer:
        if question not in self.replies:
            raise RuntimeError("no reply")
        return Answer(text=self.replies[question])


def test_recall_scores_the_key_value_and_counts_errors_as_wrong() -> None:
    items = [Recall("q1", "180 EUR"), Recall("q2", "30 days"), Recall("q3", "2017")]
    system = _Echo({"q1": "It is 180 EUR.", "q2": "Within a week."})  # q3 raises
    assert recall(system, items, limit=10, seed=0) == {"asked": 3, "accuracy": round(1 / 3, 4)}
    assert recall(system, items, limit=1, seed=0)["asked"] == 1


def test_the_exposure_curve_asks_each_snapshot_the_covered_probes_and_ends_with_the_installed_adapter() -> None:
    coverage = probe_coverage(PROBES, CHUNKS)  # covered: p1 (180 EUR) and p5 (180 EUR and 30 days)
    early = _Echo({"What is the hotel cap?": "I do not know.", "Cap and claims?": "180 EUR."})
    middle = _Echo({"What is the hotel cap?": "180 EUR. The hotel cap is 180 EUR per night.", "Cap and claims?": "180 EUR, 30 days."})

    def broken() -> _Echo:
        raise OSError("adapter.gguf: no such file")

    snapshots = [Snapshot(0.5, 600, lambda: middle), Snapshot(0.25, 300, lambda: early), Snapshot(0.75, 900, broken)]
    final = [_score("p1", 1), _score("p2", 1), _score("p5", 0)]  # p2 is not covered: not in the curve
    curve = exposure_curve(snapshots, final, PROBES, coverage, 1200)
    assert [(p["fraction"], p["tokens"], p["accuracy_covered"]) for p in curve] == [
        (0.25, 300, 0.0),
        (0.5, 600, 1.0),
        (0.75, 900, None),
        (1.0, 1200, 0.5),
    ]
    assert all(p["covered"] == 2 for p in curve) and "no such file" in curve[2]["error"]


# ---------------------------------------------------------------- on a trained tiny model


def test_training_keeps_snapshots_at_a_quarter_and_half_of_the_planned_tokens(trained: Workspace) -> None:
    from ragft.train.adapter_files import exposure_dir
    from ragft.train.manifest import AdapterManifest, adapter_dir

    metrics = AdapterManifest.load(adapter_dir(trained, "finetuned")).metrics
    points = metrics["exposure"]
    assert [p["fraction"] for p in points] == [0.25, 0.5] and all(p["kept"] for p in points)
    assert metrics["planned_tokens"] > 0
    assert all(p["fraction"] * metrics["planned_tokens"] <= p["tokens"] <= metrics["tokens"] for p in points)
    for point in points:
        folder = exposure_dir(adapter_dir(trained, "finetuned"), point["fraction"])
        assert (folder / "adapter.gguf").is_file() and (folder / "peft" / "adapter_model.safetensors").is_file()
    assert not AdapterManifest.load(adapter_dir(trained, "hybrid")).metrics["exposure"]  # RAFT: no closed-book curve


def test_every_arm_built_through_the_registry_decodes_the_same_way(trained: Workspace) -> None:
    indexed = index_corpus(trained)
    systems = arms.build_all(trained, arms.names(), indexed)
    decodings = {name: system.decoding for name, system in systems.items()}  # type: ignore[attr-defined]
    assert set(decodings) == set(arms.names())
    assert all(d == decoding_settings(trained) for d in decodings.values()), decodings
    # ... and on one engine and one weights file: adapter arms apply their LoRA to the file the plain arms load
    from ragft.models.llama_cpp import LlamaCppGenerator

    generators = {name: system.generator for name, system in systems.items()}  # type: ignore[attr-defined]
    assert all(isinstance(g, LlamaCppGenerator) for g in generators.values()), generators
    served = {name: (g._resolve_path(), g.default_gguf_type) for name, g in generators.items()}  # type: ignore[attr-defined]
    assert len(set(served.values())) == 1 and next(iter(served.values()))[1] == trained.config.models.default_gguf_type, served


def test_rag_parity_retrieves_only_the_chunks_the_finetuned_arm_was_trained_on(trained: Workspace, tmp_path: Path) -> None:
    import shutil

    shutil.copytree(trained.root, tmp_path / "ws")
    ws = Workspace.open(tmp_path / "ws")
    extra = "The Porto office opens in 2027. Its hotel cap is 210 EUR per night and claims take 45 days."
    ws.store.commit(IngestPlan(added=(Document("porto.md", "Porto", extra, "porto.md"),)))  # after training: never learned
    trained_ids = set(training_set(ws, "finetuned").taught_chunks())
    indexed = index_corpus(ws)
    assert {c.chunk_id for c in indexed.retriever.chunks} - trained_ids, "the index holds chunks the fine-tune never saw"
    systems = arms.build_all(ws, ["rag", "rag-parity"], indexed)  # the plain model: nothing stale to warn about
    questions = ["When does the Porto office open?", "What is the hotel cap?", "How long do claims take?", "Who is the Lamplighter?"]
    seen_by_rag = set()
    for question in questions:
        parity = systems["rag-parity"].retriever.search(question, 8)  # type: ignore[attr-defined]
        assert parity and {h.chunk.chunk_id for h in parity} <= trained_ids
        seen_by_rag |= {h.chunk.chunk_id for h in systems["rag"].retriever.search(question, 8)}  # type: ignore[attr-defined]
    assert seen_by_rag - trained_ids, "plain rag finds the new chunk, so the check above can fail"
    for hit in systems["rag-parity"].answer("When does the Porto office open?").trace["hits"]:
        assert hit["chunk_id"] in trained_ids


def test_compare_reports_coverage_leakage_and_recall_for_trained_arms(trained: Workspace, tmp_path: Path) -> None:
    import shutil

    from ragft.jobs.compare import run_comparison
    from ragft.report import summary, write_report

    shutil.copytree(trained.root, tmp_path / "ws")
    ws = Workspace.open(tmp_path / "ws").with_settings(
        {
            "probes_per_kind": 1,
            "noise_probes": 0,
            "injection_probes": 0,
            "bootstrap_samples": 20,
            "recall_questions": 2,
            "max_new_tokens": 4,
        }
    )
    result = run_comparison(
        ws, arms=["base", "finetuned", "rag-parity"], out_dir=tmp_path / "out", measure_domain=False, say=lambda _: None
    )
    taught = summary(result)["taught"]
    assert set(taught["arms"]) == {"finetuned", "rag-parity"} and set(taught["leakage"]) == {"finetuned"}
    coverage = taught["probe_coverage"]["finetuned"]
    assert set(coverage) == {p.qid for p in result.probes}
    row = taught["arms"]["finetuned"]
    assert row["covered"] == sum(1 for v in coverage.values() if v) and row["probes"] == len(result.probes)
    assert row["fact_taught"] + row["chunk_only"] == row["covered"] == len(taught["fact_taught"]["finetuned"])
    assert row["memorisation"]["asked"] == 2 and row["generalisation"]["asked"] <= 2 and "known_split" in row
    assert "memorisation" not in taught["arms"]["rag-parity"]  # the plain model: nothing memorised to ask about
    curve = row["exposure"]  # the snapshots at 1/4 and 1/2 of the tokens answered the covered probes, then the installed adapter
    assert [p["fraction"] for p in curve] == [0.25, 0.5, 1.0] and all(p["covered"] == row["covered"] for p in curve)
    assert curve[-1]["accuracy_covered"] == row["accuracy_covered"] and "error" not in curve[0]
    assert curve[0]["tokens"] <= curve[1]["tokens"] <= curve[2]["tokens"]
    assert "exposure" not in taught["arms"]["rag-parity"]
    assert row["cost_to_cover"]["chunks_used"] == len(training_set(ws, "finetuned").chunks)
    from ragft.report.taught import taught_lines

    assert any(line.startswith("finetuned: ") and f"on the {row['covered']} probes" in line for line in taught_lines(result))
    html = write_report(result, tmp_path / "report").read_text()
    assert "Judged on what it was taught" in html and "Probe leakage into the training data" in html
    assert "Accuracy against training tokens" in html and any("by training tokens: ¼ (" in line for line in taught_lines(result))
    assert json.loads((tmp_path / "report" / "summary.json").read_text())["taught"]["arms"]["finetuned"]["adapter"] == "finetuned"
