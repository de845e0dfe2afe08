"""Replicas (issue 18): writers in several processes share one store without forking the audit
chain or losing a version, and two `ragft serve` processes on one PostgreSQL share users, the audit
chain and every ingest; a replica killed mid-ingest loses nothing and the other keeps serving."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from ragft.serve.audit import AuditLog
from ragft.serve.users import UserRegistry
from ragft.workspace import Workspace
from tests.serve_fixtures import run_load, start_server, stop, tiny_workspace
from tests.store_backends import NO_POSTGRES, postgres_url

QUESTION = "How long does the battery last?"
WRITERS, EACH = 4, 15

_APPEND = """
import sys
from pathlib import Path
from ragft.serve.audit import AuditLog
from ragft.workspace import Workspace
log = AuditLog(Workspace.open(Path(sys.argv[1])))
for i in range(int(sys.argv[3])):
    log.append(user=sys.argv[2], question=f"q{i}", system="rag", retrieved=[], cited=[], corpus_version=1, answer_text="a", latency_s=0.0)
"""
_COMMIT = """
import sys
from pathlib import Path
from ragft.corpus.store import IngestPlan
from ragft.types import Document
from ragft.workspace import Workspace
store = Workspace.open(Path(sys.argv[1])).store
for i in range(int(sys.argv[3])):
    doc_id = f"{sys.argv[2]}-{i}.md"
    store.commit(IngestPlan(added=(Document(doc_id, doc_id, f"text {i}", doc_id),)), note=sys.argv[2])
"""


def in_parallel(script: str, ws: Path) -> None:
    """Run `script` in WRITERS processes at once (argv: workspace, writer name, EACH) and wait for all."""
    procs = [subprocess.Popen([sys.executable, "-c", script, str(ws), f"w{n}", str(EACH)]) for n in range(WRITERS)]
    assert [p.wait(timeout=300) for p in procs] == [0] * WRITERS


def test_concurrent_writers_append_one_chain_without_forks(tmp_path: Path, backend: str) -> None:
    ws = Workspace.init(tmp_path / "ws")
    in_parallel(_APPEND, ws.root)
    log = AuditLog(ws)
    result, entries = log.verify(), log.entries()
    log.close()
    assert result.ok and result.entries == WRITERS * EACH, result
    assert [e.seq for e in entries] == list(range(1, WRITERS * EACH + 1))
    assert len({e.prev_hash for e in entries}) == len(entries)  # a fork would reuse a previous hash


def test_concurrent_ingests_get_consecutive_versions_and_lose_no_document(tmp_path: Path, backend: str) -> None:
    ws = Workspace.init(tmp_path / "ws")
    in_parallel(_COMMIT, ws.root)
    store = ws.open_store()
    try:
        assert [v.version for v in store.versions()] == list(range(1, WRITERS * EACH + 1))
        assert len(store.documents()) == WRITERS * EACH  # each version kept every document committed before it
    finally:
        store.close()


@pytest.fixture
def team(tmp_path: Path, mixed_folder: Path, tiny_gguf: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A tiny workspace whose store is a fresh PostgreSQL schema (replicas need a shared store)."""
    if postgres_url() is None:
        pytest.skip(NO_POSTGRES)
    from tests.store_backends import fresh_schema_url

    urls = fresh_schema_url()
    monkeypatch.setenv("RAGFT_STORE_URL", next(urls))
    yield tiny_workspace(tmp_path / "ws", mixed_folder, tiny_gguf, max_new_tokens=8)
    urls.close()


def health(base: str) -> dict:
    return httpx.get(f"{base}/v1/health", timeout=10).json()


