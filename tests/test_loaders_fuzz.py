"""Hostile files: whatever bytes a file holds, `load_file` returns documents or raises LoadError,
never another exception (the ingester turns LoadError into a clear per-file problem)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ragft.corpus.loaders import LoadError, load_file
from ragft.types import Document

from .conftest import HTML_PAGE, make_docx, make_pdf

SUFFIXES = (".txt", ".md", ".html", ".pdf", ".docx", ".jsonl")
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)


def load_or_load_error(data: bytes, suffix: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"fuzz{suffix}"
        path.write_bytes(data)
        try:
            docs = load_file(path, path.name, max_file_mb=1)
        except LoadError:
            return
        assert docs and all(isinstance(d, Document) for d in docs)


def valid_files() -> dict[str, bytes]:
    """One good file per format, to mutate: random bytes alone rarely get past a parser's first check."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_pdf(root / "a.pdf", ["Page one.\nBattery lasts 11 hours.", "Page two."], title="Spec")
        make_docx(root / "a.docx", "Minutes", ["Budget approved.", "Next meeting."], [["Owner", "Task"], ["Ada", "Hiring"]])
        files = {".pdf": (root / "a.pdf").read_bytes(), ".docx": (root / "a.docx").read_bytes()}
    files[".html"] = HTML_PAGE.encode()
    files[".md"] = b"---\ntitle: T\nacl: hr\n---\n# Heading\n\nBody text.\n"
    files[".txt"] = b"Title\n\nSome text.\n"
    files[".jsonl"] = (json.dumps({"doc_id": "a", "title": "A", "text": "x"}) + "\n").encode()
    return files


SEEDS = valid_files()


@pytest.mark.parametrize("suffix", SUFFIXES)
@FUZZ
@given(data=st.binary(max_size=4096))
def test_random_bytes_load_or_raise_load_error(suffix: str, data: bytes) -> None:
    load_or_load_error(data, suffix)


@st.composite
def mutated(draw, seed: bytes) -> bytes:
    """The seed file with a few bytes overwritten, a slice cut out, or truncated."""
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 8))):
        at = draw(st.integers(0, len(data) - 1))
        data[at] = draw(st.integers(0, 255))
    if draw(st.booleans()):
        start = draw(st.integers(0, len(data) - 1))
        del data[start : start + draw(st.integers(1, 64))]
    if data and draw(st.booleans()):  # the cut above may have removed everything
        data = data[: draw(st.integers(1, len(data)))]
    return bytes(data)


FRONT_MATTER_SEEDS = (
    b"---\ntitle: T\nacl:\n  - hr\n  - legal\n---\n# Heading\n\nBody text.\n",
    b'+++\ntitle = "T"\nacl = ["hr"]\n+++\nBody text.\n',
    b"<!-- c -->\n\n--- \nacl: [hr, legal]\n...\nBody text.",
)


@pytest.mark.parametrize("seed", FRONT_MATTER_SEEDS)
@FUZZ
@given(data=st.data())
def test_mutated_front_matter_loads_or_raises_load_error(seed: bytes, data: st.DataObject) -> None:
    load_or_load_error(data.draw(mutated(seed)), ".md")


@pytest.mark.parametrize("suffix", SUFFIXES)
@FUZZ
@given(data=st.data())
def test_mutated_valid_files_load_or_raise_load_error(suffix: str, data: st.DataObject) -> None:
    load_or_load_error(data.draw(mutated(SEEDS[suffix])), suffix)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(["doc_id", "title", "text", "acl", "x"]) | st.text(max_size=5), inner, max_size=5)
    ),
    max_leaves=12,
)


@FUZZ
@given(lines=st.lists(json_values, min_size=1, max_size=5))
def test_jsonl_lines_of_any_json_load_or_raise_load_error(lines: list) -> None:
    load_or_load_error("\n".join(json.dumps(line) for line in lines).encode(), ".jsonl")
