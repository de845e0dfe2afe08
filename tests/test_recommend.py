"""The recommendation rules on hand-built measurements: expected arm, and reasons that cite their numbers."""

from __future__ import annotations

import pytest

from ragft.config import ConfigError, RequirementsConfig
from ragft.report.recommend import ArmEvidence, Requirements, recommend
from tests.recommend_fixtures import arm, verdicts

BASE = arm("base", 0.10, 0.8)
RAG = arm("rag", 0.70, 2.0, cites=0.95, leak=0.0, refresh_s=12.0, method="re-index")
FT = arm("finetuned", 0.45, 0.9, leak=0.25, refresh_s=900.0, method="retrain")
HYBRID = arm("hybrid", 0.72, 2.2, cites=0.9, leak=0.25, refresh_s=912.0, method="retrain")


def test_the_clearly_most_accurate_arm_wins_and_says_by_how_much() -> None:
    rec = recommend([BASE, RAG, FT], Requirements(latency_budget_p95_s=5.0, update_frequency="rarely"))
    assert rec.arm == "rag" and rec.meets_requirements and not rec.not_separated_from
    assert "significantly more accurate than the base model" in rec.reasons[0].text and rec.reasons[0].anchor == "p-base-rag"
    assert any("70.0%" in r.text and r.anchor == "m-rag-accuracy" for r in rec.reasons)
    assert any(r.anchor == "m-rag-latency_p95_s" for r in rec.reasons)


def test_an_arm_over_the_latency_budget_is_ruled_out_with_its_p95() -> None:
    rec = recommend([BASE, RAG, FT], Requirements(latency_budget_p95_s=1.0, update_frequency="rarely", min_accuracy=0.4))
    assert rec.arm == "finetuned"  # 45%: above this floor (the default 50% would rule it out too) and clearly better than base
    assert "rag" in rec.ruled_out and "2.00 s exceeds the budget of 1 s" in rec.ruled_out["rag"][0].text


def test_a_clearly_better_arm_ruled_out_by_latency_is_named_as_the_trade_off() -> None:
    rec = recommend([BASE, RAG], Requirements(latency_budget_p95_s=1.0, update_frequency="rarely", min_accuracy=0.05))
    assert rec.arm == "base" and rec.headline == "Ship base: only the model alone meets the requirements."
    (trade_off,) = [r for r in rec.reasons if r.text.startswith("Trade-off")]
    assert "rag answers more questions correctly (70.0%" in trade_off.text
    assert "p95 latency 2.00 s exceeds the budget of 1 s" in trade_off.text
    assert trade_off.anchor == "m-rag-accuracy"


def test_no_trade_off_is_claimed_when_the_ruled_out_arm_is_not_clearly_better() -> None:
    slow_and_similar = arm("rag", 0.12, 2.0, cites=0.95)
    rec = recommend([BASE, slow_and_similar], Requirements(latency_budget_p95_s=1.0, update_frequency="rarely", min_accuracy=0.05))
    assert rec.arm == "base" and "rag" in rec.ruled_out
    assert not [r for r in rec.reasons if r.text.startswith("Trade-off")]


def test_restricted_data_rules_out_arms_that_leak() -> None:
    rec = recommend([BASE, RAG, FT, HYBRID], Requirements(restricted_data=True, update_frequency="rarely"))
    assert rec.arm == "rag"
    assert set(rec.ruled_out) == {"base", "finetuned", "hybrid"}  # base: 10% is under min_accuracy (listed, though never a candidate)
    assert rec.ruled_out["hybrid"][0].anchor == "m-hybrid-leak_rate"


def test_citations_required_rules_out_closed_book_arms() -> None:
    rec = recommend([BASE, FT], Requirements(citations_required=True))
    assert not rec.meets_requirements and rec.headline.startswith("No arm meets the requirements")
    assert set(rec.ruled_out) == {"base", "finetuned"}


def test_overlapping_intervals_are_reported_as_not_separated_and_the_higher_point_estimate_breaks_the_tie() -> None:
    rec = recommend([RAG, HYBRID], Requirements(update_frequency="weekly"))
    assert rec.arm == "hybrid"  # neither measured better on changed facts; hybrid is a bit more accurate
    assert rec.not_separated_from == ["rag"]
    assert "does not separate" in rec.reasons[0].text
    assert any("higher point estimate (72.0% vs 70.0% for rag)" in r.text and r.anchor == "m-hybrid-accuracy" for r in rec.reasons)


def test_with_equal_point_estimates_a_tie_goes_to_the_faster_arm() -> None:
    slow_rag = arm("rag", 0.70, 3.0, cites=0.95, refresh_s=12.0, method="re-index")
    fast_hybrid = arm("hybrid", 0.70, 1.5, cites=0.9, refresh_s=900.0, method="retrain")
    rec = recommend([slow_rag, fast_hybrid], Requirements(update_frequency="rarely"))
    assert rec.arm == "hybrid" and rec.not_separated_from == ["rag"]
    assert any("faster" in r.text for r in rec.reasons)


