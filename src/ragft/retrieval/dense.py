"""Vector search over unit-norm float32 embeddings: exact inner product, or HNSW for large corpora.

Exact search is one BLAS matrix-vector product plus a linear-time top-k; above the configured
threshold an HNSW graph (usearch, imported only then) answers in roughly logarithmic time.
Access filtering happens before the top-k in both paths, so hidden chunks never use up slots.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from ragft.retrieval.fusion import top_k_indices

VECTORS_FILE = "vectors.npy"
HNSW_FILE = "hnsw.usearch"
# The graph stores half-precision copies: about 2x faster to build and search than float32 on
# AVX-512/AVX2 CPUs, at no measurable recall cost, because found rows are re-scored exactly.
_HNSW_DTYPE = "f16"


@dataclass(frozen=True)
class HnswSettings:
    """How the HNSW graph is built and searched (benchmarks/bench_index_recall.py measures them).

    `overfetch` times n rows are asked of the graph (more when rows are hidden), then re-scored
    exactly and cut to n: the graph's approximate order only has to put the true top n somewhere
    in the fetched list, not in order.
    """

    connectivity: int = 16
    expansion_add: int = 128
    expansion_search: int = 96
    overfetch: int = 2


HNSW = HnswSettings()


@dataclass(frozen=True)
class Visibility:
    """Which rows a searcher may see: a boolean mask plus the hidden rows' indices (cheap to apply)."""

    allowed: np.ndarray  # bool, one per row
    blocked: np.ndarray  # int64 indices where allowed is False

    @property
    def everything(self) -> bool:
        return self.blocked.size == 0


_blas_pool: Any = None


@contextlib.contextmanager
def _one_blas_thread() -> Iterator[None]:
    """Run a matrix-vector product on one BLAS thread.

    A search-sized product is memory-bound, and when the cores are busy (the generator, an
    embedding batch) OpenBLAS's thread hand-off costs far more than it saves: measured 24 ms
    instead of 0.2 ms for 2.7k x 384 on a loaded 2-core machine. threadpoolctl is optional.
    """
    global _blas_pool
    if _blas_pool is None:
        try:
            from threadpoolctl import ThreadpoolController

            _blas_pool = ThreadpoolController().select(user_api="blas")
        except ImportError:  # pragma: no cover - depends on the environment
            _blas_pool = False
    if not _blas_pool:
        yield
        return
    with _blas_pool.limit(limits=1):
        yield


def _import_usearch() -> Any:
    try:
        from usearch.index import Index
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "the HNSW index needs the 'usearch' package (pip install usearch); "
            "or raise [retrieval] hnsw_threshold_chunks above the corpus size to use exact search"
        ) from exc
    return Index


class DenseIndex:
    """Rows of `vectors` are chunk embeddings in chunk order; row i is chunk i."""

    def __init__(self, vectors: np.ndarray, hnsw: Any | None = None, settings: HnswSettings = HNSW) -> None:
        if vectors.ndim != 2 or vectors.dtype != np.float32:
            raise ValueError(f"vectors must be a 2-D float32 array, got {vectors.dtype} of shape {vectors.shape}")
        self.vectors = vectors
        self._hnsw = hnsw
        self.settings = settings

    @property
    def backend(self) -> str:
        return "hnsw" if self._hnsw is not None else "exact"

    @classmethod
    def build(cls, vectors: np.ndarray, *, use_hnsw: bool, settings: HnswSettings = HNSW) -> DenseIndex:
        """An exact index, or with `use_hnsw` an HNSW graph over `vectors` too (minutes at 100k rows)."""
        if not use_hnsw or len(vectors) == 0:
            return cls(vectors, settings=settings)
        index = _import_usearch()(
            ndim=vectors.shape[1],
            metric="ip",
            dtype=_HNSW_DTYPE,
            connectivity=settings.connectivity,
            expansion_add=settings.expansion_add,
            expansion_search=settings.expansion_search,
        )
        index.add(np.arange(len(vectors), dtype=np.uint64), vectors, log=False)
        return cls(vectors, index, settings)

    def tune_search(self, *, expansion_search: int, overfetch: int) -> None:
        """Change the search-time HNSW settings in place (the graph stays as built); for measuring them."""
        if expansion_search < 1 or overfetch < 1:
            raise ValueError(f"expansion_search {expansion_search} and overfetch {overfetch} must both be at least 1")
        self.settings = replace(self.settings, expansion_search=expansion_search, overfetch=overfetch)
        if self._hnsw is not None:
            self._hnsw.expansion_search = expansion_search

    def save(self, directory: Path) -> None:
        np.save(directory / VECTORS_FILE, self.vectors, allow_pickle=False)
        if self._hnsw is not None:
            self._hnsw.save(str(directory / HNSW_FILE))

    @classmethod
    def load(cls, directory: Path) -> DenseIndex:
        vectors = np.load(directory / VECTORS_FILE, allow_pickle=False)
        hnsw_path = directory / HNSW_FILE
        if not hnsw_path.exists():
            return cls(vectors)
        index = _import_usearch().restore(str(hnsw_path))
        if index is None or len(index) != len(vectors):
            raise ValueError(f"{hnsw_path}: HNSW index does not match {VECTORS_FILE}")
        index.expansion_search = HNSW.expansion_search
        return cls(vectors, index)

    def __len__(self) -> int:
        return len(self.vectors)

    def cosine(self, query: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Cosine of the query with the given rows (vectors are unit norm)."""
        with _one_blas_thread():
            return self.vectors[rows] @ query

    def search(self, query: np.ndarray, n: int, visible: Visibility | None) -> tuple[np.ndarray, np.ndarray]:
        """Top-`n` visible rows by inner product with `query`: (row indices best first, cosines)."""
        if n <= 0 or len(self.vectors) == 0:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
        if self._hnsw is not None:
            found = self._search_hnsw(query, n, visible)
            if found is not None:
                return found
        if visible is not None and not visible.everything and visible.blocked.size > len(self.vectors) // 2:
            # Few rows visible: score only those.
            rows = np.flatnonzero(visible.allowed)
            with _one_blas_thread():
                sub = self.vectors[rows] @ query
            order = top_k_indices(sub, n)
            return rows[order], sub[order]
        with _one_blas_thread():
            scores = self.vectors @ query
        if visible is not None and not visible.everything:
            scores[visible.blocked] = -np.inf
        rows = top_k_indices(scores, n)
        return rows, scores[rows]

    def _search_hnsw(self, query: np.ndarray, n: int, visible: Visibility | None) -> tuple[np.ndarray, np.ndarray] | None:
        """HNSW top-n; over-fetches when rows are hidden, returns None to fall back to exact search."""
        total = len(self.vectors)
        visible_count = total if visible is None else total - int(visible.blocked.size)
        if visible_count == 0:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
        if self._hnsw is None or visible_count < total // 2:
            return None
        want = self.settings.overfetch * n
        fetch = min(total, want if visible_count == total else want * total // visible_count + 16)
        matches = self._hnsw.search(query, fetch)
        rows = np.asarray(matches.keys, dtype=np.int64)
        if visible is not None and not visible.everything:
            rows = rows[visible.allowed[rows]]
            if len(rows) < min(n, visible_count):
                return None
        exact = self.cosine(query, rows)
        order = np.argsort(-exact, kind="stable")[:n]
        return rows[order], exact[order]
