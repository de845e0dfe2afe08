"""The lexical grounding check: invented figures and off-document answers are caught, quoted ones pass."""

from __future__ import annotations

from ragft.systems.grounding import check_grounding

PASSAGES = ["The Frostwick F3 logger costs €329 per unit.", "Orrivale was founded in 2017 in Tampere."]


def test_an_answer_quoting_the_passages_is_grounded() -> None:
    assert check_grounding("The Frostwick F3 costs €329 [1].", PASSAGES).ok
    assert check_grounding("Orrivale was founded in 2017.", PASSAGES).ok


def test_an_invented_model_code_is_not_grounded() -> None:
    result = check_grounding("The Frostwick F9 logger costs €329 [2].", PASSAGES)
    assert not result.ok and "f9" in result.unsupported


def test_an_answer_mostly_made_of_words_in_no_passage_is_not_grounded() -> None:
    result = check_grounding("Orrivale stock ticker symbol is listed on Nasdaq.", PASSAGES)
    assert not result.ok and result.supported_share < 0.5


def test_thousands_separators_do_not_matter() -> None:
    assert check_grounding("It costs 1249 EUR.", ["Price: 1,249 EUR per year."]).ok


def test_an_invented_figure_is_not_grounded() -> None:
    assert not check_grounding("Revenue was €1,000,000 in 2017.", PASSAGES).ok
