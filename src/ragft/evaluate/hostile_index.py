"""The index the prompt-injection stage searches: the corpus's chunks plus the bundled hostile documents."""

from __future__ import annotations

from ragft.corpus.chunking import chunk_document
from ragft.corpus.loaders import load_file
from ragft.evaluate.injection import HOSTILE_DIR
from ragft.retrieval.retriever import Retriever
from ragft.systems.build import IndexedCorpus
from ragft.workspace import Workspace


def hostile_retriever(ws: Workspace, indexed: IndexedCorpus) -> Retriever:
    """A warmed retriever over `indexed`'s chunks and the hostile documents (cut like the corpus), in the same index folder."""
    embedder = indexed.retriever.embedder
    count = getattr(embedder, "count_tokens", None)
    chunks = list(indexed.retriever.chunks)
    for path in sorted(HOSTILE_DIR.glob("*.md")):
        for document in load_file(path, f"hostile/{path.name}", max_file_mb=1):
            chunks.extend(chunk_document(document, size_tokens=ws.config.corpus.chunk_size_tokens,
                                         overlap_tokens=ws.config.corpus.chunk_overlap_tokens,
                                         **({"count_tokens": count} if callable(count) else {})))  # fmt: skip
    hostile = Retriever(ws.config.retrieval, embedder, ws.index_dir)
    hostile.warm_up(chunks, version_key=f"corpus-v{indexed.version}-hostile")
    return hostile
