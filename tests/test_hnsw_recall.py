"""The HNSW path, at the shipped settings, finds what exact search finds on clustered vectors.

Real embeddings are clustered (topics), not uniform; benchmarks/bench_index_recall.py measures
recall on real MiniLM embeddings, and this test keeps a change to `HnswSettings` or to
`_search_hnsw` that wrecks recall from passing unnoticed.
"""

from __future__ import annotations

import numpy as np
import pytest

from ragft.retrieval.dense import HNSW, DenseIndex, HnswSettings, Visibility

pytest.importorskip("usearch")

DIM, ROWS, TOPICS, QUERIES, DEPTH = 384, 4000, 80, 60, 30


def clustered(n: int, rng: np.random.Generator, centres: np.ndarray) -> np.ndarray:
    """Unit vectors near randomly chosen topic centres, each topic with its own spread (like embeddings)."""
    topic = rng.integers(len(centres), size=n)
    spread = rng.uniform(0.6, 1.2, size=(n, 1)).astype(np.float32)
    vectors = centres[topic] + spread * rng.standard_normal((n, DIM), dtype=np.float32) / np.sqrt(DIM)
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(18)
    centres = rng.standard_normal((TOPICS, DIM), dtype=np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    return clustered(ROWS, rng, centres), clustered(QUERIES, rng, centres)


@pytest.fixture(scope="module")
def graph(data) -> DenseIndex:
    """The HNSW index at the shipped settings, built once (a few seconds) for the module."""
    return DenseIndex.build(data[0], use_hnsw=True)


def recall(index: DenseIndex, exact: DenseIndex, queries: np.ndarray, k: int, visible: Visibility | None) -> float:
    """Share of exact search's top k that the index returns in its top k (ties at the k-th score count)."""
    hits = 0
    for query in queries:
        _, want = exact.search(query, k, visible)
        _, got = index.search(query, k, visible)
        hits += int(np.count_nonzero(got >= want[-1] - 1e-6))
    return hits / (k * len(queries))


def hide_30pct(rows: int) -> Visibility:
    allowed = np.random.default_rng(3).random(rows) >= 0.3
    return Visibility(allowed, np.flatnonzero(~allowed))


@pytest.mark.parametrize("k", [DEPTH, 4])
@pytest.mark.parametrize("filtered", [False, True], ids=["all-visible", "30pct-hidden"])
def test_hnsw_at_shipped_settings_finds_exact_search_top_k(data, graph: DenseIndex, k: int, filtered: bool) -> None:
    vectors, queries = data
    visible = hide_30pct(ROWS) if filtered else None
    assert graph.backend == "hnsw" and graph.settings == HNSW
    assert recall(graph, DenseIndex(vectors), queries, k, visible) >= 0.97


def test_the_recall_check_fails_when_search_settings_are_starved(data) -> None:
    # Guards the guard: the floor above is one a bad setting actually falls below.
    vectors, queries = data
    graph = DenseIndex.build(vectors, use_hnsw=True, settings=HnswSettings(connectivity=2, expansion_add=2))
    graph.tune_search(expansion_search=1, overfetch=1)
    assert recall(graph, DenseIndex(vectors), queries, DEPTH, None) < 0.9


def test_tune_search_rejects_settings_below_one(data) -> None:
    with pytest.raises(ValueError, match="overfetch 0"):
        DenseIndex(data[0]).tune_search(expansion_search=10, overfetch=0)
