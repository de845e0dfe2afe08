"""An append-only, hash-chained audit log of every answered request, MAC'd under a key outside it.

Each entry's hash is sha256(previous hash + canonical JSON of the entry), and a one-row head
table holds the count and the last hash, updated in the same transaction as the insert. So an
edited row breaks its own hash, a deleted or reordered row breaks the chain, and a deleted tail
no longer matches the head. Each entry and the head also carry an HMAC under the audit key (see
`anchor`), so a chain recomputed or a head rewritten without the key is caught too; the anchor
file and checkpoints catch a log wiped or deleted whole (`audit_verify`). Each append is one
transaction: a kill never leaves half an entry.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from ragft.errors import RagftError
from ragft.serve.anchor import Checkpoint, audit_key, mac, read_anchor, write_anchor
from ragft.serve.db import open_serve_db
from ragft.workspace import Workspace

GENESIS = "0" * 64
_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY,
    time TEXT NOT NULL,
    user TEXT NOT NULL,
    question TEXT NOT NULL,
    system TEXT NOT NULL,
    retrieved TEXT NOT NULL,
    cited TEXT NOT NULL,
    corpus_version INTEGER,
    answer_sha256 TEXT NOT NULL,
    latency_s REAL NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL,
    mac TEXT
);
CREATE TABLE IF NOT EXISTS audit_head (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    count INTEGER NOT NULL,
    hash TEXT NOT NULL,
    mac TEXT
);
CREATE INDEX IF NOT EXISTS audit_user_time ON audit (user, time);
"""
_MIGRATIONS = {"audit": ("mac", "TEXT"), "audit_head": ("mac", "TEXT")}  # columns added after the first release
_COLUMNS = 'seq, time, "user", question, system, retrieved, cited, corpus_version, answer_sha256, latency_s, prev_hash, hash'  # "user": reserved in PostgreSQL


@dataclass(frozen=True)
class AuditEntry:
    """One answered request, as logged."""

    seq: int
    time: str  # ISO 8601, UTC
    user: str
    question: str
    system: str
    retrieved: tuple[str, ...]  # chunk ids, in rank order
    cited: tuple[str, ...]  # chunk ids
    corpus_version: int | None
    answer_sha256: str
    latency_s: float
    prev_hash: str
    hash: str

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "retrieved": list(self.retrieved), "cited": list(self.cited)}


@dataclass(frozen=True)
class VerifyResult:
    """Whether the chain is intact; if not, the first entry that is wrong and why."""

    ok: bool
    entries: int
    first_bad_seq: int | None = None
    reason: str = ""


