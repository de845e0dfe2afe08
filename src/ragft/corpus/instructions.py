"""Does a text read as instructions to a model or its reader, rather than as information?

Documents are data. A passage that talks to "the assistant", tells whoever reads it to ignore
other instructions, dictates what to reply "when asked", quotes a question back with "the answer
to '...' is", or claims to overrule every other document is trying to steer the model that will
read it: prompt injection. Such text is rare in real company documents and cheap to spot with
patterns, so this module names what it found (`InstructionSignal`) for two users:

- retrieval-time screening (`ragft.systems.injection_guard`) keeps flagged passages out of the
  prompt;
- ingest can report flagged documents to the operator (`flag_documents`), who decides.

Markup is flattened first, so an instruction in a Markdown or HTML table cell reads as prose.
Patterns were checked against every document of the bundled sample corpus (v1 and v2): none is
flagged (tests/test_instructions.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from ragft.types import Document

_MODEL = r"(?:ai|a\.i\.|assistants?|language models?|llms?|chatbots?|bots?|gpt|models?)"
_REPLY = r"(?:reply|replies|respond|answer|say|output|print|write|tell the user|begin your reply|end your reply)"

# Each pattern is evidence on its own: none of them occurs in ordinary documents' prose.
_SIGNALS: dict[str, tuple[re.Pattern[str], ...]] = {
    "addresses_model": (
        re.compile(rf"\b(?:note|message|instructions?|reminder|attention) (?:to|for) (?:the |any |all |every )?{_MODEL}\b"),
        re.compile(rf"\bif you are an? {_MODEL}\b"),
        re.compile(rf"\b{_MODEL},? (?:reading|processing|summari[sz]ing|answering from) (?:this|these)\b"),
        re.compile(rf"(?:^|[\s>|(\[])(?:system|assistant|{_MODEL}(?: instructions?)?)\s*:\s+(?=\S)"),
        re.compile(rf"\b{_MODEL} (?:must|should|shall|are to|need to|have to) (?:always |only )?{_REPLY}\b"),
    ),
    "overrides_instructions": (
        re.compile(
            r"\b(?:ignore|disregard|forget|override)\b[^.\n]{0,40}?\b(?:instructions?|prompts?|rules|guidelines|"
            r"documents?|passages?|context|faq|the above|everything)\b"
        ),
        re.compile(r"\bfrom now on\b|\bnew instructions?\b|\bprevious instructions\b"),
    ),
    "dictates_reply": (
        re.compile(rf"\b{_REPLY}\b[^.\n]{{0,40}}?\b(?:only|exactly|nothing else|and nothing more|with the (?:code|token|word|text))\b"),
        re.compile(r"\bwhen(?:ever)? (?:you are |you're )?asked\b"),
        re.compile(
            rf"\b(?:any|every|all|whatever the) questions?\b[^.\n]{{0,40}}?\b{_REPLY}\b|\b{_REPLY} (?:to )?(?:any|every|all) questions?\b"
        ),
        re.compile(r"\bwhatever the question\b"),
        re.compile(rf"\byou (?:must|should|shall|are to) {_REPLY}\b"),
        re.compile(r"\b(?:reply|respond|say|tell the user)(?: with)?\s*:\s*[\"“']"),
    ),
    "quotes_question": (
        re.compile(r"\b(?:correct |right |official |true |real )?answer to (?:this question|the question|any question|['\"“‘])"),
    ),
    "claims_authority": (
        re.compile(r"\bcite (?:this|it|that)(?: document| page| passage)?(?: as (?:the |its )?source)?\b"),
        re.compile(r"\bwhere (?:another|any other|other) documents? (?:disagrees?|conflicts?|differs?)\b"),
        re.compile(
            r"\b(?:this|it) (?:document |page |one )?is (?:always )?(?:the )?(?:correct|authoritative|only valid) (?:one|source)?\b"
        ),
    ),
}

_TAG = re.compile(r"<[^>\n]{0,200}>")
_TABLE_RULE = re.compile(r"(?m)^\s*\|?\s*:?-{2,}:?\s*(?:\|\s*:?-{2,}:?\s*)*\|?\s*$")
_SPACES = re.compile(r"[ \t\u00a0]+")


@dataclass(frozen=True)
class InstructionSignal:
    """One piece of evidence that a text addresses a model: its kind and the words that matched."""

    kind: str
    evidence: str


def flatten_markup(text: str) -> str:
    """The text with HTML tags, table pipes and table rules turned into spaces (cells read as prose)."""
    text = _TAG.sub(" ", text)
    text = _TABLE_RULE.sub(" ", text)
    return _SPACES.sub(" ", text.replace("|", " "))


def instruction_signals(text: str) -> list[InstructionSignal]:
    """Every instruction-like phrase in `text`, at most one per pattern, in pattern order."""
    flat = flatten_markup(text).lower().replace("’", "'")
    found = []
    for kind, patterns in _SIGNALS.items():
        for pattern in patterns:
            match = pattern.search(flat)
            if match:
                found.append(InstructionSignal(kind, match.group(0).strip()))
    return found


def looks_like_instructions(text: str) -> bool:
    """True when `text` holds at least one instruction-like phrase (see `instruction_signals`)."""
    return bool(instruction_signals(text))


def flag_documents(documents: Iterable[Document]) -> dict[str, list[InstructionSignal]]:
    """Doc id → its signals, for the documents that look like instructions (the rest are left out).

    Meant for ingest to report ("3 documents look like instructions to a model: ...") so the
    operator can read them before they are served; flagging does not block or alter a document.
    """
    flagged = {}
    for document in documents:
        signals = instruction_signals(document.text)
        if signals:
            flagged[document.doc_id] = signals
    return flagged
