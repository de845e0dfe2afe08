"""String metrics on hand-computed cases."""

from __future__ import annotations

import pytest

from ragft.evaluate.metrics import (
    contains_answer,
    exact_match,
    token_f1,
)
from ragft.text import normalize_answer


def test_normalisation_drops_case_punctuation_articles_and_thousands_commas() -> None:
    assert normalize_answer("The  Price is $1,249!") == "price is 1249"
    assert normalize_answer("€64,000 “quoted” 10:00–15:00") == "64000 quoted 10001500"


def test_exact_match_takes_the_best_gold() -> None:
    assert exact_match("14 days", ["two weeks", "14 days."]) == 1.0
    assert exact_match("14 days please", ["14 days"]) == 0.0


def test_token_f1_by_hand() -> None:
    # prediction tokens: refunds take 14 days (4); gold: 14 days (2); common 2 -> P=.5 R=1 F1=2/3
    assert token_f1("Refunds take 14 days", ["14 days"]) == pytest.approx(2 / 3)
    assert token_f1("nothing shared", ["14 days"]) == 0.0


def test_containment_needs_whole_words() -> None:
    assert contains_answer("It costs $1,249 per unit [2].", ["1249"]) == 1.0
    assert contains_answer("It costs $11249.", ["1249"]) == 0.0
    assert contains_answer("anything", []) == 0.0
