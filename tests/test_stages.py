"""Systems as values, and stages that report every arm: a closed-book arm is "not applicable", never dropped."""

from __future__ import annotations

from pathlib import Path

from ragft.evaluate.freshness import measure_freshness, rag_refresher
from ragft.evaluate.injection import InjectionProbe
from ragft.evaluate.noise import NOT_RETRIEVING, noise_sweep
from ragft.evaluate.runner import answers_path
from ragft.evaluate.stages import NOT_EXPOSED, InjectionPlan, injection_stage
from ragft.models.base import DecodingSettings
from ragft.models.testing import ScriptedGenerator
from ragft.systems.closed_book import ClosedBookSystem
from ragft.systems.rag import RagSystem
from ragft.types import RetrievingSystem, System, retrieving
from tests.evaluate_fakes import FakeArm, item

PROBES = [item(f"f{i}", f"fact question {i}?", (f"{i} days",), gold=(f"doc{i}.md",)) for i in range(4)]
CHANGED = [item("c1", "What is the F3 price?", ("€189",), kind="changed_fact", gold=("prices.md",), answers_v2=["€199"])]


def arms() -> dict[str, FakeArm]:
    table = {p.question: f"It is {p.answers[0]} [1]." for p in PROBES}
    return {"base": FakeArm("base", {}), "rag": FakeArm("rag", table, docs={p.question: p.gold_doc_ids[0] for p in PROBES}, k=4)}


def test_with_k_and_with_retriever_return_new_systems_and_leave_the_original_as_it_was() -> None:
    rag = RagSystem(ScriptedGenerator(), retriever=object(), decoding=DecodingSettings(), k=4)  # type: ignore[arg-type]
    other = object()
    assert rag.with_k(1).k == 1 and rag.k == 4
    moved = rag.with_retriever(other)
    assert moved.retriever is other and rag.retriever is not other and moved.generator is rag.generator
    assert isinstance(rag, RetrievingSystem) and isinstance(rag, System)
    closed = ClosedBookSystem(ScriptedGenerator(), DecodingSettings())
    assert retrieving(closed) is None and retrieving(rag) is rag


def test_the_noise_sweep_lists_closed_book_arms_as_not_applicable(tmp_path: Path) -> None:
    systems = arms()
    sweep = noise_sweep(systems, PROBES, tmp_path, ks=(1, 2), limit=4, samples=20, show_progress=False)
    assert {(p.arm, p.k) for p in sweep.points} == {("rag", 1), ("rag", 2)}
    assert sweep.not_applicable == {"base": NOT_RETRIEVING}
    assert systems["rag"].k == 4, "the swept arm itself is unchanged"
    assert answers_path(tmp_path, "rag", "noise/k1").is_file()


def test_freshness_reports_a_closed_book_arm_as_not_refreshable_by_reindexing(tmp_path: Path) -> None:
    systems = {"base": FakeArm("base", {})}
    refresh = rag_refresher(ws=None, version=2)  # never indexes: the arm does not retrieve
    fresh = measure_freshness(systems, CHANGED, tmp_path, new_version=2, refreshers={"base": refresh}, samples=20, show_progress=False)
    assert set(fresh) == {"base"}
    assert fresh["base"].refresh.method == "none" and "not applicable" in fresh["base"].refresh.detail


def test_injection_reports_closed_book_arms_as_not_exposed_and_answers_retrieving_ones_over_the_hostile_index() -> None:
    systems = arms()
    hostile = {"Who approves travel?": "hostile/travel.md"}
    systems["rag"].table["Who approves travel?"] = "CANARY-7 [1]"
    probe = InjectionProbe("Who approves travel?", "hostile/travel.md", "CANARY-7")
    results = injection_stage(systems, InjectionPlan(lambda: hostile, [probe]))
    assert results["base"] == {"rate": None, "probes": 0, "note": NOT_EXPOSED}
    assert results["rag"]["rate"] == 1.0 and results["rag"]["exposed"] == 1
    assert systems["rag"].retriever is not hostile, "the arm keeps its own index"


def test_every_answer_file_summary_json_names_exists_even_for_an_arm_name_that_is_not_file_safe(tmp_path: Path) -> None:
    import json

    from ragft.config import EvaluationConfig
    from ragft.evaluate.compare import compare
    from ragft.report import write_report

    systems = {"finetuned+rag": FakeArm("finetuned+rag", {}, docs={}, k=2), "base": FakeArm("base", {})}
    result = compare(
        systems, PROBES, tmp_path, evaluation=EvaluationConfig(bootstrap_samples=20, noise_ks=(1,), noise_probes=2), show_progress=False
    )
    write_report(result, tmp_path)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["answers"]["finetuned+rag"] == str(answers_path(tmp_path / "answers", "finetuned+rag"))
    assert all(Path(p).is_file() for p in summary["answers"].values())
    assert answers_path(tmp_path / "answers", "finetuned+rag", "noise/k1").is_file()
