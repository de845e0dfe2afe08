"""The audit log against someone who can write its database (issue 16 item 9): every rewrite the
chain alone let through (a deleted tail with a fixed head, deleted rows, dropped tables, a deleted
database, a chain recomputed after an edit) is reported, and checkpoints catch a truncated tail."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from ragft.serve.anchor import AUDIT_KEY_ENV, Checkpoint, anchor_path
from ragft.serve.audit import GENESIS, AuditLog, entry_hash
from ragft.serve.audit_verify import verify_audit
from ragft.serve.db import serve_db_path
from ragft.workspace import Workspace
from tests.conftest import ragft
from tests.serve_fixtures import log_answers
from tests.store_backends import run_sql


def logged_workspace(tmp_path: Path, n: int = 4) -> Workspace:
    ws = Workspace.init(tmp_path / "ws")
    log = AuditLog(ws)
    log_answers(log, n, users=("alice",))
    log.close()
    return ws


sql = run_sql  # on whichever backend the test runs


def rechain_without_key(ws: Workspace) -> None:
    """What an attacker with the database but not the key does after an edit: recompute every hash and the head."""
    log = AuditLog(ws)
    entries = log.entries()
    log.close()
    prev, statements = GENESIS, []
    for entry in entries:
        body = {k: v for k, v in entry.to_dict().items() if k not in ("prev_hash", "hash")}
        digest = entry_hash(prev, body)  # hex digests: safe to write into the SQL
        statements.append(f"UPDATE audit SET prev_hash = '{prev}', hash = '{digest}' WHERE seq = {entry.seq}")
        prev = digest
    statements.append(f"UPDATE audit_head SET count = {len(entries)}, hash = '{prev}'")
    run_sql(ws, "; ".join(statements))


def test_an_untouched_log_verifies_and_its_key_and_database_are_private(tmp_path: Path) -> None:
    ws = logged_workspace(tmp_path)
    assert verify_audit(ws).ok and verify_audit(ws).entries == 4
    assert stat.S_IMODE((ws.state_dir / "audit.key").stat().st_mode) == 0o600
    assert stat.S_IMODE(serve_db_path(ws).stat().st_mode) == 0o600
    assert stat.S_IMODE(ws.state_dir.stat().st_mode) == 0o700


@pytest.mark.parametrize(
    ("tampering", "bad_seq", "reason"),
    [
        ("DELETE FROM audit WHERE seq = 4; UPDATE audit_head SET count = 3, hash = (SELECT hash FROM audit WHERE seq = 3)", 4, "MAC"),
        ("DELETE FROM audit; DELETE FROM audit_head", 1, "every entry was deleted"),
        ("DROP TABLE audit; DROP TABLE audit_head", 1, "dropped"),
        ("DELETE FROM audit_head", 5, "head record is missing"),
    ],
)
def test_rewrites_the_chain_alone_missed_are_reported(tmp_path: Path, tampering: str, bad_seq: int, reason: str, backend: str) -> None:
    ws = logged_workspace(tmp_path)
    sql(ws, tampering)
    result = verify_audit(ws)
    assert not result.ok and result.first_bad_seq == bad_seq and reason in result.reason, result


def test_a_chain_recomputed_after_an_edit_fails_on_the_mac(tmp_path: Path, backend: str) -> None:
    ws = logged_workspace(tmp_path)
    sql(ws, "UPDATE audit SET question = 'nothing to see' WHERE seq = 2")
    rechain_without_key(ws)
    result = verify_audit(ws)
    assert not result.ok and result.first_bad_seq == 2 and "MAC" in result.reason, result


def test_a_deleted_database_is_reported_not_recreated(tmp_path: Path) -> None:
    ws = logged_workspace(tmp_path)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{serve_db_path(ws)}{suffix}").unlink(missing_ok=True)
    result = verify_audit(ws)
    assert not result.ok and "deleted" in result.reason
    assert not serve_db_path(ws).exists()


def test_a_wiped_log_restarted_by_the_server_is_reported(tmp_path: Path, backend: str) -> None:
    ws = logged_workspace(tmp_path)
    sql(ws, "DELETE FROM audit; DELETE FROM audit_head")
    log = AuditLog(ws)  # the server starts again and logs a fresh entry 1
    log.append(user="bob", question="q", system="rag", retrieved=[], cited=[], corpus_version=1, answer_text="a", latency_s=0)
    log.close()
    result = verify_audit(ws)
    assert not result.ok and "wiped" in result.reason, result


def test_a_checkpoint_catches_truncation_and_a_log_deleted_with_its_anchor(tmp_path: Path) -> None:
    ws = logged_workspace(tmp_path)
    checkpoint = AuditLog(ws).checkpoint()
    assert checkpoint.count == 4 and verify_audit(ws, checkpoint).ok
    saved = tmp_path / "checkpoint.json"
    saved.write_text(checkpoint.to_json())
    assert Checkpoint.load(saved) == checkpoint

    forged = Checkpoint(3, checkpoint.head_hash, checkpoint.time, checkpoint.mac)
    assert "was not made with this audit key" in verify_audit(ws, forged).reason

    anchor_path(ws).unlink()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{serve_db_path(ws)}{suffix}").unlink(missing_ok=True)
    assert verify_audit(ws).ok  # without an anchor or a checkpoint nothing is left to tell
    assert not verify_audit(ws, checkpoint).ok and "deleted" in verify_audit(ws, checkpoint).reason


def test_a_blob_where_text_belongs_is_reported_not_a_traceback(tmp_path: Path) -> None:
    ws = logged_workspace(tmp_path)
    sql(ws, "UPDATE audit SET time = X'00FF' WHERE seq = 3")
    result = verify_audit(ws)
    assert not result.ok and result.first_bad_seq == 3 and "unreadable" in result.reason
    out = ragft("audit", "verify", "-w", str(ws.root))
    assert out.exit_code == 1 and "Traceback" not in out.output


def test_the_cli_checkpoints_and_verifies_against_it(tmp_path: Path, backend: str) -> None:
    ws = logged_workspace(tmp_path)
    saved = tmp_path / "off-site" / "cp.json"
    saved.parent.mkdir()
    made = ragft("audit", "checkpoint", "--out", str(saved), "-w", str(ws.root))
    assert made.exit_code == 0 and json.loads(saved.read_text())["count"] == 4
    assert ragft("audit", "verify", "--checkpoint", str(saved), "-w", str(ws.root)).exit_code == 0
    sql(ws, "DELETE FROM audit WHERE seq = 4")
    broken = ragft("audit", "verify", "--checkpoint", str(saved), "-w", str(ws.root))
    assert broken.exit_code == 1 and "entry 4" in broken.output


def test_a_key_from_the_environment_is_used_instead_of_the_key_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, backend: str) -> None:
    monkeypatch.setenv(AUDIT_KEY_ENV, "an operator secret kept elsewhere")
    ws = logged_workspace(tmp_path)
    assert not (ws.state_dir / "audit.key").exists() and verify_audit(ws).ok
    monkeypatch.setenv(AUDIT_KEY_ENV, "another secret, not the one used")
    assert not verify_audit(ws).ok
    monkeypatch.delenv(AUDIT_KEY_ENV)
    assert "no audit key" in verify_audit(ws).reason
    assert os.environ.get(AUDIT_KEY_ENV) is None
