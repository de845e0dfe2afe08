"""The index the prompt-injection stage searches: the corpus's chunks plus the bundled hostile documents."""

from __future__ import annotations

from ragft.corpus.chunking import chunk_corpus
from ragft.corpus.loaders import load_file
from ragft.evaluate.injection import HOSTILE_DIR
from ragft.models.base import embedder_token_counter
from ragft.retrieval.retriever import Retriever
from ragft.systems.build import IndexedCorpus
from ragft.workspace import Workspace


def hostile_retriever(ws: Workspace, indexed: IndexedCorpus) -> Retriever:
    """A warmed retriever over `indexed`'s chunks and the hostile documents (cut like the corpus), in the same index folder."""
    embedder = indexed.retriever.embedder
    hostile_documents = [
        document for path in sorted(HOSTILE_DIR.glob("*.md")) for document in load_file(path, f"hostile/{path.name}", max_file_mb=1)
    ]
    chunks = [*indexed.retriever.chunks, *chunk_corpus(hostile_documents, ws.config.corpus, embedder_token_counter(embedder))]
    hostile = Retriever(ws.config.retrieval, embedder, ws.index_dir)
    hostile.warm_up(chunks, version_key=f"corpus-v{indexed.version}-hostile")
    return hostile
