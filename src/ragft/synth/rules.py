"""Deterministic fact extraction: no model, same output every run.

A fact is a sentence holding a concrete value (a number with its unit, a time, an amount of
money, a year, a proper name), decontextualized so it can be learned on its own: a leading
pronoun ("It", "They", "This policy") is replaced by what it stands for (the subject named in an
earlier sentence of the chunk, else the document's title), and a sentence that names neither its
subject nor the document is prefixed with the title. Every such sentence of a chunk is a fact.

Each fact is asked in both directions (the "reversal curse": a fact learned one way round often
does not come back the other way round), by `rule_questions`: forward, entity -> attribute ("In
what year was Orrivale founded?") and reverse, attribute -> entity ("What was founded in 2017?"),
never echoing the sentence (a value that modifies a noun, "the 1973 oil crisis", is never asked
for). The answer to learn leads with the value, then the decontextualized sentence that supports
it (`training_set.answer_text`), so it is supported by the chunk by construction.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from ragft.synth.rule_questions import forward_questions, reverse_questions
from ragft.types import Chunk

_SENTENCE = re.compile(r"(?:[^.!?\n]|[.!?](?=\d))+(?:[.!?]|$)", re.MULTILINE)
_FIELD_LINE = re.compile(r"^[A-Za-z_][\w ()/-]{0,30}:\s")  # "title: ...", "Owner: ...": labels, not statements
_PROSE_WORD = re.compile(r"\b[a-z]{3,}\b")
_MONTH_BEFORE = re.compile(r"(?:January|February|March|April|May|June|July|August|September|October|November|December)\s*$")
_CITATION = re.compile(r"\s*\[(?:\d+|[a-z][a-z ]*needed|citation[^\]]*|note \d+)\]")  # "[page needed]", "[12]": wiki markup
_MARKUP = re.compile(r"\*\*|__|`|^\s*(?:[-*+]|\d+\.)\s+|^#+\s*|\|")

_STOP = r"(?!(?:is|are|was|were|and|or|to|of|in|on|at|the|a|an|for|by|with|per|from|when|after|before|that|which|who|as|than|if)\b)"
_UNIT = _STOP + r"[A-Za-z][A-Za-z'’-]*(?:\s+(?:days?|hours?|weeks?|months?|years?))?"
_VALUE_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("money", re.compile(r"(?:(?:EUR|USD|€|\$|£)\s?\d[\d,. ]*\d|\d[\d,.]*\s?(?:EUR|USD|€|k€|M€|euros?))\b")),
    ("percent", re.compile(r"\b\d+(?:[.,]\d+)?\s?(?:%|percent)")),
    ("time", re.compile(r"\b\d{1,2}:\d{2}(?:\s?[–-]\s?\d{1,2}:\d{2})?")),
    ("year", re.compile(r"\b(?:19|20)\d{2}\b(?![-–/.:]\d)")),
    ("quantity", re.compile(rf"(?<![\w-])\d+(?:[.,]\d+)?\s+{_UNIT}")),
    ("name", re.compile(r"\b[A-Z][A-Za-z0-9-]+(?:\s+(?:[A-Z][A-Za-z0-9-]+|\d+))*")),
)


@dataclass(frozen=True)
class RuleFact:
    """A sentence span in a chunk, its key value and the questions asking for it, both ways round."""

    start: int  # offsets into the chunk text
    end: int
    statement: str  # the sentence, decontextualized
    answer: str
    questions: tuple[str, ...]  # forward: the value asked for
    reverse: tuple[str, ...] = ()  # reverse: the value given, what it belongs to asked for
    reverse_answer: str = ""  # what the reverse questions ask for (the sentence's subject)


_AUX = re.compile(r"\b(?:is|are|was|were|has|have|had|can|could|will|would|must|should|may|might|shall)\b")
_DETERMINER_END = re.compile(r"\b(?:the|a|an|its|their|our|his|her)\s*$", re.I)
_PRONOUN = re.compile(r"^(it|they|he|she|we|its|their|this|that|these|those)\b\s*", re.IGNORECASE)
_LEADING_NAME = re.compile(r"^(?:The\s+)?((?!(?:The|A|An|In|On|At|For|By|Every|Each|All)\b)[A-Z][\w-]*(?:\s+(?:[A-Z][\w-]*|\d+))*)")
_CAPITALISED = re.compile(r"(?<=[a-z,;] )[A-Z][\w-]+")
_LOWER_WORD = re.compile(r"\b[a-z][\w-]+")


def extract_facts(chunk: Chunk, *, limit: int = 0, paraphrases: int, prefer: Sequence[str] = ()) -> list[RuleFact]:
    """The facts of `chunk` (at most `limit`; 0 = every one), each with up to `paraphrases` questions per direction.

    Statements containing one of the `prefer` strings (answers someone will ask for) come first,
    then concrete values, then names; within a rank, in document order.
    """
    found: list[tuple[int, RuleFact]] = []
    seen_answers: set[str] = set()
    proper = set(_CAPITALISED.findall(chunk.text))
    lowered = set(_LOWER_WORD.findall(chunk.text))
    subject, title = "", readable_title(chunk.title)
    for start, end, raw in _sentences(chunk.text):
        sentence, subject = decontextualize(raw, title, subject, proper)
        value = _best_value(sentence)
        if value is None:
            continue
        kind, span = value
        answer = sentence[span[0] : span[1]].strip()
        if answer.lower() in seen_answers:
            continue
        seen_answers.add(answer.lower())
        forward = forward_questions(sentence, span, kind, title, lowered)[: max(paraphrases, 1)]
        reverse, subject_asked = reverse_questions(sentence, span, title)
        if not forward:
            continue  # every question the rules could write would echo the sentence, or it has no clause to ask about
        statement = named(sentence, title)
        priority = 0 if kind != "name" else 1  # concrete values first: they are what people ask for
        if any(p and p.lower() in sentence.lower() for p in prefer):
            priority = -1
        found.append((priority, RuleFact(start, end, statement, answer, forward, reverse[: max(paraphrases // 2, 1)], subject_asked)))
    found.sort(key=lambda item: item[0])
    return [fact for _, fact in (found[:limit] if limit > 0 else found)]


def candidate_count(chunk: Chunk) -> int:
    """How many facts the rules find in `chunk`: sentences holding a value that a non-echo question can ask for."""
    return len(extract_facts(chunk, paraphrases=1))


def readable_title(title: str) -> str:
    """`title` as prose names it: a Wikipedia-style slug ("Fresno,_California") with its underscores as spaces.

    Facts and rewrites name their document in every sentence; a slug there would teach the model a
    name that no question uses ("Fresno,_California: ..." for "What is Fresno's main district?").
    """
    return " ".join(title.replace("_", " ").split())


def framed_copies(questions: Sequence[str]) -> list[int]:
    """For each of `questions`, the index of the earlier one it only frames ("Regarding T: q", "T - q"), else its own.

    Such a copy has the same wording as its source: holding one out while training the other
    measures memorisation, not generalisation, so a held-out split keeps each wording together.
    """
    groups: list[int] = []
    for i, question in enumerate(questions):
        low = question.lower()
        groups.append(next((j for j in range(i) if groups[j] == j and low.endswith(questions[j].lower())), i))
    return groups


def decontextualize(sentence: str, title: str, subject: str = "", proper: set[str] | None = None) -> tuple[str, str]:
    """(`sentence` with a leading pronoun resolved, the subject to resolve the next one to).

    A pronoun stands for the last named subject (`subject`), else the document (`title`).
    "This policy applies ..." keeps its noun: "The policy applies ...". The returned subject is
    this sentence's leading proper name if it has one, else the one passed in.
    """
    proper = proper or set()
    referent = subject or title
    match = _PRONOUN.match(sentence)
    if match and referent:
        word, rest = match.group(1).lower(), sentence[match.end() :]
        next_word = rest.split(" ", 1)[0] if rest else ""
        if word in ("this", "that", "these", "those") and next_word and next_word[0].islower() and not _AUX.fullmatch(next_word):
            sentence = "The " + rest  # a determiner: keep its noun
        elif word in ("its", "their"):
            sentence = f"{referent}'s {rest}"
        else:
            sentence = f"{referent} {rest}"
    lead = _LEADING_NAME.match(sentence)
    if lead and (lead.group(1).split()[0] in proper or " " in lead.group(1)):
        subject = lead.group(1)
    return sentence, subject


def named(sentence: str, title: str) -> str:
    """`sentence`, prefixed with the document's `title` when it names neither the title nor its words."""
    if not title or _content(title) & _content(sentence):
        return sentence
    return f"{title}: {sentence}"


