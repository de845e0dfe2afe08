"""API keys mapped to users and groups; only a salted hash of each key is ever stored.

A key looks like `rk_<key id>_<secret>`: the id finds the row, the secret is checked against
sha256(salt + secret) in constant time. Secrets are 32 random bytes, so a fast hash is enough
(there is nothing to brute-force). Removing a user revokes the key but keeps the row, so the
audit log's names stay meaningful; issuing a revoked name a new key moves the old row to
`revoked_keys`, so every key a name ever held stays listed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from datetime import UTC, datetime
from typing import NamedTuple

from ragft.errors import RagftError
from ragft.serve.db import open_serve_db
from ragft.types import User
from ragft.workspace import Workspace

_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY,
    groups TEXT NOT NULL,
    key_id TEXT NOT NULL UNIQUE,
    salt BLOB NOT NULL,
    key_hash BLOB NOT NULL,
    created_at TEXT NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS revoked_keys (
    name TEXT NOT NULL,
    groups TEXT NOT NULL,
    key_id TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    replaced_at TEXT NOT NULL
);
"""
_NAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
_KEY = re.compile(r"^rk_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$")


class UserError(RagftError, ValueError):
    """A user cannot be added or removed as asked (bad name, already exists, unknown)."""


class UserRecord(NamedTuple):
    """One API user as listed: never the key."""

    name: str
    groups: frozenset[str]
    created_at: str
    revoked: bool


class UserRegistry:
    """The workspace's API users, in `.ragft/serve.sqlite3` or the shared PostgreSQL store."""

    def __init__(self, ws: Workspace) -> None:
        self.db = open_serve_db(ws, _SCHEMA)

    def close(self) -> None:
        self.db.close()

    def add(self, name: str, groups: frozenset[str] | set[str] | list[str] | tuple[str, ...] = ()) -> str:
        """Create `name` in `groups` and return its new API key (shown once, never stored)."""
        if not _NAME.match(name):
            raise UserError(f"invalid user name {name!r}: use 1-64 letters, digits, '_', '.', '@' or '-'")
        group_set = sorted({g.strip() for g in groups if g.strip()})
        for group in group_set:
            if not _NAME.match(group):
                raise UserError(f"invalid group name {group!r}: use 1-64 letters, digits, '_', '.', '@' or '-'")
        key_id, secret, salt = secrets.token_hex(8), secrets.token_urlsafe(32), secrets.token_bytes(16)
        with self.db.transaction() as db:
            row = db.execute("SELECT revoked FROM users WHERE name = ?", (name,)).fetchone()
            if row is not None and not row[0]:
                raise UserError(f"user {name!r} already exists; remove it first with `ragft users remove {name}` to issue a new key")
            db.execute(
                "INSERT INTO revoked_keys (name, groups, key_id, created_at, replaced_at) "
                "SELECT name, groups, key_id, created_at, ? FROM users WHERE name = ?",
                (_now(), name),
            )
            db.execute("DELETE FROM users WHERE name = ?", (name,))
            db.execute(
                "INSERT INTO users (name, groups, key_id, salt, key_hash, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                (name, json.dumps(group_set), key_id, salt, _hash(salt, secret), _now()),
            )
        return f"rk_{key_id}_{secret}"

    def remove(self, name: str) -> None:
        """Revoke `name`'s key at once (the row stays, marked revoked)."""
        with self.db.transaction() as db:
            changed = db.execute("UPDATE users SET revoked = 1 WHERE name = ? AND revoked = 0", (name,)).rowcount
        if not changed:
            raise UserError(f"no active user {name!r}; see `ragft users list`")

    def list(self) -> list[UserRecord]:
        """Every user, active and revoked, by name, with each earlier key a name held (revoked) too."""
        rows = self.db.query(
            "SELECT name, groups, created_at, revoked FROM users UNION ALL "
            "SELECT name, groups, created_at, 1 FROM revoked_keys ORDER BY name, created_at, 4 DESC"
        )
        return [UserRecord(name, frozenset(json.loads(groups)), created, bool(revoked)) for name, groups, created, revoked in rows]

    def authenticate(self, key: str) -> User | None:
        """The active user holding `key`, or None for a missing, malformed, wrong or revoked key."""
        match = _KEY.match(key or "")
        if not match:
            return None
        key_id, secret = match.groups()
        rows = self.db.query("SELECT name, groups, salt, key_hash, revoked FROM users WHERE key_id = ?", (key_id,))
        if not rows:
            hmac.compare_digest(_hash(b"\0" * 16, secret), b"\0" * 32)  # same work whether or not the id exists
            return None
        name, groups, salt, key_hash, revoked = rows[0]
        if not hmac.compare_digest(_hash(salt, secret), key_hash) or revoked:
            return None
        return User(name, frozenset(json.loads(groups)))


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _hash(salt: bytes, secret: str) -> bytes:
    return hashlib.sha256(salt + secret.encode("ascii")).digest()
