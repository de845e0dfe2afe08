"""Rank arithmetic shared by the retrievers: masked top-k selection and reciprocal rank fusion.

Kept free of any index so the math can be tested on hand-computed ranks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np


def top_k_indices(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the `k` largest finite scores, best first, equal scores by index; -inf marks an excluded entry.

    A linear-time partition finds the k-th score and only the entries at or above it are sorted,
    so the cost at 100k chunks is a pass or two over the scores, not a full sort. Ties go to the
    smaller index (as in `reciprocal_rank_fusion`), so any index that ranks the same scores,
    the vector engine's included, returns the same list.
    """
    n = int(scores.shape[0])
    if k <= 0 or n == 0:
        return np.empty(0, dtype=np.int64)
    if k < n:
        kth = np.partition(scores, n - k)[n - k]
        part = np.flatnonzero(scores >= kth)  # every entry tied with the k-th too, so the cut is by index
    else:
        part = np.arange(n)
    order = part[np.lexsort((part, -scores[part]))][:k]
    return order[np.isfinite(scores[order])]


def reciprocal_rank_fusion(
    rankings: Mapping[str, Sequence[int]], rrf_k: int, weights: Mapping[str, float] | None = None
) -> list[tuple[int, float]]:
    """Fuse ranked lists of item ids: score(d) = sum over lists of w / (rrf_k + rank of d), rank 1-based.

    RRF needs no score calibration between BM25 and cosine, which live on unrelated scales.
    `weights` maps a list's name to w (default 1). Returns (item, fused score) best first; ties
    go to the smaller item id, so results repeat.
    """
    if rrf_k < 0:
        raise ValueError(f"rrf_k must be >= 0, got {rrf_k}")
    fused: dict[int, float] = {}
    for name, ranking in rankings.items():
        weight = 1.0 if weights is None else weights.get(name, 1.0)
        for rank, item in enumerate(ranking, start=1):
            fused[int(item)] = fused.get(int(item), 0.0) + weight / (rrf_k + rank)
    return sorted(fused.items(), key=lambda pair: (-pair[1], pair[0]))
