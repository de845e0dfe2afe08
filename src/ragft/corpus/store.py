"""The versioned document store: every ingest that changes anything makes a new corpus version.

A corpus version is a set of (doc_id, doc_version) members. Unchanged documents are shared
between versions, a changed one gets a new document version, a removed one simply is not a
member of the new version — so every earlier version stays readable. One ingest is one SQLite
transaction: a crash or kill mid-ingest leaves the previous version exactly as it was.

`DocumentStore` is the interface; `SQLiteStore` the embedded backend, `corpus.postgres.PostgresStore`
the shared one (`[store] url`).
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from ragft.errors import RagftError
from ragft.types import Document


class StoreError(RagftError, RuntimeError):
    """The store cannot do what was asked; the message says why and what to do."""


@dataclass(frozen=True)
class VersionInfo:
    """One corpus version and what its ingest changed."""

    version: int
    created_at: str
    documents: int
    added: int
    changed: int
    removed: int
    note: str


@dataclass(frozen=True)
class IngestPlan:
    """What an ingest will change: new documents, new versions of documents, and removals."""

    added: tuple[Document, ...] = ()
    changed: tuple[Document, ...] = ()
    removed: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()

    @property
    def is_empty(self) -> bool:
        return not (self.added or self.changed or self.removed)


class DocumentStore(Protocol):
    """Versioned documents; implementations must make `commit` atomic."""

    def latest_version(self) -> int | None: ...

    def versions(self) -> list[VersionInfo]: ...

    def documents(self, version: int | None = None) -> list[Document]: ...

    def document(self, doc_id: str, version: int | None = None) -> Document: ...

    def history(self, doc_id: str) -> list[Document]: ...

    def commit(self, plan: IngestPlan, *, note: str = "") -> int | None: ...

    def close(self) -> None: ...


_SCHEMA = """
CREATE TABLE IF NOT EXISTS versions (
    version INTEGER PRIMARY KEY, created_at TEXT NOT NULL,
    added INTEGER NOT NULL, changed INTEGER NOT NULL, removed INTEGER NOT NULL, note TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS documents (
    doc_id TEXT NOT NULL, doc_version INTEGER NOT NULL, title TEXT NOT NULL, text TEXT NOT NULL,
    source TEXT NOT NULL, acl TEXT NOT NULL, metadata TEXT NOT NULL, created_in INTEGER NOT NULL,
    PRIMARY KEY (doc_id, doc_version)
);
CREATE TABLE IF NOT EXISTS members (
    version INTEGER NOT NULL, doc_id TEXT NOT NULL, doc_version INTEGER NOT NULL,
    PRIMARY KEY (version, doc_id)
);
"""


class VersionedReads:
    """The reads every document store shares, in one SQL text for SQLite and PostgreSQL.

    A subclass sets `_db` (a DB-API connection whose `execute` returns a cursor) and `_param`, its
    driver's placeholder; queries here are written with `?` and translated, so the two stores
    cannot drift apart in what they read.
    """

    _db: Any
    _param = "?"

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self._db.execute(sql.replace("?", self._param), params)

    def latest_version(self) -> int | None:
        return self._execute("SELECT MAX(version) FROM versions").fetchone()[0]

    def versions(self) -> list[VersionInfo]:
        rows = self._execute(
            "SELECT v.version, v.created_at, COUNT(m.doc_id), v.added, v.changed, v.removed, v.note "
            "FROM versions v LEFT JOIN members m ON m.version = v.version GROUP BY v.version ORDER BY v.version"
        )
        return [VersionInfo(*row) for row in rows]

    def documents(self, version: int | None = None) -> list[Document]:
        version = self._resolve(version)
        rows = self._execute(
            f"SELECT {_DOC_COLUMNS} FROM members m JOIN documents d USING (doc_id, doc_version) WHERE m.version = ? ORDER BY d.doc_id",
            (version,),
        )
        return [_row_to_document(row) for row in rows]

    def document(self, doc_id: str, version: int | None = None) -> Document:
        version = self._resolve(version)
        row = self._execute(
            f"SELECT {_DOC_COLUMNS} FROM members m JOIN documents d USING (doc_id, doc_version) WHERE m.version = ? AND m.doc_id = ?",
            (version, doc_id),
        ).fetchone()
        if row is None:
            raise StoreError(f"no document '{doc_id}' in corpus version {version}; see `ragft corpus show` for the list")
        return _row_to_document(row)

    def history(self, doc_id: str) -> list[Document]:
        rows = self._execute(f"SELECT {_DOC_COLUMNS} FROM documents d WHERE d.doc_id = ? ORDER BY d.doc_version", (doc_id,))
        return [_row_to_document(row) for row in rows]

    def _next_doc_version(self, doc: Document) -> Document:
        latest = self._execute("SELECT MAX(doc_version) FROM documents WHERE doc_id = ?", (doc.doc_id,)).fetchone()[0]
        return replace(doc, version=(latest or 0) + 1)

    def _resolve(self, version: int | None) -> int:
        latest = self.latest_version()
        if latest is None:
            raise StoreError("the corpus is empty; add documents with `ragft ingest PATH`")
        if version is None:
            return latest
        if not 1 <= version <= latest:
            raise StoreError(f"no corpus version {version}; versions are 1..{latest} (see `ragft corpus log`)")
        return version


class SQLiteStore(VersionedReads):
    """The embedded store: one SQLite file in the workspace's `.ragft/` folder."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(path, isolation_level=None, timeout=30)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{path}: not a usable ragft store ({exc}); restore it from a backup or remove it and ingest again") from None

    def close(self) -> None:
        self._db.close()

    def commit(self, plan: IngestPlan, *, note: str = "") -> int | None:
        """Apply `plan` as one new corpus version, atomically; None when it changes nothing."""
        if plan.is_empty:
            return None
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            previous = db.execute("SELECT MAX(version) FROM versions").fetchone()[0]
            version = (previous or 0) + 1
            new_docs = [self._next_doc_version(doc) for doc in (*plan.added, *plan.changed)]
            db.executemany(
                "INSERT INTO documents VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [_document_to_row(doc, version) for doc in new_docs],
            )
            replaced = {doc.doc_id for doc in new_docs} | set(plan.removed)
            if previous is not None:
                kept = [
                    (version, doc_id, doc_version)
                    for doc_id, doc_version in db.execute("SELECT doc_id, doc_version FROM members WHERE version = ?", (previous,))
                    if doc_id not in replaced
                ]
                db.executemany("INSERT INTO members VALUES (?, ?, ?)", kept)
            db.executemany("INSERT INTO members VALUES (?, ?, ?)", [(version, d.doc_id, d.version) for d in new_docs])
            _pause_for_crash_tests()
            db.execute(
                "INSERT INTO versions VALUES (?, ?, ?, ?, ?, ?)",
                (version, datetime.now(UTC).isoformat(timespec="seconds"), len(plan.added), len(plan.changed), len(plan.removed), note),
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return version


_DOC_COLUMNS = "d.doc_id, d.doc_version, d.title, d.text, d.source, d.acl, d.metadata"


def _row_to_document(row: Sequence) -> Document:
    doc_id, doc_version, title, text, source, acl, metadata = row
    return Document(
        doc_id=doc_id,
        title=title,
        text=text,
        source=source,
        version=doc_version,
        acl=frozenset(json.loads(acl)),
        metadata=json.loads(metadata),
    )


def _document_to_row(doc: Document, corpus_version: int) -> tuple:
    return (
        doc.doc_id,
        doc.version,
        doc.title,
        doc.text,
        doc.source,
        json.dumps(sorted(doc.acl)),
        json.dumps(dict(doc.metadata), ensure_ascii=False),
        corpus_version,
    )


def _pause_for_crash_tests() -> None:
    """Hold the open transaction for RAGFT_TEST_COMMIT_PAUSE_S seconds, so a test can kill -9 here."""
    pause_s = os.environ.get("RAGFT_TEST_COMMIT_PAUSE_S")
    if pause_s:
        print("ragft: commit paused for crash test", flush=True)
        time.sleep(float(pause_s))
