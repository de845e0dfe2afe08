"""Question/answer synthesis with the generator: a strict line format, then validation.

The model is asked for `Q: ...` / `A: ...` lines. Whatever comes back is parsed leniently and
validated on substance: a pair is kept only if its answer is supported by the source chunk (the
answer appears in it, or every number and most content words of the answer do, a word matching
by its stem too: see `supported_span`). Rejections are counted by reason; malformed output yields
no pairs, never an exception.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from ragft.models.base import DecodingSettings, Generator
from ragft.types import ChatMessage, Chunk

QA_SYSTEM = (
    "You write quiz questions about a company document. Each question must be answerable from the "
    "passage alone and must name what it is about (never 'it' or 'this document'). Answers are short "
    "and copied from the passage."
)
PARAPHRASE_SYSTEM = "You rewrite questions with different words but the same meaning. One question per line."

_LINE = re.compile(r"^\s*(?:\d+[.)]\s*)?(Q|A|Question|Answer)\s*[:：]\s*(.+?)\s*$", re.IGNORECASE)
_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9'’-]*")
_NUMBER = re.compile(r"\d+(?:[.,:]\d+)*")
_STOPWORDS = frozenset(
    "a an the of in on at to for by with and or is are was were be it its this that as from per each every "
    "what which who when where how many much does do did can must should will our your their".split()
)


@dataclass(frozen=True)
class ModelPair:
    """A validated pair: the question, the short answer, and the chunk offsets of the answer."""

    question: str
    answer: str
    start: int
    end: int


def qa_prompt(chunk: Chunk, count: int) -> list[ChatMessage]:
    """The messages asking for `count` question/answer pairs about `chunk`."""
    user = (
        f"Document: {chunk.title}\nPassage:\n<<<\n{chunk.text.strip()}\n>>>\n\n"
        f"Write {count} question-answer pairs about different facts in the passage, in exactly this format:\n"
        "Q: <question>\nA: <short answer copied from the passage>"
    )
    return [{"role": "system", "content": QA_SYSTEM}, {"role": "user", "content": user}]


def parse_pairs(text: str) -> list[tuple[str, str]]:
    """(question, answer) pairs from `Q:`/`A:` lines; anything else is ignored."""
    pairs: list[tuple[str, str]] = []
    question: str | None = None
    for line in text.splitlines():
        match = _LINE.match(line)
        if not match:
            continue
        tag, value = match.group(1)[0].upper(), match.group(2).strip()
        if tag == "Q":
            question = value
        elif question is not None:
            pairs.append((question, value))
            question = None
    return pairs


SUPPORTED_SHARE = 2 / 3  # of an answer's content words that the chunk must hold (each, or its stem) when it is not quoted
_STEM = 5  # a word of at least _STEM + 2 letters also matches the chunk by its first _STEM letters ("founding" ~ "founded")
_WH_START = re.compile(r"^(?:what|which|who|whom|whose|when|where|why|how|in|on|at|during|for|from|by|is|are|was|were|did|does|do)\b", re.I)


def supported_span(answer: str, chunk_text: str) -> tuple[int, int] | None:
    """Offsets of the answer's support in `chunk_text`, or None if the chunk does not support it.

    Supported: the answer appears in the chunk; or every number of it does and at least
    SUPPORTED_SHARE of its content words do (a word or its stem: a paraphrased answer such as
    "founding year 2017" for "founded in 2017" is kept, an answer naming things the chunk never
    mentions is not).
    """
    answer = answer.strip().strip("\"'“”").strip(".").strip()
    if not answer:
        return None
    lowered = chunk_text.lower()
    at = lowered.find(answer.lower())
    if at >= 0:
        return at, at + len(answer)
    if any(n not in chunk_text for n in _NUMBER.findall(answer)):
        return None
    words = [w for w in _WORD.findall(answer.lower()) if w not in _STOPWORDS]
    if not words:
        return None
    found = [(p, w) for w in words if (p := _find_word(lowered, w)) >= 0]
    if not found or len(found) < SUPPORTED_SHARE * len(words):
        return None
    return min(p for p, _ in found), max(p + len(w) for p, w in found)


def _find_word(lowered: str, word: str) -> int:
    """Where `word` (or, for a long word, its stem) starts in `lowered`, or -1."""
    at = lowered.find(word)
    if at < 0 and len(word) >= _STEM + 2:
        at = lowered.find(word[:_STEM])
    return at


def unsupported_reason(answer: str, chunk_text: str) -> str:
    """Why `answer` is not supported by `chunk_text`: a number the chunk lacks, or words it lacks."""
    return "unsupported_number" if any(n not in chunk_text for n in _NUMBER.findall(answer)) else "unsupported_answer"


def validate_pair(question: str, answer: str, chunk: Chunk, rejected: Counter[str]) -> ModelPair | None:
    """The pair if it is usable, else None with the reason counted in `rejected`.

    Lenient on form (a question that starts like one but lacks its '?' gets it; a quoted or
    full-stopped answer is unwrapped), strict on substance (the chunk must support the answer).
    """
    question, answer = " ".join(question.split()), " ".join(answer.split()).strip("\"'“”")
    if not question.endswith("?") and _WH_START.match(question):
        question += "?"
    if not question.endswith("?") or len(question) < 10 or len(question) > 300:
        rejected["malformed_question"] += 1
        return None
    if not answer or len(answer) > 200:
        rejected["malformed_answer"] += 1
        return None
    if answer.lower().strip(". ") in question.lower():
        rejected["answer_in_question"] += 1
        return None
    span = supported_span(answer, chunk.text)
    if span is None:
        rejected[unsupported_reason(answer, chunk.text)] += 1
        return None
    return ModelPair(question, answer.strip().rstrip("."), *span)


def synthesize_with_model(
    generator: Generator, chunk: Chunk, *, count: int, decoding: DecodingSettings, rejected: Counter[str]
) -> list[ModelPair]:
    """Validated pairs for `chunk`; generation errors and malformed output count as rejections."""
    try:
        text = generator.generate(qa_prompt(chunk, count), decoding).text
    except Exception as exc:  # one bad chunk must not stop synthesis of the rest
        rejected[f"generation_error:{type(exc).__name__}"] += 1
        return []
    raw = parse_pairs(text)
    if not raw:
        rejected["no_parseable_pairs"] += 1
    kept: list[ModelPair] = []
    for question, answer in raw:
        pair = validate_pair(question, answer, chunk, rejected)
        if pair and all(pair.question.lower() != k.question.lower() for k in kept):
            kept.append(pair)
    return kept[:count]


def paraphrase_with_model(
    generator: Generator, question: str, *, count: int, decoding: DecodingSettings, rejected: Counter[str]
) -> list[str]:
    """Up to `count` valid rewordings of `question` (ends with '?', differs from the original)."""
    messages: list[ChatMessage] = [
        {"role": "system", "content": PARAPHRASE_SYSTEM},
        {"role": "user", "content": f"Rewrite this question {count} different ways:\n{question}"},
    ]
    return _questions_from(
        generator, messages, decoding, rejected, count=count, reason="bad_paraphrase", keep=lambda line: line.lower() != question.lower()
    )


REVERSE_SYSTEM = (
    "You write questions that go the other way round: the question states the given answer and asks what it "
    "belongs to or who or what it describes. One question per line."
)


def reverse_with_model(
    generator: Generator, statement: str, answer: str, *, count: int, decoding: DecodingSettings, rejected: Counter[str]
) -> list[str]:
    """Up to `count` valid attribute -> entity questions for `statement`: each mentions `answer` and ends with '?'."""
    messages: list[ChatMessage] = [
        {"role": "system", "content": REVERSE_SYSTEM},
        {
            "role": "user",
            "content": f"Fact: {statement}\nGiven answer: {answer}\nWrite {count} questions that mention "
            f'"{answer}" and ask what it belongs to:',
        },
    ]
    return _questions_from(
        generator,
        messages,
        decoding,
        rejected,
        count=count,
        reason="bad_reverse",
        keep=lambda line: answer.lower().strip(". ") in line.lower(),
    )


def _questions_from(
    generator: Generator,
    messages: list[ChatMessage],
    decoding: DecodingSettings,
    rejected: Counter[str],
    *,
    count: int,
    reason: str,
    keep: Callable[[str], bool],
) -> list[str]:
    """The generator's reply read as one question a line (list markers stripped): up to `count` that end
    with '?', are not trivially short or repeated, and that `keep` accepts; each other line counted under `reason`."""
    try:
        text = generator.generate(messages, decoding).text
    except Exception as exc:
        rejected[f"generation_error:{type(exc).__name__}"] += 1
        return []
    out: list[str] = []
    for line in text.splitlines():
        line = re.sub(r"^\s*(?:\d+[.)]|[-*]|Q:)\s*", "", line).strip().strip('"')
        if not line:
            continue
        if not line.endswith("?") or len(line) < 12 or line in out or not keep(line):
            rejected[reason] += 1
            continue
        out.append(line)
    return out[:count]
