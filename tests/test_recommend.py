"""The recommendation rules on hand-built measurements: expected arm, and reasons that cite their numbers."""

from __future__ import annotations

import pytest

from ragft.config import ConfigError, RequirementsConfig
from ragft.evaluate.stats import Interval
from ragft.report.recommend import ArmEvidence, Requirements, recommend


def iv(value: float, half: float = 0.03, n: int = 200) -> Interval:
    return Interval(value, value - half, value + half, n)


def arm(name: str, acc: float, p95: float, *, half: float = 0.03, cites: float = 0.0, leak: float | None = None,
        refresh_s: float | None = None, method: str | None = None) -> ArmEvidence:
    return ArmEvidence(name, iv(acc, half), iv(p95, 0.1), iv(cites), iv(leak) if leak is not None else None, refresh_s, method)


BASE = arm("base", 0.10, 0.8)
RAG = arm("rag", 0.70, 2.0, cites=0.95, leak=0.0, refresh_s=12.0, method="re-index")
FT = arm("finetuned", 0.45, 0.9, leak=0.25, refresh_s=900.0, method="retrain")
HYBRID = arm("hybrid", 0.72, 2.2, cites=0.9, leak=0.25, refresh_s=912.0, method="retrain")


def test_the_clearly_most_accurate_arm_wins_and_says_by_how_much() -> None:
    rec = recommend([BASE, RAG, FT], Requirements(latency_budget_p95_s=5.0, update_frequency="rarely"))
    assert rec.arm == "rag" and rec.meets_requirements and not rec.not_separated_from
    assert "70.0%" in rec.reasons[0].text and rec.reasons[0].anchor == "m-rag-accuracy"
    assert any(r.anchor == "m-rag-latency_p95_s" for r in rec.reasons)


def test_an_arm_over_the_latency_budget_is_ruled_out_with_its_p95() -> None:
    rec = recommend([BASE, RAG, FT], Requirements(latency_budget_p95_s=1.0, update_frequency="rarely"))
    assert rec.arm == "finetuned"
    assert "rag" in rec.ruled_out and "2.00 s exceeds the budget of 1 s" in rec.ruled_out["rag"][0].text


def test_a_clearly_better_arm_ruled_out_by_latency_is_named_as_the_trade_off() -> None:
    rec = recommend([BASE, RAG], Requirements(latency_budget_p95_s=1.0, update_frequency="rarely"))
    assert rec.arm == "base"
    (trade_off,) = [r for r in rec.reasons if r.text.startswith("Trade-off")]
    assert "rag answers more questions correctly (70.0%" in trade_off.text
    assert "p95 latency 2.00 s exceeds the budget of 1 s" in trade_off.text
    assert trade_off.anchor == "m-rag-accuracy"


def test_no_trade_off_is_claimed_when_the_ruled_out_arm_is_not_clearly_better() -> None:
    slow_and_similar = arm("rag", 0.12, 2.0, cites=0.95)
    rec = recommend([BASE, slow_and_similar], Requirements(latency_budget_p95_s=1.0, update_frequency="rarely"))
    assert rec.arm == "base" and "rag" in rec.ruled_out
    assert not [r for r in rec.reasons if r.text.startswith("Trade-off")]


def test_restricted_data_rules_out_arms_that_leak() -> None:
    rec = recommend([BASE, RAG, FT, HYBRID], Requirements(restricted_data=True, update_frequency="rarely"))
    assert rec.arm == "rag"
    assert set(rec.ruled_out) == {"finetuned", "hybrid"}
    assert rec.ruled_out["hybrid"][0].anchor == "m-hybrid-leak_rate"


def test_citations_required_rules_out_closed_book_arms() -> None:
    rec = recommend([BASE, FT], Requirements(citations_required=True))
    assert not rec.meets_requirements and rec.headline.startswith("No arm meets every requirement")
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
    stale_base = replace(arm("base", 0.25, 1.0), fresh_after=0.0)
    rec = recommend([stale_base, fresh_rag], Requirements(update_frequency="weekly"))
    assert rec.arm == "rag" and rec.not_separated_from == ["base"]
    assert any("new values after its refresh (100% vs 0% for base)" in r.text for r in rec.reasons)


def test_an_arm_whose_retrain_was_not_run_is_not_said_to_become_fresh() -> None:
    from dataclasses import replace

    stale_ft = replace(arm("finetuned", 0.22, 1.2, refresh_s=51.0, method="retrain"), refresh_performed=False, fresh_after=0.0)
    stale_base = replace(arm("base", 0.25, 1.0), fresh_after=0.0)
    rec = recommend([stale_ft, stale_base], Requirements(update_frequency="weekly"))
    assert rec.arm == "base"  # neither learns the new facts; base is the more accurate point estimate
    rec = recommend([stale_ft], Requirements(update_frequency="weekly"))
    assert any("would need a retrain" in r.text and "not re-run" in r.text for r in rec.reasons)
