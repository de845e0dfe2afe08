"""The reranking extension point: pass `Retriever(..., reranker=...)` to reorder fused hits.

ragft ships no reranker. No reranking model installs offline from PyPI, and scoring candidates
with the generator does not pay on a CPU: at the measured ~100 prompt tokens/s of the default
model on 2 cores, reading 10 candidate passages of up to 200 tokens adds 10-20 s to an answer
that takes ~6.5 s (benchmarks/results/demo.json). A user with a reranker model or service plugs
it in here; the retriever then fetches `candidates` hits and keeps the reranker's first k.
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
