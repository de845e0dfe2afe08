"""Streaming: /v1/ask?stream=true as server-sent events and stream=true on /v1/chat/completions
in OpenAI's chunk format, each still audited once, with citations in the final event."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ragft.models.testing import ScriptedGenerator
from ragft.prompts import REFUSAL
from ragft.serve.app import create_app
from ragft.serve.audit import AuditLog
from ragft.serve.users import UserRegistry
from tests.serve_fixtures import Served, make_workspace, rag_system, serve

LISBON = "When does the Lisbon office open?"
SALARY = "What does Band L3 pay, 70,000?"


@pytest.fixture
def served(tmp_path: Path) -> Served:
    return serve(tmp_path)


def events(lines) -> list[str]:
    return [line.removeprefix("data: ") for line in lines if line.startswith("data: ")]


def test_ask_streams_tokens_then_a_done_event_with_citations_and_is_audited(served: Served) -> None:
    with served.client.stream("POST", "/v1/ask?stream=true", json={"question": LISBON}, headers=served.auth("alice")) as reply:
        assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/event-stream")
        sent = [json.loads(e) for e in events(reply.iter_lines())]
    tokens, done = sent[:-1], sent[-1]
    assert tokens and all(set(t) == {"token"} for t in tokens)
    assert done["done"] is True and not done["refused"] and "timings" in done
    assert "".join(t["token"] for t in tokens).strip() == done["answer"] and "9:00" in done["answer"]
    assert [c["doc_id"] for c in done["citations"]] == ["offices.md"]
    log = AuditLog(served.ws)
    assert [(e.user, e.question, e.cited) for e in log.entries()] == [("alice", LISBON, ("offices.md@v1#0",))]
    assert log.verify().ok


def test_a_streamed_answer_never_cites_a_restricted_document_to_an_outsider(served: Served) -> None:
    with served.client.stream("POST", "/v1/ask?stream=true", json={"question": SALARY}, headers=served.auth("alice")) as reply:
        text = "".join(reply.iter_text())
    assert "70,000" not in text and "salaries.md" not in text


def test_streaming_requests_are_checked_before_the_stream_starts(served: Served) -> None:
    assert served.client.post("/v1/ask?stream=true", json={"question": LISBON}).status_code == 401
    assert served.client.post("/v1/ask?stream=true", json={"question": " "}, headers=served.auth("alice")).status_code == 422
    chat = {"messages": [{"role": "system", "content": "hi"}], "stream": True}
    assert served.client.post("/v1/chat/completions", json=chat, headers=served.auth("alice")).status_code == 422


def test_chat_completions_stream_in_openai_chunks_ending_with_done(served: Served) -> None:
    body = {"model": "rag", "messages": [{"role": "user", "content": LISBON}], "stream": True}
    with served.client.stream("POST", "/v1/chat/completions", json=body, headers=served.auth("alice")) as reply:
        assert reply.status_code == 200
        sent = events(reply.iter_lines())
    assert sent[-1] == "[DONE]"
    chunks = [json.loads(e) for e in sent[:-1]]
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"} and len({c["id"] for c in chunks}) == 1
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert "9:00" in "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["ragft"]["citations"][0]["doc_id"] == "offices.md"
    assert len(AuditLog(served.ws).entries()) == 1


def test_the_official_openai_client_streams_with_citations_in_the_last_chunk(served: Served) -> None:
    openai = pytest.importorskip("openai")
    client = openai.OpenAI(api_key=served.keys["alice"], base_url="http://testserver/v1", http_client=served.client)
    chunks = list(client.chat.completions.create(model="rag", messages=[{"role": "user", "content": LISBON}], stream=True))
    assert "9:00" in "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert chunks[-1].model_extra["ragft"]["citations"][0]["doc_id"] == "offices.md"
    assert AuditLog(served.ws).verify().entries == 1


def test_a_withheld_ungrounded_answer_is_never_streamed_and_the_audit_hashes_what_was_sent(tmp_path: Path) -> None:
    """Issue 16 item 11: the model's ungrounded reply was streamed as delta.content, with the refusal only in `ragft`."""
    ws = make_workspace(tmp_path)
    keys = {"alice": UserRegistry(ws).add("alice", ["sales"])}
    system = rag_system(ws, tmp_path)
    system = replace(system, generator=ScriptedGenerator(lambda messages: "It opens at 7:15 sharp, says zebra policy 12."))
    client = TestClient(create_app(ws, systems={"rag": system}), raise_server_exceptions=False)
    body = {"model": "rag", "messages": [{"role": "user", "content": LISBON}], "stream": True}
    with client.stream("POST", "/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {keys['alice']}"}) as reply:
        assert reply.status_code == 200
        chunks = [json.loads(e) for e in events(reply.iter_lines())[:-1]]
    sent = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert "zebra" not in sent and "7:15" not in sent
    assert sent == REFUSAL and chunks[-1]["ragft"]["refused"] is True
    (entry,) = AuditLog(ws).entries()
    assert entry.answer_sha256 == hashlib.sha256(sent.encode("utf-8")).hexdigest()
    with client.stream(
        "POST", "/v1/ask?stream=true", json={"question": LISBON}, headers={"Authorization": f"Bearer {keys['alice']}"}
    ) as reply:
        text = "".join(reply.iter_text())
    assert "zebra" not in text and REFUSAL in text
