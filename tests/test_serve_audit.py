"""API keys are stored hashed and can be revoked; the audit chain detects edits, deletions and reorders."""

from __future__ import annotations

from pathlib import Path

import pytest

from ragft.serve.audit import AuditLog
from ragft.serve.db import serve_db_path
from ragft.serve.guard import RestrictedTrainingError, check_restricted_training
from ragft.serve.users import UserError, UserRegistry
from ragft.train.manifest import adapter_dir
from ragft.workspace import Workspace
from tests.serve_fixtures import log_answers
from tests.store_backends import run_sql


def test_a_key_authenticates_its_user_and_only_its_hash_is_stored(tmp_path: Path, backend: str) -> None:
    ws = Workspace.init(tmp_path / "ws")
    users = UserRegistry(ws)
    key = users.add("hanna", ["hr", "staff"])
    user = users.authenticate(key)
    assert user is not None and user.name == "hanna" and user.groups == {"hr", "staff"}
    assert users.authenticate(key[:-1] + ("A" if key[-1] != "A" else "B")) is None
    assert users.authenticate("") is None and users.authenticate("rk_nonsense") is None
    if backend == "sqlite":
        assert key.encode() not in serve_db_path(ws).read_bytes()
    with pytest.raises(UserError, match="already exists"):
        users.add("hanna", ["hr"])
    users.remove("hanna")
    assert users.authenticate(key) is None
    assert [(u.name, u.revoked) for u in users.list()] == [("hanna", True)]
    new_key = users.add("hanna", ["hr"])  # a revoked name may be issued a new key
    assert users.authenticate(new_key) is not None and users.authenticate(key) is None
    with pytest.raises(UserError):
        users.remove("nobody")


def audit_with_entries(tmp_path: Path, n: int = 4) -> tuple[AuditLog, Workspace]:
    ws = Workspace.init(tmp_path / "ws")
    log = AuditLog(ws)
    log_answers(log, n)
    return log, ws


def test_an_intact_log_verifies_and_filters_by_user_and_time(tmp_path: Path, backend: str) -> None:
    log, _ = audit_with_entries(tmp_path)
    result = log.verify()
    assert result.ok and result.entries == 4
    assert [e.question for e in log.entries(user="alice")] == ["q1", "q3"]
    assert log.entries(since="2999-01-01T00:00:00") == []
    assert [e.seq for e in log.entries(limit=2)] == [3, 4]


@pytest.mark.parametrize(
    ("sql", "bad_seq"),
    [
        ("UPDATE audit SET question = 'something else' WHERE seq = 2", 2),
        ("DELETE FROM audit WHERE seq = 3", 3),
        ("DELETE FROM audit WHERE seq = 4", 4),  # the tail: caught by the head record
        ("UPDATE audit SET seq = 99 WHERE seq = 2; UPDATE audit SET seq = 2 WHERE seq = 3; UPDATE audit SET seq = 3 WHERE seq = 99", 2),
    ],
)
def test_verify_names_the_first_tampered_entry(tmp_path: Path, sql: str, bad_seq: int, backend: str) -> None:
    log, ws = audit_with_entries(tmp_path)
    run_sql(ws, sql)
    result = log.verify()
    assert not result.ok and result.first_bad_seq == bad_seq, result


def test_serving_an_arm_trained_on_restricted_documents_is_refused_unless_allowed(tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "ws")
    directory = adapter_dir(ws, "finetuned")
    directory.mkdir(parents=True)
    chunk = {
        "chunk_id": "salaries.md@v1#0",
        "doc_id": "salaries.md",
        "text": "Band L3 pays 70,000 EUR.",
        "start": 0,
        "end": 24,
        "title": "Salary Bands",
        "acl": ["hr"],
        "page": None,
    }
    (directory / "training_set.json").write_text(
        '{"corpus_version": 1, "facts": [], "pairs": [], "chunks": [' + __import__("json").dumps(chunk) + "]}", encoding="utf-8"
    )
    with pytest.raises(RestrictedTrainingError, match=r"salaries\.md"):
        check_restricted_training(ws, ["finetuned"])
    check_restricted_training(ws, ["finetuned"], allow_restricted_training=True)
    check_restricted_training(ws, ["rag", "hybrid"])  # rag is filtered per user; hybrid is not trained here
