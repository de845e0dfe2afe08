"""The HTTP API: keys, access control, audit of every answer, limits, and hostile input never a 500."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ragft.serve.audit import AuditLog
from ragft.serve.users import UserRegistry
from tests.serve_fixtures import Served, serve

LISBON = "When does the Lisbon office open?"
SALARY = "What does Band L3 pay, 70,000?"


@pytest.fixture
def served(tmp_path: Path) -> Served:
    return serve(tmp_path)


def test_missing_wrong_or_revoked_keys_get_401(served: Served) -> None:
    assert served.ask(None, LISBON).status_code == 401
    bad = served.client.post("/v1/ask", json={"question": LISBON}, headers={"Authorization": "Bearer rk_0000000000000000_" + "x" * 43})
    assert bad.status_code == 401 and "error" in bad.json()
    UserRegistry(served.ws).remove("alice")
    assert served.ask("alice", LISBON).status_code == 401
    assert served.client.get("/v1/health").json()["status"] == "ok"  # health needs no key


def test_answers_cite_the_document_and_every_answer_is_audited(served: Served) -> None:
    reply = served.ask("alice", LISBON)
    assert reply.status_code == 200
    body = reply.json()
    assert "9:00" in body["answer"] and not body["refused"]
    assert body["citations"][0]["doc_id"] == "offices.md" and "9:00" in body["citations"][0]["quote"]
    served.ask("hanna", SALARY)
    log = AuditLog(served.ws)
    entries = log.entries()
    assert [(e.user, e.question) for e in entries] == [("alice", LISBON), ("hanna", SALARY)]
    assert entries[0].cited == ("offices.md@v1#0",) and entries[0].retrieved
    assert log.verify().ok


def test_an_outsider_never_gets_a_restricted_citation_or_document(served: Served) -> None:
    outsider = served.ask("alice", SALARY).json()
    assert all(c["doc_id"] != "salaries.md" for c in outsider["citations"]) and "70,000" not in outsider["answer"]
    member = served.ask("hanna", SALARY).json()
    assert [c["doc_id"] for c in member["citations"]] == ["salaries.md"]
    hidden = served.client.get("/v1/documents/salaries.md", headers=served.auth("alice"))
    missing = served.client.get("/v1/documents/nope.md", headers=served.auth("alice"))
    assert hidden.status_code == missing.status_code == 404 and "70,000" not in hidden.text
    assert served.client.get("/v1/documents/salaries.md", headers=served.auth("hanna")).json()["text"].count("70,000") == 1
    for traversal in ("../store.sqlite3", "..%2F..%2Fragft.toml", "/etc/passwd"):
        assert served.client.get(f"/v1/documents/{traversal}", headers=served.auth("hanna")).status_code == 404
    reads = served.client.get("/v1/audit", headers=served.auth("root")).json()["entries"]
    denied = [e for e in reads if e["system"] == "documents" and e["user"] == "alice" and e["question"].endswith("salaries.md")]
    assert denied and denied[0]["cited"] == [], "a denied document read is audited, citing nothing"


def test_the_audit_endpoint_is_for_admins_only(served: Served) -> None:
    served.ask("alice", LISBON)
    assert served.client.get("/v1/audit", headers=served.auth("alice")).status_code == 403
    entries = served.client.get("/v1/audit?user=alice", headers=served.auth("root")).json()["entries"]
    assert [e["question"] for e in entries] == [LISBON]


def test_size_length_and_rate_limits(tmp_path: Path) -> None:
    served = serve(tmp_path, max_body_bytes=1000, max_question_chars=50, rate_limit_per_min=5)
    assert served.client.post("/v1/ask", content=b'{"question": "' + b"a" * 2000 + b'"}', headers=served.auth("root")).status_code == 413
    long = served.ask("hanna", "x" * 51)
    assert long.status_code == 413 and "too long" in long.json()["error"]
    codes = [served.ask("alice", LISBON).status_code for _ in range(6)]
    assert codes == [200] * 5 + [429]
    limited = served.ask("alice", LISBON)
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
    assert served.ask("hanna", LISBON).status_code == 200  # the limit is per key


def test_a_full_queue_answers_503_with_retry_after(tmp_path: Path) -> None:
    served = serve(tmp_path)
    server = served.client.app.state.server
    for i in range(server.queue.size):  # occupy every slot
        assert server.queue.try_enter(f"filler{i}") == ""
    busy = served.ask("alice", LISBON)
    assert busy.status_code == 503 and busy.headers["Retry-After"]


def test_503s_do_not_count_against_the_rate_limit(tmp_path: Path) -> None:
    served = serve(tmp_path, rate_limit_per_min=2)
    server = served.client.app.state.server
    for i in range(server.queue.size):
        server.queue.try_enter(f"filler{i}")
    assert [served.ask("alice", LISBON).status_code for _ in range(4)] == [503] * 4
    for i in range(server.queue.size):
        server.queue.leave(f"filler{i}")
    assert [served.ask("alice", LISBON).status_code for _ in range(3)] == [200, 200, 429]


@pytest.mark.parametrize(
    "body",
    [b"{not json", b'{"question": "\xff\xfe"}', b"[1, 2]", b'{"question": 42}', b"", b'{"question": "\\ud800"}', b"[" * 5000],
)
def test_malformed_bodies_get_a_json_4xx_without_a_traceback(served: Served, body: bytes) -> None:
    reply = served.client.post("/v1/ask", content=body, headers=served.auth("alice"))
    assert 400 <= reply.status_code < 500
    assert "error" in reply.json() and "Traceback" not in reply.text


def test_chat_completions_answers_in_the_openai_shape(served: Served) -> None:
    reply = served.client.post(
        "/v1/chat/completions", headers=served.auth("alice"), json={"model": "rag", "messages": [{"role": "user", "content": LISBON}]}
    )
    body = reply.json()
    assert body["object"] == "chat.completion" and "9:00" in body["choices"][0]["message"]["content"]
    assert body["ragft"]["citations"][0]["doc_id"] == "offices.md"


def test_the_official_openai_client_works_against_the_server(served: Served) -> None:
    openai = pytest.importorskip("openai")
    client = openai.OpenAI(api_key=served.keys["alice"], base_url="http://testserver/v1", http_client=served.client)
    completion = client.chat.completions.create(model="rag", messages=[{"role": "user", "content": LISBON}])
    assert "9:00" in completion.choices[0].message.content
    assert completion.model_extra["ragft"]["citations"][0]["doc_id"] == "offices.md"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    body=st.one_of(
        st.binary(max_size=300),
        st.dictionaries(
            st.sampled_from(["question", "system", "x"]), st.one_of(st.text(max_size=80), st.integers(), st.none()), max_size=3
        ),
    )
)
def test_fuzzed_ask_bodies_never_get_a_5xx(served: Served, body) -> None:
    if isinstance(body, dict):
        reply = served.client.post("/v1/ask", json=body, headers=served.auth("hanna"))
    else:
        reply = served.client.post("/v1/ask", content=body, headers=served.auth("hanna"))
    assert reply.status_code < 500 and "Traceback" not in reply.text
