"""Split documents into passages that keep character offsets, so citations point at exact spans.

The text is cut into units (headings, sentences; over-long sentences into word windows), and
units are packed greedily up to `size_tokens`. A heading always starts a new chunk (a chunk never
straddles two sections), and consecutive chunks inside a section share up to `overlap_tokens`.
Every chunk satisfies `chunk.text == document.text[chunk.start:chunk.end]`.

`chunk_corpus` is the one way ragft cuts a corpus: indexing, training, RAFT and probes all call it
with the workspace's `[corpus]` settings and the embedder's token counter, so a chunk id names the
same span in the index, in the training set and wherever a probe is checked against a chunk.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from ragft.config import CorpusConfig
from ragft.text import TokenCounter, approximate_token_count
from ragft.types import Chunk, Document

_PARAGRAPH = re.compile(r"\S(?:.*?\S)?(?=\n[ \t]*\n|\s*\Z)", re.DOTALL)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[A-Z0-9*#-])")
_HEADING = re.compile(r"#{1,6}\s")


def chunk_corpus(documents: Iterable[Document], settings: CorpusConfig, count_tokens: TokenCounter | None = None) -> list[Chunk]:
    """Every chunk of `documents`, in document order, sized by `[corpus]` `settings`.

    `count_tokens` is the embedder's counter (`ragft.models.base.embedder_token_counter`): chunks
    are sized for the model that embeds them, and every component must pass the same one to get
    the same chunks. Without it, `approximate_token_count` (for callers that embed nothing).
    """
    counter = count_tokens or approximate_token_count
    size, overlap = settings.chunk_size_tokens, settings.chunk_overlap_tokens
    return [chunk for d in documents for chunk in chunk_document(d, size_tokens=size, overlap_tokens=overlap, count_tokens=counter)]


@dataclass(frozen=True)
class _Unit:
    start: int
    end: int
    tokens: int
    is_heading: bool


def chunk_document(
    document: Document,
    *,
    size_tokens: int = 200,
    overlap_tokens: int = 30,
    count_tokens: TokenCounter = approximate_token_count,
) -> list[Chunk]:
    """Chunks of `document`, in order, each at most about `size_tokens` long."""
    if size_tokens <= 0 or not 0 <= overlap_tokens < size_tokens:
        raise ValueError(f"chunk size {size_tokens} and overlap {overlap_tokens}: need size > 0 and 0 <= overlap < size")
    units = list(_units(document.text, size_tokens, count_tokens))
    page_starts = list(document.metadata.get("page_starts", ()))
    chunks = []
    for index, (first, last) in enumerate(_pack(units, size_tokens, overlap_tokens)):
        start, end = units[first].start, units[last - 1].end
        chunks.append(
            Chunk(
                chunk_id=f"{document.doc_id}@v{document.version}#{index}",
                doc_id=document.doc_id,
                text=document.text[start:end],
                start=start,
                end=end,
                title=document.title,
                acl=document.acl,
                page=bisect.bisect_right(page_starts, start) if page_starts else None,
            )
        )
    return chunks


def _units(text: str, size_tokens: int, count_tokens: TokenCounter) -> Iterator[_Unit]:
    for paragraph in _PARAGRAPH.finditer(text):
        if _HEADING.match(paragraph.group()) and "\n" not in paragraph.group():
            yield _Unit(paragraph.start(), paragraph.end(), count_tokens(paragraph.group()), is_heading=True)
            continue
        for start, end in _sentence_spans(paragraph.group(), paragraph.start()):
            tokens = count_tokens(text[start:end])
            if tokens <= size_tokens:
                yield _Unit(start, end, tokens, is_heading=False)
            else:
                yield from _word_windows(text, start, end, size_tokens, count_tokens)


def _sentence_spans(paragraph: str, offset: int) -> Iterator[tuple[int, int]]:
    start = 0
    for boundary in _SENTENCE_END.finditer(paragraph):
        yield offset + start, offset + boundary.start()
        start = boundary.end()
    yield offset + start, offset + len(paragraph)


def _word_windows(text: str, start: int, end: int, size_tokens: int, count_tokens: TokenCounter) -> Iterator[_Unit]:
    """Cut an over-long sentence into pieces that each fit, at word boundaries."""
    words = [(m.start() + start, m.end() + start) for m in re.finditer(r"\S+", text[start:end])]
    piece_start = 0
    while piece_start < len(words):
        piece_end = piece_start + 1
        tokens = count_tokens(text[words[piece_start][0] : words[piece_start][1]])
        while piece_end < len(words):
            grown = count_tokens(text[words[piece_start][0] : words[piece_end][1]])
            if grown > size_tokens:
                break
            tokens, piece_end = grown, piece_end + 1
        yield _Unit(words[piece_start][0], words[piece_end - 1][1], tokens, is_heading=False)
        piece_start = piece_end


def _pack(units: list[_Unit], size_tokens: int, overlap_tokens: int) -> Iterator[tuple[int, int]]:
    """Greedy packing of unit ranges [first, last); headings start chunks, overlap stays in-section."""
    first = 0
    while first < len(units):
        last, tokens = first, 0
        while last < len(units):
            unit = units[last]
            only_headings_so_far = all(u.is_heading for u in units[first:last])
            if last > first and unit.is_heading and not only_headings_so_far:
                break
            if last > first and tokens + unit.tokens > size_tokens:
                break
            tokens += unit.tokens
            last += 1
        yield first, last
        if last >= len(units) or units[last].is_heading:
            first = last
            continue
        back, overlap = last, 0
        while back - 1 > first and not units[back - 1].is_heading and overlap + units[back - 1].tokens <= overlap_tokens:
            back -= 1
            overlap += units[back].tokens
        first = back
