"""The serving layer's one SQLite file (`.ragft/serve.sqlite3`): API keys and the audit log.

Kept apart from the document store so serving never holds a write lock the ingester needs. It holds
key hashes and every question asked, so it is private to its owner (0600, in a 0700 state folder).
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator, Mapping
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


def make_private(path: Path) -> None:
    """Make `path`'s folder (0700) and, empty, the file itself (0600) unless they exist; tighten them if they do."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    if not path.exists():
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    os.chmod(path, 0o600)


class ServeDB:
    """One connection, shared by threads under a lock; each write is one IMMEDIATE transaction."""

    def __init__(self, path: Path, schema: str, *, migrations: Mapping[str, tuple[str, str]] | None = None) -> None:
        """Open (creating if needed) `path` with `schema`; `migrations` maps a table to a column it
        must have (name, type), added to databases made before that column existed."""
        self.path = path
        make_private(path)
        self._lock = threading.RLock()
        try:
            self._db = sqlite3.connect(path, isolation_level=None, timeout=30, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(schema)
            for table, (column, kind) in (migrations or {}).items():
                if column not in {row[1] for row in self._db.execute(f"PRAGMA table_info({table})")}:
                    self._db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
        except sqlite3.DatabaseError as exc:
            raise ServeStoreError(f"{path}: not a usable ragft serving database ({exc}); restore it from a backup") from None
        for suffix in ("", "-wal", "-shm"):  # made before the umask could widen them; fix older ones too
            sibling = path.with_name(path.name + suffix)
            if sibling.exists():
                os.chmod(sibling, 0o600)

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