def wait_for_version(base: str, version: int, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while health(base).get("corpus_version") != version and time.monotonic() < deadline:
        time.sleep(0.2)
    assert health(base)["corpus_version"] == version


def test_two_replicas_share_users_audit_and_ingests(team: Path, tmp_path: Path) -> None:
    users = UserRegistry(Workspace.open(team))
    bob = {"Authorization": f"Bearer {users.add('bob', ['staff'])}"}
    root = {"Authorization": f"Bearer {users.add('root', ['admin'])}"}
    users.close()
    (a, base_a), (b, base_b) = start_server(team), start_server(team)
    try:
        replies = [httpx.post(f"{base}/v1/ask", json={"question": QUESTION}, headers=bob, timeout=120) for base in (base_a, base_b)]
        assert [r.status_code for r in replies] == [200, 200]
        assert replies[0].json()["answer"] == replies[1].json()["answer"]  # same corpus, same model, greedy

        new = tmp_path / "new"
        new.mkdir()
        (new / "canteen.md").write_text("# Canteen\n\nThe canteen opens at 11:30 every weekday.\n")
        ingested = httpx.post(f"{base_a}/v1/ingest", json={"paths": [str(new)]}, headers=root, timeout=120)
        assert ingested.status_code == 200 and ingested.json()["version"] == 2
        wait_for_version(base_b, 2)  # B follows the shared store
        seen = httpx.get(f"{base_b}/v1/documents/canteen.md", headers=bob, timeout=30)
        assert seen.status_code == 200 and "11:30" in seen.text
    finally:
        stop(a)
        stop(b)
    log = AuditLog(Workspace.open(team))
    result, systems = log.verify(), [e.system for e in log.entries()]
    log.close()
    assert result.ok, result.reason
    assert sorted(systems) == ["documents", "ingest", "rag", "rag"]  # both replicas' answers, A's ingest, B's read: one chain


def test_two_replicas_under_load_then_one_killed_mid_ingest(team: Path, tmp_path: Path) -> None:
    users = UserRegistry(Workspace.open(team))
    keys = [users.add(f"client{i}", ["staff"]) for i in range(20)]
    root = {"Authorization": f"Bearer {users.add('root', ['admin'])}"}
    users.close()
    a, base_a = start_server(team, env={"RAGFT_TEST_COMMIT_PAUSE_S": "60"})
    b, base_b = start_server(team)
    try:
        halves = {}
        threads = [
            threading.Thread(target=lambda k=k, base=base: halves.__setitem__(base, run_load(base, k, duration_s=8.0)))
            for base, k in ((base_a, keys[:10]), (base_b, keys[10:]))
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        statuses = [s for half in halves.values() for s, _, _ in half.replies]
        assert set(statuses) <= {200, 503} and 200 in statuses, statuses

        new = tmp_path / "new"
        new.mkdir()
        (new / "later.md").write_text("# Later\n\nAdded later.\n")
        threading.Thread(
            target=lambda: _quietly(lambda: httpx.post(f"{base_a}/v1/ingest", json={"paths": [str(new)]}, headers=root, timeout=90)),
            daemon=True,
        ).start()
        deadline = time.monotonic() + 60
        while "commit paused" not in (team / "server.log").read_text() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "commit paused" in (team / "server.log").read_text()
        a.send_signal(signal.SIGKILL)
        a.wait(timeout=30)
        reply = httpx.post(f"{base_b}/v1/ask", json={"question": QUESTION}, headers={"Authorization": f"Bearer {keys[0]}"}, timeout=120)
        assert reply.status_code == 200  # the other replica keeps serving
    finally:
        stop(a, kill=True)
        stop(b)
    store = Workspace.open(team).open_store()
    try:
        assert store.latest_version() == 1 and "later.md" not in {d.doc_id for d in store.documents()}
    finally:
        store.close()
    log = AuditLog(Workspace.open(team))
    result = log.verify()
    log.close()
    answered = sum(1 for s in statuses if s == 200) + 1
    assert result.ok and result.entries == answered, (result, answered)


def _quietly(call) -> None:
    with contextlib.suppress(httpx.HTTPError):  # the replica was killed mid-request
        call()
