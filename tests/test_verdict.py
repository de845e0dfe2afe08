"""The verdict's seeds, cost crossover and serving-hardware note, on hand-computed cases and fake arms."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import pytest

from ragft.config import EvaluationConfig
from ragft.evaluate.compare import ArmCost, compare
from ragft.evaluate.crossover import ArmCostProfile, crossover
from ragft.evaluate.requirements import evidence_from_summary
from ragft.evaluate.seeds import SeedPlan, majority_correct, seed_spread
from ragft.report import summary, write_report
from ragft.report.recommend import Requirements, recommend, recommend_result
from tests.evaluate_fakes import FakeArm, item
from tests.recommend_fixtures import arm, verdicts

# --- seeds -------------------------------------------------------------------------------------------------

SEED_VERDICTS = [  # three seeds of one arm on four probes
    {"q0": True, "q1": True, "q2": True, "q3": False},  # 75%
    {"q0": True, "q1": True, "q2": False, "q3": False},  # 50%
    {"q0": True, "q1": False, "q2": False, "q3": True},  # 50%
]


def test_the_seed_spread_is_the_mean_range_and_sample_sd_of_the_seeds_accuracies() -> None:
    spread = seed_spread("finetuned", SEED_VERDICTS, [0, 1, 2])
    assert spread.accuracies == (0.75, 0.5, 0.5)
    assert spread.mean == pytest.approx(7 / 12)
    assert (spread.low, spread.high) == (0.5, 0.75)
    # deviations from 7/12: +2/12, -1/12, -1/12; sum of squares 6/144, over n - 1 = 2: 3/144
    assert spread.sd == pytest.approx(math.sqrt(3) / 12)
    assert spread.majority_accuracy == 0.5  # q0 (3 of 3) and q1 (2 of 3); q2 and q3 have 1 of 3
    assert spread.probes == 4 and spread.training_seeds == (0, 1, 2)
    assert "mean 58.3%, 50.0%–75.0%, sd 14.4 points" in spread.text()


def test_one_seed_has_no_spread_and_a_tie_between_an_even_number_of_seeds_counts_wrong() -> None:
    one = seed_spread("finetuned", SEED_VERDICTS[:1], [7])
    assert one.sd == 0.0 and one.mean == one.majority_accuracy == 0.75
    assert majority_correct(SEED_VERDICTS[:2]) == {"q0": True, "q1": True, "q2": False, "q3": False}  # q2: 1 of 2 is no majority
    assert majority_correct([{"q0": True}, {}]) == {"q0": False}  # a probe missing from a seed's answers is wrong there
    with pytest.raises(ValueError, match="3 training seeds"):
        seed_spread("finetuned", SEED_VERDICTS[:2], [0, 1, 2])


PROBES = [item(f"q{i}", f"question {i}?", (f"{i} days",)) for i in range(4)]


def _seeded_arm(name: str, right: dict[str, bool]) -> FakeArm:
    return FakeArm(name, {f"question {q[1:]}?": f"{q[1:]} days." for q, ok in right.items() if ok}, latency_s=0.5)


def _seeded_result(tmp_path: Path):
    systems = {"base": FakeArm("base", {}, latency_s=0.4), "finetuned": _seeded_arm("finetuned", SEED_VERDICTS[0])}
    plan = SeedPlan(
        {"finetuned": [_seeded_arm("finetuned", SEED_VERDICTS[1]), _seeded_arm("finetuned", SEED_VERDICTS[2])]},
        {"finetuned": [0, 1, 2]},
    )
    return compare(
        systems,
        PROBES,
        tmp_path / "run",
        evaluation=EvaluationConfig(bootstrap_samples=50, noise_probes=0),
        costs={"finetuned": ArmCost(training_s=100.0)},
        seeds=plan,
        show_progress=False,
    )


def test_the_paired_test_reads_the_majority_of_seeds_not_seed_zero(tmp_path: Path) -> None:
    result = _seeded_result(tmp_path)
    assert result.summaries["finetuned"].overall["accuracy"].value == 0.75  # every other table: seed 0, the served adapter
    assert result.verdicts()["finetuned"] == {"q0": True, "q1": True, "q2": False, "q3": False}
    measured = result.summary_dict()
    pair = next(p for p in measured["paired"]["pairs"] if {p["a"], p["b"]} == {"base", "finetuned"})
    right_only_in_finetuned = pair["only_b"] if pair["a"] == "base" else pair["only_a"]
    assert right_only_in_finetuned == 2  # by majority; seed 0 alone would have had 3
    assert measured["seeds"]["arms"]["finetuned"]["accuracies"] == [0.75, 0.5, 0.5]
    assert [Path(p).name for p in measured["seeds"]["answers"]["finetuned"]] == [
        "finetuned.jsonl",
        "finetuned_seed1.jsonl",  # answers_path makes "finetuned@seed1" file-safe
        "finetuned_seed2.jsonl",
    ]
    assert all(Path(p).is_file() for p in measured["seeds"]["answers"]["finetuned"])
    rebuilt = evidence_from_summary(summary(result))  # the verdict from summary.json alone uses the same majority
    assert next(e for e in rebuilt if e.arm == "finetuned").correct == result.verdicts()["finetuned"]


def test_the_report_shows_the_seed_spread(tmp_path: Path) -> None:
    result = _seeded_result(tmp_path)
    html = write_report(result, tmp_path / "out").read_text(encoding="utf-8")
    assert "<h2>Training seeds</h2>" in html and "75.0% (seed 0), 50.0% (seed 1), 50.0% (seed 2)" in html
    assert "a majority of its seeds" in html
    saved = json.loads((tmp_path / "out" / "summary.json").read_text(encoding="utf-8"))
    assert saved["seeds"]["arms"]["finetuned"]["majority_accuracy"] == 0.5


# --- cost crossover ----------------------------------------------------------------------------------------

FT = ArmCostProfile("finetuned", build_s=100.0, per_answer_s=0.5, prompt_tokens=60.0, update_s=130.0)
RAG = ArmCostProfile("rag", build_s=10.0, per_answer_s=2.0, prompt_tokens=700.0, update_s=10.0)


def test_fine_tuning_repays_its_training_after_the_questions_its_savings_cover() -> None:
    c = crossover(FT, RAG, update_frequency="monthly", queries_per_month=1000)
    assert c.saving_s == 1.5
    assert c.repays_after_queries == 60  # (100 - 10) / (2.0 - 0.5)
    assert c.repays_per_update_queries == 80  # (130 - 10) / 1.5
    assert c.updates_per_month == 1.0
    assert c.monthly_s_a == 630.0  # 1 x 130 + 1000 x 0.5
    assert c.monthly_s_b == 2010.0  # 1 x 10 + 1000 x 2.0
    assert c.repays_at_volume is True
    assert "repays after 60 questions (0.50 s vs 2.00 s an answer, 60 vs 700 prompt tokens)" in c.text()


def test_an_arm_whose_answers_are_not_cheaper_never_repays() -> None:
    dearer = replace(FT, per_answer_s=2.5)
    c = crossover(dearer, RAG, update_frequency="weekly")
    assert c.repays_after_queries is None and c.repays_per_update_queries is None
    assert c.updates_per_month == pytest.approx(30 / 7)
    assert c.monthly_s_a is None and c.repays_at_volume is None  # no volume stated
    assert "finetuned never repays its 100 s of training: its answers are not cheaper" in c.text()


def test_an_arm_cheaper_to_build_and_to_answer_repays_at_once_and_rare_updates_cost_nothing_a_month() -> None:
    c = crossover(replace(FT, build_s=5.0), RAG, update_frequency="rarely", queries_per_month=100)
    assert c.repays_after_queries == 0
    assert c.monthly_s_a == 50.0 and c.monthly_s_b == 200.0  # 0 updates a month: answers only
    with pytest.raises(ValueError, match="hourly"):
        crossover(FT, RAG, update_frequency="hourly")


def test_the_comparison_computes_the_crossover_from_its_measured_costs(tmp_path: Path) -> None:
    systems = {
        "rag": FakeArm("rag", {}, docs={}, latency_s=2.0, k=4),
        "finetuned": FakeArm("finetuned", {}, latency_s=0.5),
    }
    result = compare(
        systems,
        PROBES,
        tmp_path / "run",
        requirements=Requirements(update_frequency="monthly", queries_per_month=1000),
        evaluation=EvaluationConfig(bootstrap_samples=50, noise_probes=0),
        costs={"finetuned": ArmCost(training_s=100.0), "rag": ArmCost(indexing_s=10.0)},
        show_progress=False,
    )
    (c,) = result.crossovers()
    assert (c.a, c.b, c.repays_after_queries, c.repays_per_update_queries) == ("finetuned", "rag", 60, 60)
    assert result.summary_dict()["crossover"][0]["repays_after_queries"] == 60
    html = write_report(result, tmp_path / "out").read_text(encoding="utf-8")
    assert "<h2>Cost crossover</h2>" in html and "finetuned vs rag: machine time to build and answer" in html


# --- serving hardware --------------------------------------------------------------------------------------


def test_latency_measured_here_does_not_rule_out_an_arm_served_elsewhere_and_the_verdict_says_so() -> None:
    base, rag = arm("base", 0.125, 0.9), arm("rag", 0.625, 7.9)
    base, rag = replace(base, correct=verdicts(0.125, 16)), replace(rag, correct=verdicts(0.625, 16))
    here = recommend([base, rag], Requirements(latency_budget_p95_s=5.0, update_frequency="rarely", min_accuracy=0.5), machine="Test CPU")
    assert not here.meets_requirements and [r.requirement for r in here.ruled_out["rag"]] == ["latency"]
    req = Requirements(latency_budget_p95_s=5.0, update_frequency="rarely", min_accuracy=0.5, serving_hardware="1x L4 GPU")
    there = recommend([base, rag], req, machine="Test CPU")
    assert there.arm == "rag" and there.meets_requirements and "rag" not in there.ruled_out
    assert there.headline == "Ship rag. (Latency not checked: measured on Test CPU, not on 1x L4 GPU.)"
    assert any("rag's p95 latency is 7.90 s on Test CPU, not on the serving hardware (1x L4 GPU)" in r.text for r in there.reasons)
    note = there.reasons[-1].text
    assert "over it here: rag (p95 7.90 s)" in note and "Measure latency on 1x L4 GPU before shipping" in note


def test_the_serving_hardware_setting_reaches_the_verdict_of_a_comparison(tmp_path: Path) -> None:
    result = _seeded_result(tmp_path)
    result = replace(result, requirements=Requirements(serving_hardware="an A10 GPU"))
    assert "not on an A10 GPU" in recommend_result(result).headline


def test_the_terminal_table_has_the_seed_spread_column(tmp_path: Path) -> None:
    from rich.console import Console

    from ragft.report.terminal import print_summary

    console = Console(record=True, width=250)
    print_summary(_seeded_result(tmp_path), console)
    text = console.export_text()
    assert "accuracy over seeds" in text and "58% [50%–75%] 14.4 pts, 3 seeds" in text
    assert "Seeds: finetuned over 3 seeds: mean 58.3%" in text
