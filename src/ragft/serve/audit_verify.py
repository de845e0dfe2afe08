"""`ragft audit verify`: every way the audit log can have been rewritten, checked without changing it.

It opens the database without creating anything (a deleted database or dropped tables must be
reported, not silently recreated empty), then checks in order: each row's chain link, hash and MAC;
the head record's count, hash and MAC (a deleted tail); the anchor (a log wiped, replaced or
deleted); and a checkpoint, when given (a truncated tail, or a log deleted with its anchor).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from ragft.corpus.postgres import connect, redact
from ragft.corpus.store import StoreError
from ragft.serve.anchor import (
    AUDIT_KEY_ENV,
    KEY_FILE,
    Checkpoint,
    anchor_ok,
    audit_key,
    mac_ok,
    read_anchor,
)
from ragft.serve.audit import _COLUMNS, GENESIS, VerifyResult, _entry, entry_hash
from ragft.serve.db import serve_db_path
from ragft.workspace import Workspace


def verify_audit(ws: Workspace, checkpoint: Checkpoint | None = None) -> VerifyResult:
    """Whether the workspace's audit log is intact; if not, the first entry that is wrong and why."""
    key = audit_key(ws, create=False)
    anchor = read_anchor(ws)
    rows, head, missing = _read(ws)
    if key is None and (rows or anchor is not None or checkpoint is not None):
        return VerifyResult(
            False,
            len(rows),
            1,
            f"no audit key: set {AUDIT_KEY_ENV} or restore {ws.state_dir / KEY_FILE}; without it no entry can be trusted",
        )
    if missing:
        if anchor is not None or (checkpoint is not None and checkpoint.count > 0):
            return VerifyResult(False, 0, 1, f"{missing}, but the audit log had been started: it was deleted")
        return VerifyResult(True, 0)
    assert key is not None or not rows
    for check in (_check_rows, _check_head, _check_anchor, _check_checkpoint):
        problem = check(key or b"", rows, head=head, anchor=anchor, checkpoint=checkpoint)
        if problem is not None:
            return VerifyResult(False, len(rows), problem[0], problem[1])
    return VerifyResult(True, len(rows))


def _read(ws: Workspace) -> tuple[list[tuple], tuple | None, str]:
    """(rows with their MAC, head row or None, '' or what is missing) without creating anything."""
    if ws.shared_store:
        return _read_postgres(ws.store_url)
    path = serve_db_path(ws)
    if not path.exists():
        return [], None, f"{path} does not exist"
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        return [], None, f"{path} cannot be opened ({exc})"
    try:
        tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not {"audit", "audit_head"} <= tables:
            return [], None, f"the audit tables in {path} are missing (dropped)"
        columns = {row[1] for row in db.execute("PRAGMA table_info(audit)")}
        mac_column = "mac" if "mac" in columns else "NULL"
        head_mac = "mac" if "mac" in {row[1] for row in db.execute("PRAGMA table_info(audit_head)")} else "NULL"
        rows = db.execute(f"SELECT {_COLUMNS}, {mac_column} FROM audit ORDER BY seq").fetchall()
        head = db.execute(f"SELECT count, hash, {head_mac} FROM audit_head WHERE id = 1").fetchone()
        return rows, head, ""
    except sqlite3.Error as exc:
        return [], None, f"{path} is not a readable database ({exc})"
    finally:
        db.close()


