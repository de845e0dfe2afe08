"""What every system over a workspace shares: the indexed corpus and the decoding settings.

Which systems exist and how each is put together is the arm registry's (`ragft.arms.build`);
this module chunks the corpus, warms the retriever and reads the decoding settings, so every
arm searches the same index and decodes the same way.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from ragft.corpus.chunking import chunk_corpus
from ragft.models.base import DecodingSettings, Embedder, embedder_token_counter
from ragft.models.factory import build_embedder
from ragft.retrieval.retriever import IndexStats, Retriever
from ragft.types import Chunk
from ragft.workspace import Workspace


@dataclass(frozen=True)
class IndexedCorpus:
    """A warmed retriever over one corpus version, and what indexing it cost."""

    retriever: Retriever
    version: int
    chunks: int
    stats: IndexStats
    chunking_s: float


def decoding_settings(ws: Workspace) -> DecodingSettings:
    """The one DecodingSettings every system in this workspace uses."""
    d = ws.config.decoding
    return DecodingSettings(max_new_tokens=d.max_new_tokens, temperature=d.temperature, top_p=d.top_p, seed=d.seed)


def corpus_chunks(ws: Workspace, embedder: Embedder, version: int | None = None) -> list[Chunk]:
    """Chunks of every document in a corpus version, sized in the embedder's tokens."""
    return chunk_corpus(ws.store.documents(version), ws.config.corpus, embedder_token_counter(embedder))


def index_corpus(ws: Workspace, version: int | None = None, *, embedder: Embedder | None = None) -> IndexedCorpus:
    """Build or load the retrieval index for a corpus version (incremental: only new text is embedded)."""
    version = version or ws.store.latest_version()
    embedder = embedder or build_embedder(ws.config.models)
    warm_up = getattr(embedder, "warm_up", None)
    if callable(warm_up):
        warm_up()
    started = time.perf_counter()
    chunks = corpus_chunks(ws, embedder, version)
    chunking_s = time.perf_counter() - started
    retriever = Retriever(ws.config.retrieval, embedder, ws.index_dir)
    stats = retriever.warm_up(chunks, version_key=f"corpus-v{version}")
    return IndexedCorpus(retriever=retriever, version=version or 0, chunks=len(chunks), stats=stats, chunking_s=chunking_s)
