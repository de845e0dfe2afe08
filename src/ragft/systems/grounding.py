"""Is an answer supported by the passages it was given? A cheap lexical check, no second model call.

Small models asked about something the documents do not cover tend to invent an answer in the
documents' style ("The Frostwick F9 costs €329" when only the F3 is listed). Such answers carry
words or figures that appear in no passage. An answer is grounded when every token with a digit
in it (prices, dates, model codes) appears in the passages, and at least half of its content
words do. The RAG system turns an ungrounded answer into a refusal and keeps the original in
the trace, so the check can be audited and switched off (`[retrieval] refuse_ungrounded`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

_CITATION = re.compile(r"\[\d{1,2}\]")
_TOKEN = re.compile(r"\w+(?:[.,:/-]\w+)*")
_STOPWORDS = frozenset(
    """the and for are was were is be been with that this from into per its it's their there they them
    than then has have had not but can may will would should could our your you his her she him who whom
    what which when where why how all any each every one two also only more most less very just about
    over under after before between within without does did done being while such same other some""".split()
)
MIN_SUPPORTED_SHARE = 0.5


@dataclass(frozen=True)
class Grounding:
    """How much of an answer the passages support."""

    supported_share: float
    unsupported: tuple[str, ...]

    @property
    def ok(self) -> bool:
        has_unsupported_figure = any(any(ch.isdigit() for ch in token) for token in self.unsupported)
        return not has_unsupported_figure and self.supported_share >= MIN_SUPPORTED_SHARE


def _tokens(text: str) -> list[str]:
    """Lower-cased tokens; figures lose thousands separators so "1,249" matches "1249"."""
    tokens = []
    for token in _TOKEN.findall(_CITATION.sub(" ", text.lower())):
        if any(ch.isdigit() for ch in token):
            tokens.append(token.replace(",", "").rstrip("."))
        else:
            tokens.extend(part for part in re.split(r"[.,:/-]", token) if part)
    return tokens


def check_grounding(answer: str, passages: Sequence[str]) -> Grounding:
    """The share of the answer's content words found in `passages`, and the tokens that were not."""
    source = set(_tokens(" ".join(passages)))
    content = [t for t in _tokens(answer) if (len(t) > 2 or any(ch.isdigit() for ch in t)) and t not in _STOPWORDS]
    if not content:
        return Grounding(1.0, ())
    unsupported = tuple(dict.fromkeys(t for t in content if t not in source))
    share = sum(t in source for t in content) / len(content)
    return Grounding(round(share, 3), unsupported)


_QUESTION_WORDS = frozenset("what which who whom whose when where why how much many long often soon does did is are was".split())
_TABLE_LINE = re.compile(r"^\s*\|")
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9€$£\"'(])")


def _units(passage: str) -> list[str]:
    """A passage cut into table rows and sentences: the smallest spans a figure's meaning depends on."""
    units: list[str] = []
    for line in passage.splitlines():
        units.extend([line] if _TABLE_LINE.match(line) else _SENTENCE.split(line))
    return [u for u in units if u.strip()]


def misplaced_figures(answer: str, question: str, passages: Sequence[str]) -> tuple[str, ...]:
    """Figures of `answer` found in the passages only in rows or sentences sharing no key term with `question`.

    `check_grounding` accepts a figure found anywhere in the passages, so asked for band E3's
    midpoint, "€51,000" (band E2's minimum, another row of the same table) passes (issue 16).
    Here a figure must sit in a table row or sentence that also holds one of the question's
    content words ("E3"). A figure from the right row but the wrong column still passes: the row
    does not repeat the column's name. Measured in tests/test_grounding_rows.py (166 of 166
    wrong-row figures caught on the salary table). Not applied by `RagSystem`: replayed on real
    RAG answers (benchmarks/bench_grounding_rows.py) it withheld 1 of 36 right answers on the
    sample corpus's fact, paraphrase, typo and unanticipated probes and 2 of 22 on SQuAD 2.0 dev
    ("How tall is the Bank of America Tower?": the sentence says "It has a height of 617 ft"), and caught
    no wrong answer in either; wrong-row answers are rarer there than the rows it loses.
    """
    keys = {t for t in _tokens(question) if (len(t) > 2 or any(ch.isdigit() for ch in t))} - _STOPWORDS - _QUESTION_WORDS
    units = [set(_tokens(unit)) for passage in passages for unit in _units(passage)]
    misplaced = []
    for figure in dict.fromkeys(t for t in _tokens(answer) if any(ch.isdigit() for ch in t)):
        holding = [unit for unit in units if figure in unit]
        if holding and not any((unit - {figure}) & keys for unit in holding):
            misplaced.append(figure)
    return tuple(misplaced)
