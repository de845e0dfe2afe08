"""Chunks keep exact offsets, respect headings, stay within size and overlap inside a section."""

from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ragft.corpus.chunking import chunk_document
from ragft.text import approximate_token_count
from ragft.types import Document

SECTIONED = """# Handbook

Intro sentence one. Intro sentence two.

## Leave

Staff get 28 days of leave. Carry-over is capped at 5 days. Requests go through Orbit.

## Expenses

Meals are capped at 40 EUR per day. Receipts are needed above 25 EUR.
"""


def doc(text: str, **kw) -> Document:
    return Document(doc_id="d", title="T", text=text, source="d.md", **kw)


def test_every_chunk_is_the_exact_slice_of_the_document() -> None:
    d = doc(SECTIONED * 3)
    chunks = chunk_document(d, size_tokens=20, overlap_tokens=5)
    assert len(chunks) > 3
    for chunk in chunks:
        assert chunk.text == d.text[chunk.start : chunk.end]
        assert chunk.chunk_id.startswith("d@v1#")


def test_a_heading_starts_a_new_chunk() -> None:
    chunks = chunk_document(doc(SECTIONED), size_tokens=200, overlap_tokens=10)
    assert [c.text.splitlines()[0] for c in chunks] == ["# Handbook", "## Leave", "## Expenses"]


def test_chunks_respect_size_and_overlap_within_a_section() -> None:
    sentences = " ".join(f"Fact number {i} is here." for i in range(60))
    chunks = chunk_document(doc(sentences), size_tokens=30, overlap_tokens=8)
    assert all(approximate_token_count(c.text) <= 30 for c in chunks)
    for before, after in pairwise(chunks):
        assert after.start < before.end, "consecutive chunks in one section overlap"
        assert after.start > before.start


def test_an_over_long_sentence_is_cut_at_word_boundaries() -> None:
    text = " ".join(f"word{i}" for i in range(500))
    chunks = chunk_document(doc(text), size_tokens=50, overlap_tokens=0)
    assert len(chunks) >= 10
    assert all(c.text == text[c.start : c.end] and not c.text.startswith(" ") for c in chunks)
    assert chunks[-1].end == len(text)


def test_pdf_chunks_know_their_page() -> None:
    text = "Page one has this.\n\nPage two has that."
    d = doc(text, metadata={"page_starts": [0, text.index("Page two")]})
    chunks = chunk_document(d, size_tokens=5, overlap_tokens=0)
    assert chunks[0].page == 1 and chunks[-1].page == 2


def test_invalid_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match="overlap"):
        chunk_document(doc("x"), size_tokens=10, overlap_tokens=10)


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab .\n#!?")), min_size=1, max_size=400), st.integers(2, 40))
def test_offsets_hold_for_any_text(text: str, size: int) -> None:
    d = doc(text)
    for chunk in chunk_document(d, size_tokens=size, overlap_tokens=size // 3):
        assert chunk.text == text[chunk.start : chunk.end]
        assert chunk.text.strip()
