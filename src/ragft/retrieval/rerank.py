"""The reranking extension point: anything that reorders fused hits for a query.

The RAG system can plug its generator in here (score each candidate by asking the model);
`NoOpReranker` is the built-in that keeps the fused order, and the contract's first user.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from ragft.types import Hit


@runtime_checkable
class Reranker(Protocol):
    """Reorders candidate hits for a query; may drop hits, must not add new chunks."""

    def rerank(self, query: str, hits: Sequence[Hit]) -> list[Hit]:
        """Return `hits` best first (the retriever keeps the first k)."""
        ...


class NoOpReranker:
    """Keeps the fused order unchanged."""

    def rerank(self, query: str, hits: Sequence[Hit]) -> list[Hit]:
        return list(hits)
