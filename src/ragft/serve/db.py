"""The serving layer's one SQLite file (`.ragft/serve.sqlite3`): API keys and the audit log.

Kept apart from the document store so serving never holds a write lock the ingester needs.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ragft.errors import RagftError
from ragft.workspace import Workspace

SERVE_DB = "serve.sqlite3"


class ServeStoreError(RagftError, RuntimeError):
    """The serving database cannot be opened or is not a ragft serving database."""


def serve_db_path(ws: Workspace) -> Path:
    """Where a workspace keeps its users and audit log."""
    return ws.state_dir / SERVE_DB


class ServeDB:
    """One connection, shared by threads under a lock; each write is one IMMEDIATE transaction."""

    def __init__(self, path: Path, schema: str) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        try:
            self._db = sqlite3.connect(path, isolation_level=None, timeout=30, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(schema)
        except sqlite3.DatabaseError as exc:
            raise ServeStoreError(f"{path}: not a usable ragft serving database ({exc}); restore it from a backup") from None

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def query(self, sql: str, params: tuple = ()) -> list[tuple]:
        """Rows of a read-only statement."""
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction: all of it lands, or (on error or kill) none of it does."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
