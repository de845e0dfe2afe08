"""Paired comparisons by hand: exact McNemar p-values, Newcombe's paired interval, the minimum detectable effect."""

from __future__ import annotations

import math

import pytest

from ragft.evaluate.paired import (
    compare_pair,
    find_pair,
    mcnemar_exact_p,
    mde_sentence,
    minimum_detectable_effect,
    newcombe_paired_interval,
    paired_table,
)


def test_all_concordant_pairs_carry_no_evidence() -> None:
    pc = compare_pair("a", {f"q{i}": i < 5 for i in range(16)}, "b", {f"q{i}": i < 5 for i in range(16)})
    assert (pc.only_a, pc.only_b, pc.diff, pc.p_value) == (0, 0, 0.0, 1.0) and not pc.separated
    assert pc.low < 0 < pc.high and pc.low == pytest.approx(-pc.high)  # no discordance is not certainty of equality
    assert pc.mde >= 6 / 16  # the exact test needs 6 one-way discordant probes before it can say anything


@pytest.mark.parametrize(
    ("b", "c", "p"),
    [
        (0, 0, 1.0),
        (0, 1, 1.0),
        (1, 1, 1.0),  # tiny n: 2 * P(X <= 0 | n=1) = 1
        (0, 5, 2 / 32),  # 0.0625: five one-way discordant probes are not enough
        (0, 6, 2 / 64),  # 0.03125: six are
        (1, 7, 2 * 9 / 256),  # Bentur et al. 2009 via Fagerland et al. 2013 (BMC Med Res Methodol 13:91): exact p = 0.070
        (2, 8, 2 * 56 / 1024),
    ],
)
def test_exact_mcnemar_by_hand(b: int, c: int, p: float) -> None:
    assert mcnemar_exact_p(b, c) == pytest.approx(p) and mcnemar_exact_p(c, b) == pytest.approx(p)


def test_exact_mcnemar_agrees_with_scipys_binomial_test() -> None:
    from scipy.stats import binomtest

    for b in range(0, 30, 3):
        for c in range(0, 30, 4):
            if b + c:
                assert mcnemar_exact_p(b, c) == pytest.approx(binomtest(b, b + c, 0.5).pvalue, rel=1e-9)


def test_negative_counts_are_refused() -> None:
    with pytest.raises(ValueError, match="discordant counts"):
        mcnemar_exact_p(-1, 2)


def test_newcombe_interval_matches_the_published_example() -> None:
    # Newcombe (1998), Stat Med 17:2635, example (a): 36 / 12 / 2 / 0, method 10 gives 0.0569 to 0.3404.
    low, high = newcombe_paired_interval(36, 12, 2, 0)
    assert (round(low, 4), round(high, 4)) == (0.0569, 0.3404)
    assert newcombe_paired_interval(0, 0, 0, 0) == (0.0, 0.0)


def test_mde_matches_the_anchor_at_1000_probes_and_shrinks_with_n() -> None:
    assert minimum_detectable_effect(1000, 0.5) == pytest.approx(0.063, abs=0.001)  # 6.3 points, as the anchor reports
    mdes = [minimum_detectable_effect(n, 0.3) for n in (16, 50, 100, 400, 1600)]
    assert mdes == sorted(mdes, reverse=True) and mdes[-1] < 0.05
    assert minimum_detectable_effect(2, 0.0) == 1.0 and minimum_detectable_effect(0, 0.5) == 1.0


def test_the_pair_uses_the_probes_both_answered_and_find_pair_reorients() -> None:
    a = {"q1": True, "q2": True, "q3": False, "q4": False}
    b = {"q1": True, "q2": False, "q3": True, "q5": True}  # q4 and q5 were not answered by both: left out
    pc = compare_pair("a", a, "b", b)
    assert (pc.n, pc.only_a, pc.only_b, pc.diff) == (3, 1, 1, 0.0)
    table = paired_table({"a": a, "b": b})
    flipped = find_pair(table, "b", "a")
    assert flipped is not None and (flipped.a, flipped.only_a, flipped.accuracy_a) == ("b", 1, pc.accuracy_b)
    assert find_pair(table, "a", "c") is None


def test_the_demo_numbers() -> None:
    base = {f"q{i}": i < 2 for i in range(16)}
    rag = {f"q{i}": i < 10 for i in range(16)}
    ft = {f"q{i}": i < 4 for i in range(16)}
    table = paired_table({"base": base, "finetuned": ft, "rag": rag})
    ft_base = find_pair(table, "finetuned", "base")
    rag_base = find_pair(table, "rag", "base")
    assert ft_base is not None and rag_base is not None
    assert (ft_base.only_a, ft_base.only_b, ft_base.p_value, ft_base.separated) == (2, 0, 0.5, False)
    assert (rag_base.only_a, rag_base.p_value, rag_base.better("rag")) == (8, 2 / 256, True)
    assert math.isclose(rag_base.diff, 0.5) and rag_base.low > 0
    assert "With 16 probes, a difference smaller than" in mde_sentence(table)