def _read_postgres(url: str) -> tuple[list[tuple], tuple | None, str]:
    """`_read` for a PostgreSQL store, in a read-only transaction: dropped tables are reported, not recreated."""
    try:
        db = connect(url)
    except StoreError as exc:
        return [], None, str(exc)
    try:
        with db.transaction():
            db.execute("SET TRANSACTION READ ONLY")
            present = db.execute("SELECT to_regclass('audit') IS NOT NULL AND to_regclass('audit_head') IS NOT NULL").fetchone()[0]
            if not present:
                return [], None, f"the audit tables in {redact(url)} are missing (dropped)"
            rows = db.execute(f"SELECT {_COLUMNS}, mac FROM audit ORDER BY seq").fetchall()
            head = db.execute("SELECT count, hash, mac FROM audit_head WHERE id = 1").fetchone()
            return rows, head, ""
    except Exception as exc:  # psycopg.Error, imported lazily
        return [], None, f"{redact(url)} is not a readable ragft database ({str(exc).strip()})"
    finally:
        db.close()


Problem = tuple[int, str] | None


def _check_rows(key: bytes, rows: Sequence[tuple], **_: object) -> Problem:
    prev_hash, expected_seq = GENESIS, 1
    for row in rows:
        seq = row[0]
        try:
            entry = _entry(row[:-1])
            body = {k: v for k, v in entry.to_dict().items() if k not in ("prev_hash", "hash")}
            digest = entry_hash(prev_hash, body)
        except (TypeError, ValueError, RecursionError) as exc:
            return expected_seq, f"entry {seq!r} is unreadable ({exc}): the database was edited"
        if entry.seq != expected_seq:
            return expected_seq, f"entry {expected_seq} is missing (next is {entry.seq})"
        if entry.prev_hash != prev_hash:
            return entry.seq, f"entry {entry.seq} does not follow entry {entry.seq - 1} (deleted or reordered)"
        if digest != entry.hash:
            return entry.seq, f"entry {entry.seq} was edited (its hash does not match its contents)"
        if not mac_ok(key, row[-1], "entry", entry.hash):
            return entry.seq, f"entry {entry.seq} has no valid MAC: it was written or rewritten without the audit key"
        prev_hash, expected_seq = entry.hash, expected_seq + 1
    return None


def _check_head(key: bytes, rows: Sequence[tuple], *, head: tuple | None, **_: object) -> Problem:
    last_hash = rows[-1][11] if rows else GENESIS
    if head is None:
        return (len(rows) + 1, "the head record is missing (deleted)") if rows else None
    count, head_hash, head_mac = head
    if not mac_ok(key, head_mac, "head", count, head_hash):
        return len(rows) + 1, "the head record has no valid MAC: it was rewritten without the audit key"
    if count != len(rows) or head_hash != last_hash:
        return len(rows) + 1, f"the log ends at entry {len(rows)} but {count} were written (tail deleted)"
    return None


def _check_anchor(key: bytes, rows: Sequence[tuple], *, anchor: dict | None, **_: object) -> Problem:
    if anchor is None:
        return (1, "the anchor file .ragft/audit.anchor is missing (deleted)") if rows else None
    if not anchor_ok(key, anchor):
        return 1, "the anchor file .ragft/audit.anchor was edited (its MAC does not match)"
    if not rows:
        return 1, f"the log is empty but was started at {anchor.get('created')}: every entry was deleted"
    if rows[0][11] != anchor.get("first_hash"):
        return 1, f"entry 1 is not the one the log started with at {anchor.get('created')}: the log was wiped and restarted"
    return None


def _check_checkpoint(key: bytes, rows: Sequence[tuple], *, checkpoint: Checkpoint | None, **_: object) -> Problem:
    if checkpoint is None:
        return None
    if not checkpoint.is_authentic(key):
        return checkpoint.count, f"the checkpoint of {checkpoint.time} was not made with this audit key (or was edited)"
    if checkpoint.count > len(rows):
        return len(
            rows
        ) + 1, f"the checkpoint of {checkpoint.time} saw {checkpoint.count} entries, the log has {len(rows)}: its tail was deleted"
    if checkpoint.count and rows[checkpoint.count - 1][11] != checkpoint.head_hash:
        return (
            checkpoint.count,
            f"entry {checkpoint.count} differs from the one the checkpoint of {checkpoint.time} saw: the log was rewritten",
        )
    return None
