"""Retrieval: BM25 + dense vectors fused by reciprocal rank fusion, filtered by access, over one corpus version."""

from ragft.retrieval.fusion import reciprocal_rank_fusion, top_k_indices
from ragft.retrieval.rerank import Reranker
from ragft.retrieval.retriever import (
    IndexStats,
    RetrievalError,
    Retriever,
    passage_text,
)

__all__ = [
    "IndexStats",
    "Reranker",
    "RetrievalError",
    "Retriever",
    "passage_text",
    "reciprocal_rank_fusion",
    "top_k_indices",
]
