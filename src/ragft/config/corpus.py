"""Settings of the corpus: how documents are cut into chunks, and where documents, users and the audit log live."""

from __future__ import annotations

from dataclasses import dataclass

from ragft.config.schema import Section, above, at_least, setting


@dataclass(frozen=True)
class CorpusConfig(Section):
    """How documents are cut into the chunks that are indexed, trained on and probed."""

    chunk_size_tokens: int = setting(200, range=at_least(1), doc="Chunk size, in tokens of the embedder's tokenizer.")
    chunk_overlap_tokens: int = setting(30, range=at_least(0), doc="Tokens shared by neighbouring chunks (less than chunk_size_tokens).")
    max_file_mb: float = setting(50.0, range=above(0), doc="Files larger than this are skipped with a message (MB).")

    def problem(self) -> str | None:
        if self.chunk_overlap_tokens >= self.chunk_size_tokens:
            return f"chunk_overlap_tokens = {self.chunk_overlap_tokens} must be below chunk_size_tokens = {self.chunk_size_tokens}"
        return None


@dataclass(frozen=True)
class StoreConfig(Section):
    """Where documents, users and the audit log live (the index is built from them)."""

    url: str = setting(
        "sqlite://",
        doc="""
        "sqlite://": embedded files in .ragft/ (one machine). "postgresql://user@host:5432/db": one
        database shared by several `ragft serve` replicas (pip install 'ragft[team]'); the environment
        variable RAGFT_STORE_URL overrides this, to keep a password out of this file.""",
    )

    def problem(self) -> str | None:
        if self.url != "sqlite://" and not self.url.startswith(("postgresql://", "postgres://")):
            return f'url = "{self.url}" is neither "sqlite://" nor a "postgresql://..." URL'
        return None