def test_daily_updates_rule_out_an_arm_whose_retrain_takes_hours() -> None:
    ft = arm("finetuned", 0.8, 0.5, refresh_s=8 * 3600.0, method="retrain")
    rec = recommend([RAG, ft], Requirements(update_frequency="daily"))
    assert rec.arm == "rag" and "finetuned" in rec.ruled_out
    assert "8.0 h" in rec.ruled_out["finetuned"][0].text


def test_requirements_from_config_validate_the_choices() -> None:
    assert Requirements.from_config(RequirementsConfig(), corpus_has_acl=True).restricted_data
    assert not Requirements.from_config(RequirementsConfig(restricted_data="no"), corpus_has_acl=True).restricted_data
    with pytest.raises(ConfigError, match="choose one of: daily, weekly, monthly, rarely"):
        Requirements.from_config(RequirementsConfig(update_frequency="hourly"), corpus_has_acl=False)


def test_a_tie_goes_to_the_arm_that_answers_changed_facts_with_their_new_values() -> None:
    from dataclasses import replace

    fresh_rag = replace(arm("rag", 0.30, 2.0, cites=0.95, refresh_s=12.0, method="re-index"), fresh_after=1.0)
    stale_ft = replace(arm("finetuned", 0.31, 1.0, refresh_s=900.0, method="retrain"), fresh_after=0.0)
    rec = recommend([BASE, stale_ft, fresh_rag], Requirements(update_frequency="weekly", min_accuracy=0.2))
    assert rec.arm == "rag" and rec.not_separated_from == ["finetuned"]  # 0/2 discordant: the paired test cannot separate them
    assert any("new values after its refresh (100% vs 0% for finetuned)" in r.text for r in rec.reasons)


def test_an_arm_whose_retrain_was_not_run_is_not_said_to_become_fresh() -> None:
    from dataclasses import replace

    stale_ft = replace(arm("finetuned", 0.22, 1.2, refresh_s=51.0, method="retrain"), refresh_performed=False, fresh_after=0.0)
    stale_base = replace(arm("base", 0.25, 1.0), fresh_after=0.0)
    rec = recommend([stale_ft, stale_base], Requirements(update_frequency="weekly", min_accuracy=0.2))
    assert rec.arm == "base"  # finetuned is no better than base, which alone meets the requirements
    rec = recommend([stale_ft], Requirements(update_frequency="weekly", min_accuracy=0.2))  # no base arm: rule 1 does not apply
    assert any("would need a retrain" in r.text and "not re-run" in r.text for r in rec.reasons)


def test_demo_case_recommends_nothing_and_names_rag_and_the_latency_lever() -> None:
    """The issue's demo: finetuned 25% vs base 12.5% on 16 probes (not separated), rag/hybrid 62.5% over a 5 s p95 budget."""
    from dataclasses import replace

    def demo_arm(name: str, right: int, p95: float) -> ArmEvidence:
        return replace(arm(name, right / 16, p95, half=0.2), correct=verdicts(right / 16, 16))

    evidence = [demo_arm("base", 2, 0.9), demo_arm("finetuned", 4, 1.1), demo_arm("rag", 10, 7.9), demo_arm("hybrid", 10, 8.4)]
    rec = recommend(evidence, Requirements(latency_budget_p95_s=5.0, update_frequency="rarely"), machine="Test CPU, 2 cores")
    assert rec.arm == "rag" and not rec.meets_requirements  # the closest, not a verdict
    assert rec.headline.startswith(
        "No arm meets the requirements. Closest: rag (p95 latency 7.90 s exceeds the budget of 5 s (measured on Test CPU"
    )
    assert "bf16 matrix units" in rec.levers[0] and "GPU" in rec.levers[0] and "smaller [retrieval] k" in rec.levers[0]
    assert "clearly better than the base model (62.5% vs 12.5%, p = 0.00781)" in rec.reasons[0].text
    assert [r.requirement for r in rec.ruled_out["finetuned"]] == ["vs_base", "accuracy"]
    assert (
        "not significantly better than base" in rec.ruled_out["finetuned"][0].text
        and "2/0 discordant, p = 0.5" in rec.ruled_out["finetuned"][0].text
    )
    assert [r.requirement for r in rec.ruled_out["hybrid"]] == ["latency"]


