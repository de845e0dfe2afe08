"""The shapes of document text the probe generators read: sentences, table rows, words, and support.

Shared by `probes` (facts and their variants), `jargon` (definitions of in-house terms),
`bridges` (an entity named in one document, described in another) and `rules` (training facts),
so every generator splits text the same way and checks its answers against the chunks with the
same rule.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

MARKUP = re.compile(r"\*\*|__|`|^#+\s*|^\s*(?:[-*+]|\d+\.)\s+")
WORD = re.compile(r"[A-Za-z][A-Za-z'-]+")
# A sentence opening with a pronoun leans on the one before it: a question made from it has no subject.
PRONOUN_START = re.compile(r"^(?:it|this|that|these|those|they|he|she|we|you|its|their|there)\b", re.IGNORECASE)
STOPWORDS = frozenset(
    "the a an of to in on at for by with and or is are was were be what how much many long "
    "which who when does do according per from this that it its as".split()
)


def lines(text: str) -> Iterable[tuple[str | None, str]]:
    """(table header or None, cleaned sentence/row) for every sentence and table row of `text`."""
    header: list[str] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if "|" in line:
            cells = [c.strip() for c in line.strip("|").split("|")]
            if all(set(c) <= set("-: ") for c in cells):
                continue
            if header is None:
                header = cells
                continue
            yield " | ".join(header), " | ".join(cells)
            continue
        header = None
        for sentence in re.split(r"(?<=[.!?])\s+", MARKUP.sub("", line)):
            yield None, sentence.strip()


def content_words(text: str) -> set[str]:
    return {w.lower() for w in WORD.findall(text)} - STOPWORDS


def supported(answer: str, statement: str, chunks: Sequence[str]) -> bool:
    """`answer` and most of `statement`'s words share one of `chunks` (so one retrieved passage can answer)."""
    words = content_words(statement)
    return any(answer in text and len(words & content_words(text)) >= 0.8 * len(words) for text in chunks)
