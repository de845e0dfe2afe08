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

from ragft.synth.clause_facts import clause_facts, leading_value_questions
from ragft.synth.rule_questions import forward_questions, reverse_questions, wh_phrase
from ragft.types import Chunk

_SENTENCE = re.compile(r"(?:[^.!?\n]|[.!?](?=\d))+(?:[.!?]|$)", re.MULTILINE)
_FIELD_LINE = re.compile(r"^[A-Za-z_][\w ()/-]{0,30}:\s")  # "title: ...", "Owner: ...": labels, not statements
_PROSE_WORD = re.compile(r"\b[a-z]{3,}\b")
_MONTH_BEFORE = re.compile(r"(?:January|February|March|April|May|June|July|August|September|October|November|December)\s*$")
_CITATION = re.compile(r"\s*\[(?:\d+|[a-z]|[a-z][a-z ]*needed|citation[^\]]*|note \d+)\]")  # "[page needed]", "[12]", "[b]": wiki markup
_MARKUP = re.compile(r"\*\*|__|`|^\s*(?:[-*+]|\d+\.)\s+|^#+\s*|\|")

_STOP = r"(?!(?:is|are|was|were|and|or|to|of|in|on|at|the|a|an|for|by|with|per|from|when|after|before|that|which|who|as|than|if)\b)"
_UNIT = _STOP + r"[A-Za-z][A-Za-z'’-]*(?:\s+(?:days?|hours?|weeks?|months?|years?))?"
_HEAD_NOUN = _STOP + r"[a-z][a-z'’-]*"  # "12 research institutes": a unit that is not plural is an adjective of the next word
_MONTH = r"(?:January|February|March|April|May|June|July|August|September|October|November|December)"
_CAP = r"[A-ZÀ-ÖØ-Þ][\w–-]+"  # a capitalised word, accents included ("Gaißau", "Lucas–Lehmer")
_VALUE_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("money", re.compile(r"(?:(?:EUR|USD|€|\$|£)\s?\d[\d,. ]*\d|\d[\d,.]*\s?(?:EUR|USD|€|k€|M€|euros?))\b")),
    ("percent", re.compile(r"\b\d+(?:[.,]\d+)?\s?(?:%|percent)")),
    ("time", re.compile(r"\b\d{1,2}:\d{2}(?:\s?[–-]\s?\d{1,2}:\d{2})?")),
    ("date", re.compile(rf"\b(?:\d{{1,2}}\s+{_MONTH}|{_MONTH}(?:\s+\d{{1,2}},?)?)\s+\d{{4}}\b")),
    ("century", re.compile(r"\b\d{1,2}(?:st|nd|rd|th)\s+(?:century|centuries)\b")),
    ("decade", re.compile(r"\b(?:1[0-9]|20)\d0s\b")),
    ("year", re.compile(r"\b(?:1[0-9]|20)\d{2}\b(?![-–/.:]\d)(?:\s+(?:BC|AD|BCE|CE)\b)?")),
    ("quantity", re.compile(rf"(?<![\w-])\d+(?:[.,]\d+)?\s+(?:{_UNIT}(?<!s)\s+{_HEAD_NOUN}|{_UNIT})")),
    ("name", re.compile(rf"\b{_CAP}(?:\s+(?:(?:of|de|du|da|di|del|von|van|la|le)\s+)?(?:{_CAP}|\d+))*")),
)
_FUNCTION_WORDS = frozenset(
    "and or nor but of in on at to for from by with as than that which who whom whose where when while is are was were "
    "has have had be been being can could will would may might must shall should do does did not also into onto upon "
    "under over after before since until during against between among through".split()
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
_DETERMINERS = frozenset("the a an its their our his her this that these those".split())
_DETERMINER_END = re.compile(r"\b(?:the|a|an|its|their|our|his|her)\s*$", re.I)
_PRONOUN = re.compile(r"^(it|they|he|she|we|its|their|this|that|these|those)\b\s*", re.IGNORECASE)
_LEADING_NAME = re.compile(r"^(?:The\s+)?((?!(?:The|A|An|In|On|At|For|By|Every|Each|All)\b)[A-Z][\w-]*(?:\s+(?:[A-Z][\w-]*|\d+))*)")
_CAPITALISED = re.compile(r"(?<=[a-z,;] )[A-Z][\w-]+")
_LOWER_WORD = re.compile(r"\b[a-z][\w-]+")
MAX_FACTS_PER_SENTENCE = 3  # values asked about in one sentence (each its own fact); more are mostly names in asides


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
    asked = [p.lower() for p in prefer if p]
    for start, end, raw in _sentences(chunk.text):
        sentence, subject = decontextualize(raw, title, subject, proper)
        statement, kept = named(sentence, title), 0
        for rank, answer, forward, reverse, subject_asked in _candidates(sentence, title, lowered):
            if kept >= MAX_FACTS_PER_SENTENCE or answer.lower() in seen_answers:
                continue
            seen_answers.add(answer.lower())
            if any(p in answer.lower() or answer.lower() in p for p in asked):
                rank = -2  # the very value a focus question asks for
            elif any(p in sentence.lower() for p in asked):
                rank = min(rank, -1)
            fact = RuleFact(
                start, end, statement, answer, forward[: max(paraphrases, 1)], reverse[: max(paraphrases // 2, 1)], subject_asked
            )
            found.append((rank + kept, fact))  # a sentence's first fact before any sentence's second one
            kept += 1
    found.sort(key=lambda item: item[0])
    return [fact for _, fact in (found[:limit] if limit > 0 else found)]


def _candidates(sentence: str, title: str, lowered: set[str]) -> Iterator[tuple[int, str, tuple[str, ...], tuple[str, ...], str]]:
    """(rank, answer, forward questions, reverse questions, reverse answer) of each fact `sentence` states, best first:
    concrete values (rank 0), names (1), then what its clause says (2: the subject, a definition)."""
    subjects_asked, spans = set(), []
    for kind, span in _values(sentence):
        answer = sentence[span[0] : span[1]].strip()
        forward = forward_questions(sentence, span, kind, title, lowered)
        if not forward and kind != "name":
            forward = tuple(q for q in leading_value_questions(sentence, span, wh_phrase(kind, answer), lowered) if answer not in q)
        if forward:  # else every question the rules could write would echo the sentence, or it has no clause to ask about
            reverse, subject_asked = reverse_questions(sentence, span, title)
            subjects_asked.add(subject_asked.lower() if reverse else "")
            spans.append(span)
            yield (1 if kind == "name" else 0), answer, forward, reverse, subject_asked
    for fact in clause_facts(sentence, title, lowered):
        answer = sentence[fact.span[0] : fact.span[1]].strip()
        if fact.kind == "subject" and answer.lower() in subjects_asked:
            continue  # a value's reverse questions ask for it already
        if any(fact.span[0] < e and s < fact.span[1] for s, e in spans):
            continue  # "every 3 years" when "3 years" is a value: the same fact
        yield 2, answer, fact.questions, fact.reverse, fact.reverse_answer


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
    """The value a sentence is most likely asked about (the first of `_values`), None if it holds none."""
    return next(iter(_values(sentence)), None)


def _values(sentence: str) -> list[tuple[str, tuple[int, int]]]:
    """Every value in `sentence` a question could ask for, concrete values first, none overlapping another.

    A sentence often states several facts ("Oxygen was discovered by Scheele in 1773"): each value
    is a fact of its own, asked for by its own questions.
    """
    found: list[tuple[str, tuple[int, int]]] = []
    for kind, pattern in _VALUE_PATTERNS:
        for match in pattern.finditer(sentence):
            if kind in ("year", "quantity") and _MONTH_BEFORE.search(sentence[: match.start()]):
                continue  # part of a date: the year alone is a poor question
            if kind == "name" and (match.start() < 3 or sentence[match.start() - 2] in ".:"):
                continue
            if _modifies_a_noun(sentence, match.start(), match.end()) or _modifier(sentence, match.end(), kind):
                continue  # "the 1973 oil crisis", "Earth's atmosphere", "NK cells": no question asks for these alone
            span = _with_modifiers(sentence, match.start(), match.end()) if kind == "name" else (match.start(), match.end())
            if any(span[0] < e and s < span[1] for _, (s, e) in found):
                continue
            found.append((kind, span))
    return found


def _modifier(sentence: str, end: int, kind: str) -> bool:
    """Whether the value ending at `end` modifies what follows: a possessive ("Saddam's defeat", "2008's storm"),
    or, for a name or a year, a plain lower-case word ("NK cells", "Habsburg control", "1500 soldiers")."""
    after = sentence[end:]
    if after.startswith(("'s", "’s")):
        return True
    following = re.match(r"\s+([a-z][\w'’-]*)", after)
    if kind not in ("name", "year") or following is None:
        return False
    word = following.group(1)
    return word not in _FUNCTION_WORDS and not word.endswith("ed")  # "Scheele discovered": a verb, not a modifier


def _with_modifiers(sentence: str, start: int, end: int) -> tuple[int, int]:
    """The span of a name with up to two lower-case words before it that describe it ("conservative Muslims"):
    not a function word, a determiner, a verb-looking word (-ed, -ing, -s) or a word after punctuation."""
    words = list(re.finditer(r"[\w'’-]+", sentence[:start]))
    for word in reversed(words[-2:]):
        text = word.group()
        if not text.islower() or text in _FUNCTION_WORDS or text in _DETERMINERS or text.endswith(("ed", "ing", "s", "ly")):
            break
        if sentence[word.end() : start].strip():
            break  # punctuation between: another phrase
        start = word.start()
    return start, end


def _modifies_a_noun(sentence: str, start: int, end: int) -> bool:
    after = sentence[end:].lstrip()
    if not _DETERMINER_END.search(sentence[:start]) or not after:
        return False
    if after.startswith(("'s", "’s")):
        return True  # "the Lamplighter's phone"
    return after[0].islower() and not _AUX.match(after) and after.split(" ", 1)[0].rstrip(".,;") not in _FUNCTION_WORDS


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
