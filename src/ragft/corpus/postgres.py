"""The document store in PostgreSQL, for several `ragft serve` replicas sharing one source of truth.

Same tables and guarantees as `SQLiteStore`: one ingest is one transaction (a crash or kill -9 of the
ingesting process rolls it back, so no version is half-written and none is lost), and versions are
numbered without gaps. Two replicas committing at once are serialised by a transaction-level
advisory lock (`pg_advisory_xact_lock`): it is held from the `MAX(version)` read to the commit and
released by PostgreSQL on commit, rollback or a dead connection, so a killed replica never leaves
it held. Text columns sort with the "C" collation, so documents come back in the same (bytewise)
order as from SQLite whatever the database's locale, and indexes built from either are identical.

`connect(url)` is the one place a PostgreSQL connection is made (the serving database uses it too).
psycopg is imported there, so the embedded default never needs it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from ragft.corpus.store import (
    IngestPlan,
    StoreError,
    VersionedReads,
    _document_to_row,
    _pause_for_crash_tests,
)

POSTGRES_SCHEMES = ("postgresql://", "postgres://")
SCHEMA_LOCK = 0x7261676674_01  # "ragft" + 1: creating tables (two replicas starting at once)
STORE_LOCK = 0x7261676674_02  # committing a corpus version

_SCHEMA = """
CREATE TABLE IF NOT EXISTS versions (
    version INTEGER PRIMARY KEY, created_at TEXT COLLATE "C" NOT NULL,
    added INTEGER NOT NULL, changed INTEGER NOT NULL, removed INTEGER NOT NULL, note TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS documents (
    doc_id TEXT COLLATE "C" NOT NULL, doc_version INTEGER NOT NULL, title TEXT NOT NULL, text TEXT NOT NULL,
    source TEXT NOT NULL, acl TEXT NOT NULL, metadata TEXT NOT NULL, created_in INTEGER NOT NULL,
    PRIMARY KEY (doc_id, doc_version)
);
CREATE TABLE IF NOT EXISTS members (
    version INTEGER NOT NULL, doc_id TEXT COLLATE "C" NOT NULL, doc_version INTEGER NOT NULL,
    PRIMARY KEY (version, doc_id)
);
"""


def is_postgres_url(url: str) -> bool:
    return url.startswith(POSTGRES_SCHEMES)


def redact(url: str) -> str:
    """`url` without its password, for messages and logs."""
    scheme, sep, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    if not at:
        return url
    user = credentials.split(":", 1)[0]
    return f"{scheme}{sep}{user}:***@{host}"


def connect(url: str) -> Any:
    """An autocommit psycopg connection to `url`, or StoreError saying what to install or check."""
    try:
        import psycopg
    except ImportError:
        raise StoreError("a postgresql:// store needs the PostgreSQL driver: pip install 'ragft[team]' (psycopg 3)") from None
    try:
        return psycopg.connect(url, autocommit=True, connect_timeout=10)
    except psycopg.Error as exc:
        raise StoreError(
            f"cannot connect to the store at {redact(url)} ({str(exc).strip()}); check [store] url (or RAGFT_STORE_URL) and that the server runs"
        ) from None


@contextmanager
def locked_transaction(db: Any, lock: int) -> Iterator[Any]:
    """A transaction holding advisory lock `lock` until it commits or rolls back (errors and kills included)."""
    with db.transaction():
        db.execute("SELECT pg_advisory_xact_lock(%s)", (lock,))
        yield db


def create_schema(db: Any, schema: str) -> None:
    """Run `schema` (CREATE ... IF NOT EXISTS) under the schema lock: concurrent CREATEs of one table can clash."""
    with locked_transaction(db, SCHEMA_LOCK):
        db.execute(schema)


class PostgresStore(VersionedReads):
    """The versioned document store in a PostgreSQL database (`[store] url = "postgresql://..."`)."""

    _param = "%s"

    def __init__(self, url: str) -> None:
        self.url = url
        self._db = connect(url)
        create_schema(self._db, _SCHEMA)

    def close(self) -> None:
        self._db.close()

    def commit(self, plan: IngestPlan, *, note: str = "") -> int | None:
        """Apply `plan` as one new corpus version, atomically; None when it changes nothing."""
        if plan.is_empty:
            return None
        _check_no_nul(plan)
        with locked_transaction(self._db, STORE_LOCK) as db:
            previous = db.execute("SELECT MAX(version) FROM versions").fetchone()[0]
            version = (previous or 0) + 1
            new_docs = [self._next_doc_version(doc) for doc in (*plan.added, *plan.changed)]
            with db.cursor() as cur:
                cur.executemany(
                    "INSERT INTO documents VALUES (%s, %s, %s, %s, %s, %s, %s, %s)", [_document_to_row(doc, version) for doc in new_docs]
                )
                replaced = {doc.doc_id for doc in new_docs} | set(plan.removed)
                if previous is not None:
                    members = db.execute("SELECT doc_id, doc_version FROM members WHERE version = %s", (previous,)).fetchall()
                    kept = [(version, doc_id, doc_version) for doc_id, doc_version in members if doc_id not in replaced]
                    cur.executemany("INSERT INTO members VALUES (%s, %s, %s)", kept)
                cur.executemany("INSERT INTO members VALUES (%s, %s, %s)", [(version, d.doc_id, d.version) for d in new_docs])
            _pause_for_crash_tests()
            db.execute(
                "INSERT INTO versions VALUES (%s, %s, %s, %s, %s, %s)",
                (version, datetime.now(UTC).isoformat(timespec="seconds"), len(plan.added), len(plan.changed), len(plan.removed), note),
            )
        return version


def _check_no_nul(plan: IngestPlan) -> None:
    """PostgreSQL text cannot hold NUL characters: name the document instead of failing mid-transaction."""
    for doc in (*plan.added, *plan.changed):
        for name in ("doc_id", "title", "text", "source"):
            if "\x00" in getattr(doc, name):
                raise StoreError(f"document '{doc.doc_id}': its {name} contains a NUL character, which PostgreSQL cannot store; remove it")
