"""The HNSW path (used above `hnsw_threshold_chunks`) agrees with exact search and respects access."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from ragft.config import RetrievalConfig
from ragft.retrieval import Retriever
from ragft.types import Chunk, User

pytest.importorskip("usearch")


class TableEmbedder:
    """Looks vectors up by text: lets the test place chunks and queries anywhere in the space."""

    name = "table-embedder"
    dim = 32

    def __init__(self, table: dict[str, np.ndarray]) -> None:
        self.table = table

    def embed(self, texts, *, is_query: bool = False) -> np.ndarray:
        return np.stack([self.table[text] for text in texts])


def unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture
def space(tmp_path: Path) -> tuple[list[Chunk], TableEmbedder, np.ndarray]:
    rng = np.random.default_rng(7)
    centers = unit(rng.standard_normal((40, 32)))
    vectors = unit(centers[rng.integers(0, 40, 600)] + 0.3 * rng.standard_normal((600, 32)))
    chunks = [Chunk(f"c{i}", f"d{i}", f"chunk {i}", 0, 8, acl=frozenset({"team"}) if i % 5 == 0 else frozenset()) for i in range(600)]
    queries = unit(centers + 0.2 * rng.standard_normal((40, 32)))
    table = {chunk.text: vectors[i] for i, chunk in enumerate(chunks)}
    table.update({f"query {i}": queries[i] for i in range(40)})
    return chunks, TableEmbedder(table), queries


def test_hnsw_top1_agrees_with_exact_search(tmp_path: Path, space) -> None:
    chunks, embedder, _ = space
    dense = replace(RetrievalConfig(), mode="dense")
    exact = Retriever(dense, embedder, tmp_path / "exact")
    assert exact.warm_up(chunks, "v1").dense_backend == "exact"
    hnsw = Retriever(replace(dense, hnsw_threshold_chunks=0), embedder, tmp_path / "hnsw")
    assert hnsw.warm_up(chunks, "v1").dense_backend == "hnsw"
    member = User("m", frozenset({"team"}))
    same = sum(
        exact.search(f"query {i}", 1, user=member)[0].chunk.chunk_id == hnsw.search(f"query {i}", 1, user=member)[0].chunk.chunk_id
        for i in range(40)
    )
    assert same >= 36


def test_hnsw_search_hides_restricted_chunks_and_still_fills_k(tmp_path: Path, space) -> None:
    chunks, embedder, _ = space
    hnsw = Retriever(replace(RetrievalConfig(), mode="dense", hnsw_threshold_chunks=0), embedder, tmp_path)
    hnsw.warm_up(chunks, "v1")
    restricted = {chunk.chunk_id for chunk in chunks if chunk.acl}
    for i in range(40):
        hits = hnsw.search(f"query {i}", 10)
        assert len(hits) == 10 and not restricted & {hit.chunk.chunk_id for hit in hits}


def test_a_saved_hnsw_index_loads_with_identical_results(tmp_path: Path, space) -> None:
    chunks, embedder, _ = space
    config = replace(RetrievalConfig(), hnsw_threshold_chunks=0)
    first = Retriever(config, embedder, tmp_path)
    first.warm_up(chunks, "v1")
    second = Retriever(config, embedder, tmp_path)
    assert second.warm_up(chunks, "v1").loaded
    for i in range(10):
        assert first.search(f"query {i}", 5) == second.search(f"query {i}", 5)


def test_hnsw_falls_back_to_exact_search_when_most_chunks_are_hidden(tmp_path: Path, space) -> None:
    chunks, embedder, _ = space
    mostly_private = [replace(c, acl=frozenset() if i % 5 == 0 else frozenset({"team"})) for i, c in enumerate(chunks)]
    dense = replace(RetrievalConfig(), mode="dense")
    graph = Retriever(replace(dense, hnsw_threshold_chunks=0), embedder, tmp_path / "hnsw")
    graph.warm_up(mostly_private, "v1")
    exact = Retriever(dense, embedder, tmp_path / "exact")
    exact.warm_up(mostly_private, "v1")
    for i in range(20):
        hits = graph.search(f"query {i}", 5)
        assert all(not hit.chunk.acl for hit in hits) and len(hits) == 5
        assert hits == exact.search(f"query {i}", 5)  # the fallback is the exact search itself