def entry_hash(prev_hash: str, body: dict[str, Any]) -> str:
    """sha256 of the previous hash and the entry's canonical JSON (sorted keys, no spaces)."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256((prev_hash + canonical).encode("utf-8")).hexdigest()


class AuditQueryError(RagftError, ValueError):
    """An audit query cannot be run as given (e.g. a `since` time that is not a usable ISO 8601 time)."""


class AuditLog:
    """The workspace's audit log, in `.ragft/serve.sqlite3` or the shared PostgreSQL store."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self.db = open_serve_db(ws, _SCHEMA, migrations=_MIGRATIONS)
        self._key: bytes | None = None

    def close(self) -> None:
        self.db.close()

    def append(
        self,
        *,
        user: str,
        question: str,
        system: str,
        retrieved: Sequence[str],
        cited: Sequence[str],
        corpus_version: int | None,
        answer_text: str,
        latency_s: float,
    ) -> AuditEntry:
        """Log one answered request; returns the entry with its seq and hash."""
        if self._key is None:
            self._key = audit_key(self.ws, create=True)
        key = self._key
        assert key is not None  # create=True always yields a key
        with self.db.transaction() as db:
            head = db.execute("SELECT count, hash FROM audit_head WHERE id = 1").fetchone()
            count, prev_hash = head if head else (0, GENESIS)
            body = {
                "seq": count + 1,
                "time": datetime.now(UTC).isoformat(timespec="microseconds"),
                "user": user,
                "question": question,
                "system": system,
                "retrieved": list(retrieved),
                "cited": list(cited),
                "corpus_version": corpus_version,
                "answer_sha256": hashlib.sha256(answer_text.encode("utf-8")).hexdigest(),
                "latency_s": round(float(latency_s), 6),
            }
            digest = entry_hash(prev_hash, body)
            if (
                count == 0 and read_anchor(self.ws) is None
            ):  # the log starts; a restart after a wipe keeps the old anchor, so verify reports it
                write_anchor(self.ws, key, digest)
            db.execute(
                f"INSERT INTO audit ({_COLUMNS}, mac) VALUES ({', '.join('?' * 13)})",
                (*_row_values(body), prev_hash, digest, mac(key, "entry", digest)),
            )
            db.execute(
                "INSERT INTO audit_head (id, count, hash, mac) VALUES (1, ?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET count = excluded.count, hash = excluded.hash, mac = excluded.mac",
                (count + 1, digest, mac(key, "head", count + 1, digest)),
            )
        return _entry((*_row_values(body), prev_hash, digest))

    def entries(self, user: str | None = None, since: datetime | str | None = None, limit: int | None = None) -> list[AuditEntry]:
        """Entries in order, optionally only `user`'s and only at or after `since` (UTC if naive)."""
        clauses, params = [], []
        if user is not None:
            clauses.append('"user" = ?')
            params.append(user)
        if since is not None:
            clauses.append("time >= ?")
            params.append(_iso(since))
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        sql = f"SELECT {_COLUMNS} FROM audit {where} ORDER BY seq"
        if limit is not None:
            sql = f"SELECT * FROM ({sql.replace('ORDER BY seq', 'ORDER BY seq DESC')} LIMIT {int(limit)}) AS recent ORDER BY seq"
        return [_entry(row) for row in self.db.query(sql, tuple(params))]

    def logged_versions(self, system: str) -> set[int]:
        """The corpus versions that entries of `system` (e.g. "ingest") name."""
        rows = self.db.query("SELECT DISTINCT corpus_version FROM audit WHERE system = ? AND corpus_version IS NOT NULL", (system,))
        return {version for (version,) in rows if isinstance(version, int)}

    def verify(self, checkpoint: Checkpoint | None = None) -> VerifyResult:
        """Check the chain, its MACs, the anchor and (if given) a checkpoint; names the first bad entry."""
        from ragft.serve.audit_verify import verify_audit

        return verify_audit(self.ws, checkpoint)

    def checkpoint(self) -> Checkpoint:
        """The log's count and head hash now, MAC'd: for the operator to store away from this machine."""
        key = audit_key(self.ws, create=True)
        assert key is not None
        head = self.db.query("SELECT count, hash FROM audit_head WHERE id = 1")
        count, head_hash = head[0] if head else (0, GENESIS)
        return Checkpoint.make(key, count, head_hash)


def _row_values(body: dict[str, Any]) -> tuple:
    return (
        body["seq"],
        body["time"],
        body["user"],
        body["question"],
        body["system"],
        json.dumps(body["retrieved"]),
        json.dumps(body["cited"]),
        body["corpus_version"],
        body["answer_sha256"],
        body["latency_s"],
    )


def _entry(row: Sequence) -> AuditEntry:
    """An entry from its row; TypeError for a row whose columns have the wrong types (an edited database)."""
    seq, time, user, question, system, retrieved, cited, version, answer_sha, latency, prev_hash, digest = row
    for name, value in (
        ("time", time),
        ("user", user),
        ("question", question),
        ("system", system),
        ("retrieved", retrieved),
        ("cited", cited),
        ("answer_sha256", answer_sha),
        ("prev_hash", prev_hash),
        ("hash", digest),
    ):
        if not isinstance(value, str):
            raise TypeError(f"{name} is a {type(value).__name__}, not text")
    if not isinstance(seq, int) or not (version is None or isinstance(version, int)) or not isinstance(latency, int | float):
        raise TypeError("seq, corpus_version or latency_s has the wrong type")
    retrieved_ids, cited_ids = json.loads(retrieved), json.loads(cited)
    if not (isinstance(retrieved_ids, list) and isinstance(cited_ids, list)):
        raise TypeError("retrieved or cited is not a JSON list")
    return AuditEntry(
        seq,
        time,
        user,
        question,
        system,
        tuple(map(str, retrieved_ids)),
        tuple(map(str, cited_ids)),
        version,
        answer_sha,
        float(latency),
        prev_hash,
        digest,
    )


def _iso(since: datetime | str) -> str:
    """`since` as the log's UTC ISO form, or AuditQueryError (an unparsable time, or one that leaves the calendar in UTC)."""
    try:
        if isinstance(since, str):
            since = datetime.fromisoformat(since)
        if since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        return since.astimezone(UTC).isoformat(timespec="microseconds")
    except (ValueError, OverflowError) as exc:
        raise AuditQueryError(f"since: {str(since)!r} is not a usable ISO 8601 time ({exc}); e.g. 2025-01-31T09:00:00+00:00") from None
