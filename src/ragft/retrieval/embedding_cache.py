"""A persistent cache of chunk embeddings keyed by (embedder, sha256 of the embedded text).

A new corpus version re-embeds only text it has never seen: unchanged chunks, renamed files
and chunks that moved between documents all hit the cache. SQLite gives atomic, crash-safe
writes without a server, and each batch is committed as soon as it is embedded, so an
interrupted build keeps the work it finished.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

_SCHEMA = """
CREATE TABLE IF NOT EXISTS embeddings (
    embedder TEXT NOT NULL,
    text_sha256 TEXT NOT NULL,
    vector BLOB NOT NULL,
    PRIMARY KEY (embedder, text_sha256)
) WITHOUT ROWID
"""
_LOOKUP_BATCH = 500  # well under SQLite's bound-parameter limit


def text_sha256(text: str) -> str:
    """The cache key of a text."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class EmbeddingCache:
    """Float32 vectors of one dimension per embedder key, stored in one SQLite file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=30.0)
        # WAL + NORMAL: commits stay atomic; a power cut may lose the last batches, which are re-embedded.
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(_SCHEMA)
        return conn

    def get_many(self, embedder: str, dim: int, shas: Iterable[str]) -> dict[str, np.ndarray]:
        """Vectors already cached for these text hashes (missing hashes are simply absent)."""
        wanted = list(dict.fromkeys(shas))
        found: dict[str, np.ndarray] = {}
        conn = self._connect()
        try:
            for start in range(0, len(wanted), _LOOKUP_BATCH):
                batch = wanted[start : start + _LOOKUP_BATCH]
                marks = ",".join("?" * len(batch))
                rows = conn.execute(
                    f"SELECT text_sha256, vector FROM embeddings WHERE embedder = ? AND text_sha256 IN ({marks})",
                    [embedder, *batch],
                )
                for sha, blob in rows:
                    vector = np.frombuffer(blob, dtype=np.float32)
                    if vector.shape == (dim,):  # a stale row of another size is treated as missing
                        found[sha] = vector
        finally:
            conn.close()
        return found

    def put_many(self, embedder: str, shas: Sequence[str], vectors: np.ndarray) -> None:
        """Store one vector per hash, in one transaction."""
        if len(shas) != len(vectors):
            raise ValueError(f"put_many: {len(shas)} hashes but {len(vectors)} vectors")
        rows = [(embedder, sha, np.ascontiguousarray(v, dtype=np.float32).tobytes()) for sha, v in zip(shas, vectors)]
        conn = self._connect()
        try:
            with conn:
                conn.executemany("INSERT OR REPLACE INTO embeddings VALUES (?, ?, ?)", rows)
        finally:
            conn.close()
