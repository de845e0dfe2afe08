"""An append-only, hash-chained audit log of every answered request.

Each entry's hash is sha256(previous hash + canonical JSON of the entry), and a one-row head
table holds the count and the last hash, updated in the same transaction as the insert. So an
edited row breaks its own hash, a deleted or reordered row breaks the chain, and a deleted tail
no longer matches the head. Each append is one transaction: a kill never leaves half an entry.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from ragft.serve.db import ServeDB, serve_db_path
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
    hash TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS audit_head (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    count INTEGER NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_user_time ON audit (user, time);
"""
_COLUMNS = "seq, time, user, question, system, retrieved, cited, corpus_version, answer_sha256, latency_s, prev_hash, hash"


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


class AuditLog:
    """The workspace's audit log, in `.ragft/serve.sqlite3`."""

    def __init__(self, ws: Workspace) -> None:
        self.db = ServeDB(serve_db_path(ws), _SCHEMA)

    def close(self) -> None:
        self.db.close()

    def append(self, *, user: str, question: str, system: str, retrieved: Sequence[str], cited: Sequence[str],
               corpus_version: int | None, answer_text: str, latency_s: float) -> AuditEntry:  # fmt: skip
        """Log one answered request; returns the entry with its seq and hash."""
        with self.db.transaction() as db:
            head = db.execute("SELECT count, hash FROM audit_head WHERE id = 1").fetchone()
            count, prev_hash = head if head else (0, GENESIS)
            body = {
                "seq": count + 1, "time": datetime.now(UTC).isoformat(timespec="microseconds"), "user": user,
                "question": question, "system": system, "retrieved": list(retrieved), "cited": list(cited),
                "corpus_version": corpus_version, "answer_sha256": hashlib.sha256(answer_text.encode("utf-8")).hexdigest(),
                "latency_s": round(float(latency_s), 6),
            }  # fmt: skip
            digest = entry_hash(prev_hash, body)
            db.execute(f"INSERT INTO audit ({_COLUMNS}) VALUES ({', '.join('?' * 12)})",
                       (*_row_values(body), prev_hash, digest))  # fmt: skip
            db.execute("INSERT OR REPLACE INTO audit_head (id, count, hash) VALUES (1, ?, ?)", (count + 1, digest))
        return _entry((*_row_values(body), prev_hash, digest))

    def entries(self, user: str | None = None, since: datetime | str | None = None, limit: int | None = None) -> list[AuditEntry]:
        """Entries in order, optionally only `user`'s and only at or after `since` (UTC if naive)."""
        clauses, params = [], []
        if user is not None:
            clauses.append("user = ?")
            params.append(user)
        if since is not None:
            clauses.append("time >= ?")
            params.append(_iso(since))
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        sql = f"SELECT {_COLUMNS} FROM audit {where} ORDER BY seq"
        if limit is not None:
            sql = f"SELECT * FROM ({sql.replace('ORDER BY seq', 'ORDER BY seq DESC')} LIMIT {int(limit)}) ORDER BY seq"
        return [_entry(row) for row in self.db.query(sql, tuple(params))]

    def verify(self) -> VerifyResult:
        """Recompute the chain; names the first edited, deleted or reordered entry."""
        rows = self.db.query(f"SELECT {_COLUMNS} FROM audit ORDER BY seq")
        head = self.db.query("SELECT count, hash FROM audit_head WHERE id = 1")
        prev_hash, expected_seq = GENESIS, 1
        for row in rows:
            try:
                entry = _entry(row)
            except (TypeError, ValueError) as exc:
                return VerifyResult(False, len(rows), row[0], f"entry {row[0]} is unreadable ({exc})")
            if entry.seq != expected_seq:
                return VerifyResult(False, len(rows), expected_seq, f"entry {expected_seq} is missing (next is {entry.seq})")
            if entry.prev_hash != prev_hash:
                return VerifyResult(False, len(rows), entry.seq, f"entry {entry.seq} does not follow entry {entry.seq - 1} (deleted or reordered)")
            body = {k: v for k, v in entry.to_dict().items() if k not in ("prev_hash", "hash")}
            if entry_hash(prev_hash, body) != entry.hash:
                return VerifyResult(False, len(rows), entry.seq, f"entry {entry.seq} was edited (its hash does not match its contents)")
            prev_hash, expected_seq = entry.hash, expected_seq + 1
        count, head_hash = head[0] if head else (0, GENESIS)
        if count != len(rows) or head_hash != prev_hash:
            return VerifyResult(False, len(rows), len(rows) + 1, f"the log ends at entry {len(rows)} but {count} were written (tail deleted)")
        return VerifyResult(True, len(rows))


def _row_values(body: dict[str, Any]) -> tuple:
    return (body["seq"], body["time"], body["user"], body["question"], body["system"], json.dumps(body["retrieved"]),
            json.dumps(body["cited"]), body["corpus_version"], body["answer_sha256"], body["latency_s"])  # fmt: skip


def _entry(row: Sequence) -> AuditEntry:
    seq, time, user, question, system, retrieved, cited, version, answer_sha, latency, prev_hash, digest = row
    return AuditEntry(int(seq), time, user, question, system, tuple(json.loads(retrieved)), tuple(json.loads(cited)),
                      version, answer_sha, float(latency), prev_hash, digest)  # fmt: skip


def _iso(since: datetime | str) -> str:
    if isinstance(since, str):
        since = datetime.fromisoformat(since)
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    return since.astimezone(UTC).isoformat(timespec="microseconds")
