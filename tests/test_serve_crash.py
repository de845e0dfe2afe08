"""kill -9 a real `ragft serve` while it answers, and an ingest mid-commit while a server runs:
after a restart the audit chain verifies, the store opens, and the previous corpus version is intact."""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from pathlib import Path

import httpx
import pytest

from ragft.serve.audit import AuditLog
from ragft.serve.users import UserRegistry
from ragft.workspace import Workspace
from tests.conftest import ingest_paused_at_commit
from tests.serve_fixtures import start_server, stop, tiny_workspace

QUESTION = "How long does the battery last?"


@pytest.fixture
def ws(tmp_path: Path, mixed_folder: Path, tiny_gguf: Path, backend: str) -> Path:
    """The tiny workspace, on each store backend: every kill must leave SQLite and PostgreSQL intact."""
    return tiny_workspace(tmp_path / "ws", mixed_folder, tiny_gguf, max_new_tokens=64)


def add_user(ws: Path) -> dict[str, str]:
    users = UserRegistry(Workspace.open(ws))
    key = users.add("bob", ["staff"])
    users.close()
    return {"Authorization": f"Bearer {key}"}


def ask(base: str, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(f"{base}/v1/ask", json={"question": QUESTION}, headers=headers, timeout=60)


def audit_ok(ws: Path) -> int:
    log = AuditLog(Workspace.open(ws))
    try:
        result = log.verify()
        assert result.ok, result.reason
        return result.entries
    finally:
        log.close()


def test_killing_the_server_while_it_answers_leaves_the_audit_chain_and_store_intact(ws: Path) -> None:
    headers = add_user(ws)
    proc, base = start_server(ws)
    answered, broken = [], []

    def keep_asking() -> None:  # back-to-back requests, so one is always inside generation
        while True:
            try:
                answered.append(ask(base, headers).status_code)
            except httpx.TransportError:
                broken.append(1)
                return

    asker = threading.Thread(target=keep_asking, daemon=True)
    try:
        asker.start()
        deadline = time.monotonic() + 60
        while len(answered) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert answered, "no answer before the kill"
        time.sleep(0.3)
    finally:
        stop(proc, kill=True)
    asker.join(timeout=30)
    assert broken, "the kill should have cut a request short"
    assert set(answered) == {200}
    logged = audit_ok(ws)
    assert logged >= len(answered)  # every answer the client saw was logged (the cut one may be too)

    proc, base = start_server(ws)
    try:
        assert ask(base, headers).status_code == 200
    finally:
        stop(proc)
    assert audit_ok(ws) == logged + 1
    store = Workspace.open(ws).open_store()
    assert store.latest_version() == 1 and store.documents()
    store.close()


def test_killing_an_ingest_mid_commit_beside_a_running_server_keeps_the_previous_version(ws: Path, mixed_folder: Path) -> None:
    headers = add_user(ws)
    proc, base = start_server(ws)
    (mixed_folder / "notes.txt").write_text("Team notes\n\nThe launch moved to 9 April.\n")
    (mixed_folder / "later.md").write_text("# Later\n\nAdded later.\n")
    try:
        with ingest_paused_at_commit(mixed_folder, ws) as ingester:
            assert ask(base, headers).status_code == 200  # the server answers while the ingest holds its transaction
            ingester.send_signal(signal.SIGKILL)
    finally:
        stop(proc, kill=True)

    store = Workspace.open(ws).open_store()
    assert store.latest_version() == 1
    assert "3 March" in store.document("notes.txt").text
    assert "later.md" not in {d.doc_id for d in store.documents()}
    store.close()
    logged = audit_ok(ws)
    proc, base = start_server(ws)
    try:
        reply = ask(base, headers)
        assert reply.status_code == 200
        assert httpx.get(f"{base}/v1/health", timeout=5).json()["corpus_version"] == 1
    finally:
        stop(proc)
    assert audit_ok(ws) == logged + 1


def test_killing_the_server_during_an_http_ingest_keeps_the_previous_version(ws: Path, tmp_path: Path) -> None:
    # the server's ingest pauses inside its commit, so the kill lands mid-transaction
    _kill_during_an_http_ingest(ws, tmp_path, pause_env="RAGFT_TEST_COMMIT_PAUSE_S", paused_at="commit paused")
    store = Workspace.open(ws).open_store()
    assert store.latest_version() == 1
    assert "later.md" not in {d.doc_id for d in store.documents()}
    store.close()
    assert AuditLog(Workspace.open(ws)).verify().ok
    proc, base = start_server(ws)
    try:
        assert httpx.get(f"{base}/v1/health", timeout=5).status_code == 200
    finally:
        stop(proc)


def _kill_during_an_http_ingest(ws: Path, tmp_path: Path, *, pause_env: str, paused_at: str) -> dict[str, str]:
    """Start `ragft serve`, POST an ingest of one new document, SIGKILL the server once its log says
    `paused_at` (the step `pause_env` holds open); returns the admin's auth header for the restart."""
    users = UserRegistry(Workspace.open(ws))
    admin = {"Authorization": f"Bearer {users.add('root', ['admin'])}"}
    users.close()
    new_docs = tmp_path / "new"
    new_docs.mkdir()
    (new_docs / "later.md").write_text("# Later\n\nThe canteen opens at 11:30.\n")
    server, base = start_server(ws, env={pause_env: "60"})
    log_path = ws / "server.log"
    try:
        request = threading.Thread(
            target=lambda: _ignore_errors(
                lambda: httpx.post(f"{base}/v1/ingest", json={"paths": [str(new_docs)]}, headers=admin, timeout=90)
            ),
            daemon=True,
        )
        request.start()
        deadline = time.monotonic() + 60
        while paused_at not in log_path.read_text() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert paused_at in log_path.read_text(), f"the ingest never reached '{paused_at}'"
        server.send_signal(signal.SIGKILL)
    finally:
        stop(server, kill=True)
    return admin


def _ignore_errors(call) -> None:
    with contextlib.suppress(httpx.HTTPError):  # the server was killed mid-request: no answer is the expected outcome
        call()


def test_a_kill_between_an_ingest_commit_and_its_audit_entry_is_reconciled_and_health_answers_while_warming_up(
    ws: Path, tmp_path: Path
) -> None:
    """Issue 16 item 12: the committed version had no audit entry, and the restart was silent until warm."""
    admin = _kill_during_an_http_ingest(ws, tmp_path, pause_env="RAGFT_TEST_AUDIT_PAUSE_S", paused_at="audit paused")
    store = Workspace.open(ws).open_store()
    assert store.latest_version() == 2  # committed, but its audit entry was never written
    store.close()
    log = AuditLog(Workspace.open(ws))
    assert 2 not in log.logged_versions("ingest")
    log.close()

    proc, base = start_server(ws, env={"RAGFT_TEST_WARMUP_PAUSE_S": "5"}, wait_until_ready=False)
    try:
        health = httpx.get(f"{base}/v1/health", timeout=5)
        assert health.status_code == 503 and health.json()["status"] == "warming up", health.text
        assert "loading the rag system" in health.json()["progress"] and health.json()["elapsed_s"] >= 0
        busy = httpx.post(f"{base}/v1/ask", json={"question": QUESTION}, headers=admin, timeout=10)
        assert busy.status_code == 503 and "warming up" in busy.json()["error"] and busy.headers["Retry-After"]
        deadline = time.monotonic() + 60
        while httpx.get(f"{base}/v1/health", timeout=5).status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert httpx.get(f"{base}/v1/health", timeout=5).json()["corpus_version"] == 2
        assert ask(base, admin).status_code == 200
    finally:
        stop(proc)
    log = AuditLog(Workspace.open(ws))
    ingests = [e for e in log.entries() if e.system == "ingest"]
    log.close()
    assert [(e.user, e.corpus_version) for e in ingests] == [("(reconciled)", 2)]
    assert "reconciled" in ingests[0].question and "committed at" in ingests[0].question
    audit_ok(ws)


def test_a_version_that_cannot_be_indexed_is_skipped_and_the_server_says_why(tmp_path: Path, tiny_gguf: Path) -> None:
    """Issue 16 item 8: a stored version whose index build fails (here: page offsets that are no list,
    as an older ragft could store) kept `ragft serve` from starting; it now serves the last good one."""
    from fastapi.testclient import TestClient

    from ragft.corpus.store import IngestPlan
    from ragft.serve.app import create_app
    from ragft.serve.guard import load_system
    from ragft.types import Document
    from tests.serve_fixtures import tiny_workspace

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "roof.md").write_text("# Roof\n\nThe warehouse roof is painted green.\n")
    ws = Workspace.open(tiny_workspace(tmp_path / "ws", docs, tiny_gguf))
    poisoned = Document("scan.pdf", "Scan", "Page one.\n\nPage two.", "scan.pdf", metadata={"page_starts": 5})
    assert ws.store.commit(IngestPlan(added=(poisoned,))) == 2

    servable = load_system(ws, "rag")
    assert servable.version == 1 and "v2 could not be indexed" in servable.note

    with TestClient(create_app(ws, system_name="rag")) as client:
        health = client.get("/v1/health").json()
    assert health["corpus_version"] == 1 and "v2 could not be indexed" in health["note"]
    assert "note" not in TestClient(create_app(ws, system_name="base")).get("/v1/health").json()  # closed-book: nothing to index
