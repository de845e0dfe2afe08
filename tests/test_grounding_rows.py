"""How often does grounding accept a figure taken from the wrong row of a table? (issue 16: the E3 midpoint
answered with the E2 minimum passed.) Measured on the sample corpus's salary-band table, every band × column."""

from __future__ import annotations

import re

from ragft.sample import sample_dir
from ragft.systems.grounding import check_grounding, misplaced_figures

SALARY = (sample_dir(1) / "hr" / "salary-bands-2026.md").read_text(encoding="utf-8")
COLUMNS = ("minimum", "midpoint", "maximum")


def _table() -> dict[str, dict[str, str]]:
    rows = {}
    for line in SALARY.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 5 and re.fullmatch(r"[EL]\d", cells[0]):
            rows[cells[0]] = dict(zip(COLUMNS, cells[2:]))
    return rows


def _cases() -> tuple[list[tuple[str, str, str]], list[tuple[str, str, str]], list[tuple[str, str, str]]]:
    """(question, answer, kind) for right answers, wrong-row answers (same column) and wrong-column answers (same row)."""
    table = _table()
    right, wrong_row, wrong_column = [], [], []
    for band, cells in table.items():
        for column in COLUMNS:
            question = f"What is the {column} annual base salary of band {band} in Tampere?"
            right.append((question, f"It is {cells[column]} [1].", "right"))
            wrong_row += [
                (question, f"It is {other[column]} [1].", "row")
                for b, other in table.items()
                if b != band and other[column] != cells[column]
            ]
            wrong_column += [(question, f"It is {cells[c]} [1].", "column") for c in COLUMNS if c != column]
    return right, wrong_row, wrong_column


def _accepted(cases, *, tight: bool) -> int:
    return sum(check_grounding(a, [SALARY]).ok and not (tight and misplaced_figures(a, q, [SALARY])) for q, a, _ in cases)


def test_the_lexical_check_accepts_every_figure_from_a_wrong_row() -> None:
    """The hole, measured: grounding only asks that the figure appear somewhere in the passages."""
    right, wrong_row, wrong_column = _cases()
    assert len(_table()) == 8 and len(right) == 24 and len(wrong_row) >= 160
    assert _accepted(right, tight=False) == len(right)
    assert _accepted(wrong_row, tight=False) == len(wrong_row)
    assert _accepted(wrong_column, tight=False) == len(wrong_column)


def test_the_row_check_rejects_wrong_rows_and_keeps_right_answers() -> None:
    right, wrong_row, wrong_column = _cases()
    assert _accepted(right, tight=True) == len(right)
    assert _accepted(wrong_row, tight=True) == 0
    assert _accepted(wrong_column, tight=True) == len(wrong_column), "a known gap: the row does not name its column"


def test_the_issues_example() -> None:
    question = "What is the midpoint annual base salary of band E3 in Tampere?"
    assert misplaced_figures("The E3 midpoint is €51,000.", question, [SALARY]) == ("51000",)
    assert misplaced_figures("The E3 midpoint is €73,500.", question, [SALARY]) == ()


def test_a_figure_in_a_sentence_about_something_else_is_misplaced() -> None:
    passage = "Hotels in Porto are capped at €120 per night. Rotterdam hotels are capped at €160 per night."
    assert misplaced_figures("€160 per night.", "What is the hotel cap in Porto?", [passage]) == ("160",)
    assert misplaced_figures("€120 per night.", "What is the hotel cap in Porto?", [passage]) == ()