def test_closest_of_tied_arms_over_the_latency_budget_is_the_faster_one() -> None:
    """Session 7's demo: hybrid 11/16 (p95 12.2 s) and rag 10/16 (p95 8.5 s), not separated, both over 5 s: rag is nearer."""
    from dataclasses import replace

    def demo_arm(name: str, right: int, p95: float) -> ArmEvidence:
        return replace(arm(name, right / 16, p95, half=0.2), correct=verdicts(right / 16, 16))

    evidence = [demo_arm("base", 2, 3.3), demo_arm("finetuned", 2, 4.8), demo_arm("rag", 10, 8.49), demo_arm("hybrid", 11, 12.22)]
    rec = recommend(evidence, Requirements(latency_budget_p95_s=5.0, update_frequency="rarely"))
    assert rec.arm == "rag" and not rec.meets_requirements
    assert rec.headline.startswith("No arm meets the requirements. Closest: rag (p95 latency 8.49 s")
    assert any("rag and hybrid are tied on accuracy (62.5% vs 68.8%" in r.text and "8.49 s vs 12.22 s" in r.text for r in rec.reasons)
    # A separated accuracy gap still wins over latency: hybrid 16/16 against rag 8/16.
    evidence = [demo_arm("base", 2, 3.3), demo_arm("rag", 8, 8.49), demo_arm("hybrid", 16, 12.22)]
    assert recommend(evidence, Requirements(latency_budget_p95_s=5.0, update_frequency="rarely")).arm == "hybrid"


def test_base_is_named_only_when_it_alone_meets_the_requirements() -> None:
    base, similar = arm("base", 0.60, 0.8), arm("rag", 0.62, 2.0, cites=0.95)
    rec = recommend([base, similar], Requirements(update_frequency="rarely"))
    assert rec.arm == "base" and rec.meets_requirements  # rag: 4/0 discordant, p = 0.125, so not better than the floor
    assert "general knowledge" in rec.reasons[0].text and "rag" in rec.ruled_out
    better = arm("rag", 0.70, 2.0, cites=0.95)
    rec = recommend([base, better], Requirements(update_frequency="rarely"))
    assert rec.arm == "rag" and "base" not in rec.ruled_out  # base meets the requirements too, but is the floor, not a candidate
    rec = recommend([arm("base", 0.59, 0.8), arm("rag", 0.60, 2.0)], Requirements(update_frequency="rarely", min_accuracy=0.6))
    assert rec.arm == "rag" and rec.headline.startswith("No arm meets the requirements")  # base under min_accuracy: never shipped
    assert "No arm is significantly more accurate than the base model" in rec.reasons[0].text


def test_separation_comes_from_the_paired_test_not_from_overlapping_intervals() -> None:
    from dataclasses import replace

    # Overlapping marginal intervals, but every discordant probe favours hybrid (0/10): separated, no tie.
    rag, hybrid = arm("rag", 0.70, 2.0, cites=0.9), arm("hybrid", 0.75, 2.0, cites=0.9)
    assert rag.accuracy.overlaps(hybrid.accuracy)
    rec = recommend([BASE, rag, hybrid], Requirements(update_frequency="rarely"))
    assert rec.arm == "hybrid" and not rec.not_separated_from
    # Disjoint marginal intervals, but the arms disagree both ways (20 vs 24 discordant probes): not separated.
    rag = replace(arm("rag", 0.70, 2.0, half=0.005), correct={f"q{i}": i < 140 for i in range(200)})
    hybrid = replace(arm("hybrid", 0.72, 3.0, half=0.005), correct={f"q{i}": 20 <= i < 164 for i in range(200)})
    assert not rag.accuracy.overlaps(hybrid.accuracy)
    rec = recommend([BASE, rag, hybrid], Requirements(update_frequency="rarely"))
    assert rec.arm == "hybrid" and rec.not_separated_from == ["rag"]
    assert "The paired test does not separate hybrid from rag" in rec.reasons[1].text and "24/20 discordant" in rec.reasons[1].text


def test_mostly_generation_misses_with_the_gold_passage_in_the_prompt_point_at_a_larger_model() -> None:
    from dataclasses import replace

    base = replace(arm("base", 0.03, 0.5), correct=verdicts(0.03, 100))
    rag = replace(arm("rag", 0.08, 2.0), correct=verdicts(0.08, 100), failures={"generation_miss": 84, "retrieval_miss": 8})
    rec = recommend([base, rag], Requirements(update_frequency="rarely"))
    assert not rec.meets_requirements and rec.arm == "rag"
    assert "84 of rag's 92 wrong answers are generation misses with the gold passage in the prompt" in rec.headline
    assert "a larger model" in rec.headline
    multi = replace(rag, failures={"generation_miss": 60, "retrieval_miss": 32}, failures_by_kind={"multi_doc": {"generation_miss": 50}})
    assert "multi-step retrieval" in recommend([base, multi], Requirements(update_frequency="rarely")).levers[0]


def test_min_accuracy_is_a_setting_carried_into_the_requirements() -> None:
    assert Requirements.from_config(RequirementsConfig(min_accuracy=0.7), corpus_has_acl=False).min_accuracy == 0.7
    assert Requirements.from_config(RequirementsConfig(), corpus_has_acl=False).min_accuracy == 0.5
