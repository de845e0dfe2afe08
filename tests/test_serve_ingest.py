"""POST /v1/ingest: admins add documents while serving; answers and the audit log follow the new version."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from ragft.prompts import REFUSAL
from ragft.serve.users import UserRegistry
from ragft.workspace import Workspace
from tests.serve_fixtures import Served, serve, start_server, stop, tiny_workspace

WAREHOUSE = "# Warehouse\n\nThe warehouse roof is painted green.\n"
QUESTION = "What colour is the warehouse roof?"


@pytest.fixture
def served(tmp_path: Path) -> Served:
    return serve(tmp_path)


@pytest.fixture
def new_docs(tmp_path: Path) -> Path:
    folder = tmp_path / "new"
    folder.mkdir()
    (folder / "warehouse.md").write_text(WAREHOUSE, encoding="utf-8")
    return folder


def post_ingest(served: Served, user: str | None, body: object):
    headers = served.auth(user) if user else {}
    return served.client.post("/v1/ingest", json=body, headers=headers)


def corpus_version(served: Served) -> int:
    return served.client.get("/v1/health").json()["corpus_version"]


def test_ingest_needs_a_key_and_the_admin_group(served: Served, new_docs: Path) -> None:
    assert post_ingest(served, None, {"paths": [str(new_docs)]}).status_code == 401
    reply = post_ingest(served, "alice", {"paths": [str(new_docs)]})
    assert reply.status_code == 403 and "admin" in reply.json()["error"]
    assert corpus_version(served) == 2  # nothing was ingested by the refused calls


def test_an_ingested_document_is_answered_after_the_swap_and_audited_with_the_new_version(served: Served, new_docs: Path) -> None:
    before = served.ask("alice", QUESTION).json()
    assert before["answer"] == REFUSAL

    reply = post_ingest(served, "root", {"paths": [str(new_docs)]})

    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["version"] == 3 and body["previous_version"] == 2
    assert (body["added"], body["changed"], body["removed"], body["failures"]) == (1, 0, 0, [])
    assert body["index"]["chunks"] == 3 and body["index"]["embedded"] >= 1 and body["index"]["seconds"] >= 0
    assert corpus_version(served) == 3
    after = served.ask("alice", QUESTION).json()
    assert "green" in after["answer"] and after["citations"][0]["doc_id"] == "warehouse.md"
    entries = served.client.get("/v1/audit", headers=served.auth("root")).json()["entries"]
    versions = {e["question"]: e["corpus_version"] for e in entries}
    answers = [e for e in sorted(entries, key=lambda e: e["seq"]) if e["system"] != "ingest"]
    assert [e["corpus_version"] for e in answers] == [2, 3]
    (ingested,) = [e for e in entries if e["system"] == "ingest"]
    assert ingested["user"] == "root" and ingested["corpus_version"] == 3 and "POST /v1/ingest" in ingested["question"]
    assert versions[QUESTION] == 3


def test_restricted_ingest_stays_hidden_from_outsiders(served: Served, new_docs: Path) -> None:
    assert post_ingest(served, "root", {"paths": [str(new_docs)], "acl": ["hr"]}).status_code == 200
    assert served.ask("alice", QUESTION).json()["answer"] == REFUSAL
    assert "green" in served.ask("hanna", QUESTION).json()["answer"]


def test_a_missing_path_is_listed_as_a_failure_beside_what_was_ingested(served: Served, new_docs: Path, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "gone.md"
    reply = post_ingest(served, "root", {"paths": [str(new_docs), str(missing)]})
    assert reply.status_code == 200
    assert reply.json()["added"] == 1
    assert reply.json()["failures"] == [{"path": str(missing), "problem": "no such file or folder", "advice": "check the path"}]


def test_nothing_readable_is_a_400_naming_each_failure_and_keeps_the_version(served: Served, tmp_path: Path) -> None:
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-not really")
    reply = post_ingest(served, "root", {"paths": [str(tmp_path / "missing.md"), str(broken)]})
    assert reply.status_code == 400
    body = reply.json()
    assert "could be read" in body["error"]
    assert sorted(f["path"] for f in body["failures"]) == sorted([str(tmp_path / "missing.md"), str(broken)])
    assert corpus_version(served) == 2


def test_ingesting_the_same_files_again_changes_nothing(served: Served, new_docs: Path) -> None:
    assert post_ingest(served, "root", {"paths": [str(new_docs)]}).json()["version"] == 3
    again = post_ingest(served, "root", {"paths": [str(new_docs)]}).json()
    assert again["version"] == 3 and again["added"] == 0 and again["unchanged"] == 1 and again["index"] is None


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"paths": []},
        {"paths": "docs"},
        {"paths": [""]},
        {"paths": ["  "]},
        {"paths": ["a\u0000b"]},
        {"paths": ["a"], "sync": "yes"},
        {"paths": ["a"], "surprise": 1},
        [1, 2],
    ],
)
def test_malformed_ingest_bodies_are_a_clear_422(served: Served, body: object) -> None:
    reply = post_ingest(served, "root", body)
    assert reply.status_code == 422, reply.text
    assert "error" in reply.json()
    assert corpus_version(served) == 2


def test_ingest_through_a_real_server_on_the_tiny_model(tmp_path: Path, mixed_folder: Path, tiny_gguf: Path, new_docs: Path) -> None:
    ws = tiny_workspace(tmp_path / "ws", mixed_folder, tiny_gguf)
    users = UserRegistry(Workspace.open(ws))
    key = users.add("root", ["admin"])
    users.close()
    proc, base = start_server(ws)
    try:
        version = httpx.get(f"{base}/v1/health").json()["corpus_version"]
        reply = httpx.post(f"{base}/v1/ingest", json={"paths": [str(new_docs)]}, headers={"Authorization": f"Bearer {key}"}, timeout=60)
        assert reply.status_code == 200, reply.text
        assert reply.json()["version"] == version + 1 and reply.json()["added"] == 1
        assert reply.json()["index"]["reused"] >= 1  # only the new document's chunks are embedded
        assert httpx.get(f"{base}/v1/health").json()["corpus_version"] == version + 1
        asked = httpx.post(f"{base}/v1/ask", json={"question": QUESTION}, headers={"Authorization": f"Bearer {key}"}, timeout=60)
        assert asked.status_code == 200
    finally:
        stop(proc)
