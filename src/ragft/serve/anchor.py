"""What anchors the audit chain outside its database: a MAC key, a first-entry anchor and checkpoints.

A hash chain alone proves nothing against someone who can write the database: they can delete the
tail and fix the head, or recompute every hash after an edit. So every entry and the head record
also carry HMAC-SHA256 under a key that is not in the database:

- `RAGFT_AUDIT_KEY` (any string of 16+ characters) when set: the operator keeps it in a secrets
  manager, so even someone who can read the whole state folder cannot forge entries;
- otherwise `.ragft/audit.key` (32 random bytes, hex, mode 0600), made on the first entry: this
  stops anyone who can edit or replace `serve.sqlite3` (a restored copy, SQL access, a tool that
  rewrites it) but not someone who can read the key file.

`.ragft/audit.anchor` records the MAC of entry 1 when the log starts, so a wiped, dropped or deleted
log (which would otherwise verify as an empty, "intact" one) is reported. A checkpoint (`ragft audit
checkpoint`) is the count and head hash at a time, MAC'd, for the operator to store elsewhere: with
it `verify` also catches a truncated tail, or a log deleted together with its anchor file.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ragft.errors import RagftError
from ragft.files import write_atomic
from ragft.workspace import Workspace

AUDIT_KEY_ENV = "RAGFT_AUDIT_KEY"
KEY_FILE = "audit.key"
ANCHOR_FILE = "audit.anchor"
MIN_ENV_KEY_CHARS = 16


class AuditKeyError(RagftError, RuntimeError):
    """The audit key or a checkpoint cannot be used as given."""


def audit_key(ws: Workspace, *, create: bool) -> bytes | None:
    """The MAC key: `RAGFT_AUDIT_KEY`, else `.ragft/audit.key` (made 0600 when `create`), else None."""
    env = os.environ.get(AUDIT_KEY_ENV)
    if env:
        if len(env) < MIN_ENV_KEY_CHARS:
            raise AuditKeyError(f"{AUDIT_KEY_ENV} is {len(env)} characters; use at least {MIN_ENV_KEY_CHARS} random ones")
        return env.encode("utf-8")
    path = ws.state_dir / KEY_FILE
    if not path.exists() and create:
        _create_key_file(path)
    if not path.exists():
        return None
    try:
        return bytes.fromhex(path.read_text(encoding="ascii").strip())
    except (OSError, ValueError) as exc:
        raise AuditKeyError(f"{path}: unreadable audit key ({exc}); restore it from your backup") from None


def _create_key_file(path: Path) -> None:
    """Make the key file whole or not at all: written to a private temporary file, then linked into
    place (which fails if it exists), so a process racing this one never reads a half-written key."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(secrets.token_hex(32) + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.link(temporary, path)
    except FileExistsError:
        pass  # another process made it first: use theirs
    finally:
        temporary.unlink(missing_ok=True)


def mac(key: bytes, purpose: str, *parts: object) -> str:
    """HMAC-SHA256 of `purpose` and `parts` (joined unambiguously), hex."""
    message = json.dumps([purpose, *parts], separators=(",", ":"), ensure_ascii=True)
    return hmac.new(key, message.encode("ascii"), hashlib.sha256).hexdigest()


def mac_ok(key: bytes, expected: object, purpose: str, *parts: object) -> bool:
    return isinstance(expected, str) and hmac.compare_digest(expected, mac(key, purpose, *parts))


# --- the anchor: which entry 1 this log started with ---------------------------------------------


def anchor_path(ws: Workspace) -> Path:
    return ws.state_dir / ANCHOR_FILE


def write_anchor(ws: Workspace, key: bytes, first_hash: str) -> None:
    """Record entry 1 (called before entry 1 commits, so a log never exists without its anchor)."""
    created = datetime.now(UTC).isoformat(timespec="seconds")
    body = {"first_hash": first_hash, "created": created, "mac": mac(key, "anchor", first_hash, created)}
    write_atomic(anchor_path(ws), (json.dumps(body) + "\n").encode("utf-8"))


def read_anchor(ws: Workspace) -> dict[str, Any] | None:
    """The anchor's fields, {} when the file is unreadable (reported by verify), None when absent."""
    path = anchor_path(ws)
    if not path.exists():
        return None
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return {}
    return raw if isinstance(raw, dict) else {}


def anchor_ok(key: bytes, anchor: dict[str, Any]) -> bool:
    return mac_ok(key, anchor.get("mac"), "anchor", anchor.get("first_hash"), anchor.get("created"))


# --- checkpoints: count and head at a time, for the operator to keep elsewhere -------------------


@dataclass(frozen=True)
class Checkpoint:
    """The log's length and last hash at `time`, with a MAC so it cannot be edited either."""

    count: int
    head_hash: str
    time: str
    mac: str

    @classmethod
    def make(cls, key: bytes, count: int, head_hash: str) -> Checkpoint:
        time = datetime.now(UTC).isoformat(timespec="seconds")
        return cls(count, head_hash, time, mac(key, "checkpoint", count, head_hash, time))

    def is_authentic(self, key: bytes) -> bool:
        return mac_ok(key, self.mac, "checkpoint", self.count, self.head_hash, self.time)

    def to_json(self) -> str:
        return json.dumps({"ragft_audit_checkpoint": 1, **asdict(self)}, indent=2) + "\n"

    @classmethod
    def load(cls, path: Path) -> Checkpoint:
        """Read a checkpoint file, or AuditKeyError naming the file and what is wrong."""
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            return cls(int(raw["count"]), str(raw["head_hash"]), str(raw["time"]), str(raw["mac"]))
        except (OSError, ValueError, UnicodeDecodeError, KeyError, TypeError) as exc:
            raise AuditKeyError(f"{path}: not a ragft audit checkpoint ({exc}); make one with `ragft audit checkpoint`") from None
