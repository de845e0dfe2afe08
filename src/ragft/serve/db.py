"""The serving layer's database: API keys and the audit log.

Embedded (the default), one SQLite file, `.ragft/serve.sqlite3`, kept apart from the document store
so serving never holds a write lock the ingester needs. It holds key hashes and every question
asked, so it is private to its owner (0600, in a 0700 state folder).

With `[store] url = "postgresql://..."` the same tables live in that database, shared by every
replica (`PostgresServeDB`). Callers write one SQL dialect (SQLite's, `?` placeholders, identifiers
that need no quoting in either); `postgres_schema` and the `?` -> `%s` rewrite are the only
translations. Each write transaction takes one advisory lock, so writers are serialised across
replicas exactly as SQLite's BEGIN IMMEDIATE serialises them across threads and processes.
"""

from __future__ import annotations

import os
import re
import sqlite3
import threading
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, Protocol

from ragft.corpus.postgres import connect, create_schema, locked_transaction, redact
from ragft.corpus.store import StoreError
from ragft.errors import RagftError
from ragft.workspace import Workspace

SERVE_DB = "serve.sqlite3"
SERVE_LOCK = 0x7261676674_03  # "ragft" + 3: one writer at a time on the serving tables (the audit chain's head)


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


class Cursor(Protocol):
    """What a statement run in a transaction returns (sqlite3's and psycopg's cursors both are)."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class Executor(Protocol):
    """What a transaction yields: something that runs one statement with `?` placeholders."""

    def execute(self, sql: str, parameters: Any = (), /) -> Cursor: ...


class ServingDB(Protocol):
    """The serving database, embedded or shared: read-only queries and write transactions."""

    def close(self) -> None: ...

    def query(self, sql: str, params: tuple = ()) -> list[tuple]: ...

    def transaction(self) -> AbstractContextManager[Executor]: ...


def open_serve_db(ws: Workspace, schema: str, *, migrations: Mapping[str, tuple[str, str]] | None = None) -> ServingDB:
    """The workspace's serving database: PostgreSQL when its store URL is one, else `.ragft/serve.sqlite3`."""
    if ws.shared_store:
        return PostgresServeDB(ws.store_url, schema, migrations=migrations)
    return ServeDB(serve_db_path(ws), schema, migrations=migrations)


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


_PG_TYPES = {"REAL": "DOUBLE PRECISION", "BLOB": "BYTEA", "TEXT": 'TEXT COLLATE "C"'}


def postgres_schema(schema: str) -> str:
    """A SQLite schema of ragft's serving tables in PostgreSQL's words: REAL is 8 bytes there only as
    DOUBLE PRECISION (a 4-byte float would change the latencies the audit chain hashes), BLOB is BYTEA,
    text sorts bytewise ("C", as in SQLite, so `time >= ?` compares ISO times the same way), and the
    column `user`, a reserved word in PostgreSQL, is quoted."""
    schema = re.sub(r"\b(REAL|BLOB|TEXT)\b", lambda m: _PG_TYPES[m.group(1)], schema)
    return re.sub(r'(?<![\w"])user(?![\w"])', '"user"', schema)


class _PostgresExecutor:
    """Runs SQLite-dialect statements (`?` placeholders) on a psycopg connection."""

    def __init__(self, db: Any) -> None:
        self._db = db

    def execute(self, sql: str, parameters: Any = (), /) -> Cursor:
        return self._db.execute(sql.replace("?", "%s"), tuple(parameters))


class PostgresServeDB:
    """The serving tables in a PostgreSQL database shared by replicas; one connection, shared by threads under a lock."""

    def __init__(self, url: str, schema: str, *, migrations: Mapping[str, tuple[str, str]] | None = None) -> None:
        self.url = url
        self._lock = threading.RLock()
        try:
            self._db = connect(url)
            create_schema(self._db, postgres_schema(schema))
            for table, (column, kind) in (migrations or {}).items():
                self._db.execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {column} {postgres_schema(kind)}")
        except StoreError as exc:
            raise ServeStoreError(str(exc)) from None
        except Exception as exc:  # psycopg.Error, imported lazily
            raise ServeStoreError(f"{redact(url)}: not a usable ragft serving database ({exc})") from None

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def query(self, sql: str, params: tuple = ()) -> list[tuple]:
        """Rows of a read-only statement."""
        with self._lock:
            return _PostgresExecutor(self._db).execute(sql, params).fetchall()

    @contextmanager
    def transaction(self) -> Iterator[Executor]:
        """A write transaction holding the serving lock: all of it lands, or (on error, or a kill that
        drops the connection) none of it does; replicas' writers take turns."""
        with self._lock, locked_transaction(self._db, SERVE_LOCK) as db:
            yield _PostgresExecutor(db)