def _content(text: str) -> set[str]:
    return {w.lower() for w in re.findall(r"[A-Za-z0-9][\w-]{2,}", text)} - {"the", "and", "for", "with"}


def _sentences(text: str) -> Iterator[tuple[int, int, str]]:
    for match in _SENTENCE.finditer(text):
        raw = match.group()
        cleaned = " ".join(_MARKUP.sub("", line) for line in raw.splitlines()).strip()
        cleaned = _CITATION.sub("", cleaned).strip()
        cleaned = re.sub(r"\s+", " ", cleaned)
        words = cleaned.split()
        if len(_PROSE_WORD.findall(cleaned)) < 4 or cleaned.isupper():
            continue
        if not 5 <= len(words) <= 40 or _FIELD_LINE.match(cleaned) or cleaned.endswith("?"):
            continue
        if not cleaned.endswith((".", "!")):
            cleaned += "."
        yield match.start(), match.end(), cleaned


def _best_value(sentence: str) -> tuple[str, tuple[int, int]] | None:
    for kind, pattern in _VALUE_PATTERNS:
        for match in pattern.finditer(sentence):
            if kind in ("year", "quantity") and _MONTH_BEFORE.search(sentence[: match.start()]):
                continue  # part of a date: the year alone is a poor question
            if kind == "name" and (match.start() < 3 or sentence[match.start() - 2] in ".:"):
                continue
            if _modifies_a_noun(sentence, match.start(), match.end()):
                continue  # "the 1973 oil crisis": asking "the what year oil crisis" is no question
            return kind, (match.start(), match.end())
    return None


def _modifies_a_noun(sentence: str, start: int, end: int) -> bool:
    after = sentence[end:].lstrip()
    if not _DETERMINER_END.search(sentence[:start]) or not after:
        return False
    return after.startswith(("'s", "’s")) or (after[0].islower() and not _AUX.match(after))  # "the Lamplighter's phone"


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
        asked = forward_questions(statement, (match.start(), match.end()), "name", title)
        if asked:
            return asked[0], match.group()
    return None
