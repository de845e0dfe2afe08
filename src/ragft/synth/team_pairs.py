"""A team's own question/answer pairs (`ragft train --pairs FILE`), mixed into the training data.

Support tickets, an FAQ or an existing training set often hold the questions users really ask.
They come in the shared question shape (`synth.question_file`: one JSON object a line, `qid`,
`question`, `answers`, optional `answerable`), so errors name file:line. A pair whose question is
a probe's, or a near-copy of one (word trigrams shared), is dropped and counted: training on the
questions the comparison asks would measure memorised probes, not knowledge.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

from ragft.prompts import REFUSAL
from ragft.synth.question_file import load_questions
from ragft.synth.types import TrainPair
from ragft.types import QAItem

NEAR_COPY_OVERLAP = 0.6  # share of the shorter question's word trigrams found in the other


def load_team_pairs(path: Path, probe_questions: Iterable[str] = ()) -> tuple[list[TrainPair], Counter[str]]:
    """(pairs of kind "team", dropped reason -> count) from `path`; unanswerable items teach the refusal.

    Raises QuestionFileError (naming file:line) for a malformed line.
    """
    probes = [(_normal(q), _trigrams(q)) for q in probe_questions]
    dropped: Counter[str] = Counter()
    pairs: list[TrainPair] = []
    seen: set[str] = set()
    for item in load_questions(path):
        normal = _normal(item.question)
        if normal in seen:
            dropped["duplicate"] += 1
            continue
        seen.add(normal)
        if any(normal == p or near_copy(_trigrams(item.question), grams) for p, grams in probes):
            dropped["probe_near_copy"] += 1
            continue
        answer = item.answers[0] if item.answerable else REFUSAL
        pairs.append(TrainPair(item.question, answer, "team", "train", doc_id=",".join(item.gold_doc_ids)))
    return pairs, dropped


def near_copy(a: set[tuple[str, ...]], b: set[tuple[str, ...]]) -> bool:
    """Do two questions' word-trigram sets overlap by NEAR_COPY_OVERLAP of the smaller one?"""
    if not a or not b:
        return False
    return len(a & b) >= NEAR_COPY_OVERLAP * min(len(a), len(b))


def _normal(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


def _trigrams(text: str) -> set[tuple[str, ...]]:
    words = _normal(text).split()
    return {tuple(words[i : i + 3]) for i in range(len(words) - 2)}


def questions_of(items: Sequence[QAItem]) -> list[str]:
    """The `question` of each item (QAItem-like), for `load_team_pairs(probe_questions=...)`."""
    return [item.question for item in items]
