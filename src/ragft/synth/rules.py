"""Deterministic fact extraction: no model, same output every run.

A fact is a sentence holding a concrete value (a number with its unit, a time, an amount of
money, a year, a proper name). Its questions replace the value with a wh-phrase ("Orrivale was
founded in what year?") and vary the wording around it (paraphrases); the answer to learn is the
sentence itself, so it is supported by the chunk by construction.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from ragft.synth.doc_text import PRONOUN_START
from ragft.types import Chunk

_SENTENCE = re.compile(r"(?:[^.!?\n]|[.!?](?=\d))+(?:[.!?]|$)", re.MULTILINE)
_FIELD_LINE = re.compile(r"^[A-Za-z_][\w ()/-]{0,30}:\s")  # "title: ...", "Owner: ...": labels, not statements
_PROSE_WORD = re.compile(r"\b[a-z]{3,}\b")
_MONTH_BEFORE = re.compile(r"(?:January|February|March|April|May|June|July|August|September|October|November|December)\s*$")
_MARKUP = re.compile(r"\*\*|__|`|^\s*(?:[-*+]|\d+\.)\s+|^#+\s*|\|")

_STOP = r"(?!(?:is|are|was|were|and|or|to|of|in|on|at|the|a|an|for|by|with|per|from)\b)"
_UNIT = _STOP + r"[A-Za-z][A-Za-z'’-]*(?:\s+(?:days?|hours?|weeks?|months?|years?))?"
_VALUE_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("money", re.compile(r"(?:(?:EUR|USD|€|\$|£)\s?\d[\d,. ]*\d|\d[\d,.]*\s?(?:EUR|USD|€|k€|M€|euros?))\b")),
    ("percent", re.compile(r"\b\d+(?:[.,]\d+)?\s?(?:%|percent)")),
    ("time", re.compile(r"\b\d{1,2}:\d{2}(?:\s?[–-]\s?\d{1,2}:\d{2})?")),
    ("year", re.compile(r"\b(?:19|20)\d{2}\b(?![-–/.:]\d)")),
    ("quantity", re.compile(rf"(?<![\w-])\d+(?:[.,]\d+)?\s+{_UNIT}")),
    ("name", re.compile(r"\b[A-Z][A-Za-z0-9-]+(?:\s+(?:[A-Z][A-Za-z0-9-]+|\d+))*")),
)
_WH = {"money": "how much", "percent": "what percentage", "time": "what time", "year": "what year", "name": "what"}
_UNIT_WORDS_AFTER_NUMBER = re.compile(r"^\d+(?:[.,]\d+)?\s+(.*)$")


@dataclass(frozen=True)
class RuleFact:
    """A sentence span in a chunk, its key value and questions asking for it."""

    start: int  # offsets into the chunk text
    end: int
    statement: str
    answer: str
    questions: tuple[str, ...]


def extract_facts(chunk: Chunk, *, limit: int, paraphrases: int, prefer: Sequence[str] = ()) -> list[RuleFact]:
    """Up to `limit` facts from `chunk`, each with `paraphrases` questions (best candidates first).

    Statements containing one of the `prefer` strings (answers someone will ask for) come first.
    """
    found: list[tuple[int, RuleFact]] = []
    seen_answers: set[str] = set()
    for start, end, sentence in _sentences(chunk.text):
        value = _best_value(sentence)
        if value is None:
            continue
        kind, span = value
        answer = sentence[span[0] : span[1]].strip()
        if answer.lower() in seen_answers:
            continue
        seen_answers.add(answer.lower())
        questions = _questions(sentence, span, kind, chunk.title, paraphrases)
        priority = 0 if kind != "name" else 1  # concrete values first: they are what people ask for
        if any(p and p.lower() in sentence.lower() for p in prefer):
            priority = -1
        found.append((priority, RuleFact(start, end, sentence, answer, questions)))
    found.sort(key=lambda item: item[0])
    return [fact for _, fact in found[:limit]]


def candidate_count(chunk: Chunk) -> int:
    """How many sentences of `chunk` hold a value a question could ask for (to rank chunks)."""
    return sum(1 for _, _, sentence in _sentences(chunk.text) if _best_value(sentence) is not None)


def _sentences(text: str) -> Iterator[tuple[int, int, str]]:
    for match in _SENTENCE.finditer(text):
        raw = match.group()
        cleaned = " ".join(_MARKUP.sub("", line) for line in raw.splitlines()).strip()
        cleaned = re.sub(r"\s+", " ", cleaned)
        words = cleaned.split()
        if len(_PROSE_WORD.findall(cleaned)) < 4 or cleaned.isupper():
            continue
        if not 5 <= len(words) <= 40 or PRONOUN_START.match(cleaned) or _FIELD_LINE.match(cleaned) or cleaned.endswith("?"):
            continue
        if not cleaned.endswith((".", "!")):
            cleaned += "."
        yield match.start(), match.end(), cleaned


def _best_value(sentence: str) -> tuple[str, tuple[int, int]] | None:
    for kind, pattern in _VALUE_PATTERNS:
        for match in pattern.finditer(sentence):
            if kind == "year" and _MONTH_BEFORE.search(sentence[: match.start()]):
                continue  # part of a date: the year alone is a poor question
            if kind == "name" and (match.start() < 3 or sentence[match.start() - 2] in ".:"):
                continue
            return kind, (match.start(), match.end())
    return None


def _wh_phrase(kind: str, answer: str) -> str:
    if kind == "quantity":
        unit = _UNIT_WORDS_AFTER_NUMBER.match(answer)
        return f"how many {unit.group(1)}" if unit else "how many"
    return _WH[kind]


def _questions(sentence: str, span: tuple[int, int], kind: str, title: str, count: int) -> tuple[str, ...]:
    before, after = sentence[: span[0]].rstrip(), sentence[span[1] :].lstrip()
    body = after.rstrip(".!").strip()
    wh = _wh_phrase(kind, sentence[span[0] : span[1]])
    echo = f"{before} {wh} {body}".strip().rstrip(",;:") + "?"
    blank = f"{before} ___ {body}".strip() + "."
    echo = echo[0].upper() + echo[1:]
    about = f"the {title}" if title else "the documents"
    variants = [
        echo,
        f"According to {about}, {echo[0].lower() + echo[1:]}",
        f"Fill in the blank: {blank}",
        f"In {about}, what goes in the blank? \"{blank}\"",
        f"Do you know {wh} is meant here: {blank}",
        f"Quick question about {about}: {echo[0].lower() + echo[1:]}",
    ]
    unique = list(dict.fromkeys(" ".join(v.split()) for v in variants))
    return tuple(unique[: max(count, 1)])


def reversed_question(statement: str, answer: str, title: str = "") -> tuple[str, str] | None:
    """A question that gives `answer` and asks for another named thing in `statement`, with that thing as its answer.

    Training asks for the value given the subject; this asks the other way round, which is how
    a fact learned as one direction of a sentence often fails to come back (the "reversal curse").
    None when the statement names nothing besides the answer.
    """
    at = statement.find(answer)
    for match in _VALUE_PATTERNS[-1][1].finditer(statement):  # names
        overlaps = at >= 0 and match.start() < at + len(answer) and at < match.end()
        if overlaps or match.start() < 3 or statement[match.start() - 2] in ".:":
            continue
        return _questions(statement, (match.start(), match.end()), "name", title, 1)[0], match.group()
    return None
