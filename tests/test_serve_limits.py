"""Per-key limits (issue 16 items 5 and 6): one key cannot fill the queue, the model is shared
round-robin by key, and a question is limited by tokens and by what the model's context holds."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from pathlib import Path

import httpx
from fastapi.testclient import TestClient

from ragft.models.testing import ScriptedGenerator
from ragft.serve.app import create_app
from ragft.serve.limits import FairLock
from ragft.serve.users import UserRegistry
from ragft.workspace import Workspace
from tests.conftest import set_setting
from tests.serve_fixtures import (
    copy_passage_sharing_a_word,
    make_workspace,
    rag_system,
    serving_in_thread,
    tiny_workspace,
)

LISBON = "When does the Lisbon office open?"


def test_one_key_over_its_share_gets_429_while_other_keys_are_still_served(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path)
    users = UserRegistry(ws)
    alice, hanna = users.add("alice", ["sales"]), users.add("hanna", ["hr"])
    gate, started = threading.Event(), threading.Semaphore(0)

    def gated(messages):  # holds the model until the test opens the gate
        started.release()
        gate.wait(30)
        return copy_passage_sharing_a_word(messages)

    system = replace(rag_system(ws, tmp_path), generator=ScriptedGenerator(gated))
    app = create_app(ws, systems={"rag": system}, queue_size=8, max_concurrent_per_key=2, rate_limit_per_min=1000)
    replies: list[tuple[str, int]] = []

    def ask(key: str, who: str) -> None:
        reply = httpx.post(f"{base}/v1/ask", json={"question": LISBON}, headers={"Authorization": f"Bearer {key}"}, timeout=60)
        replies.append((who, reply.status_code))

    with serving_in_thread(app) as base:
        first = [threading.Thread(target=ask, args=(alice, "alice")) for _ in range(2)]
        for thread in first:
            thread.start()
        assert started.acquire(timeout=30)  # one of alice's two is generating, the other waits its turn
        deadline = time.monotonic() + 30
        while app.state.server.queue.in_use() < 2 and time.monotonic() < deadline:  # the second is admitted, not still in flight
            time.sleep(0.02)
        assert app.state.server.queue.in_use() == 2
        over = httpx.post(f"{base}/v1/ask", json={"question": LISBON}, headers={"Authorization": f"Bearer {alice}"}, timeout=30)
        assert over.status_code == 429 and int(over.headers["Retry-After"]) >= 1 and "limit per key" in over.json()["error"]
        other = threading.Thread(target=ask, args=(hanna, "hanna"))
        other.start()
        gate.set()
        for thread in [*first, other]:
            thread.join(timeout=60)
    assert sorted(replies) == [("alice", 200), ("alice", 200), ("hanna", 200)]


def test_the_model_is_taken_round_robin_by_key() -> None:
    lock, order = FairLock(), []
    lock.acquire("holder")
    threads = []
    for key in ["a", "a", "a", "b"]:  # a queues three requests before b queues one
        thread = threading.Thread(target=lambda k=key: (lock.acquire(k), order.append(k), lock.release()))
        thread.start()
        threads.append(thread)
        while True:  # wait until this thread is queued, so the arrival order is the one written above
            with lock._cond:
                if sum(len(tickets) for tickets in lock._waiting.values()) == len(threads):
                    break
    lock.release()
    for thread in threads:
        thread.join(timeout=10)
    assert order == ["a", "b", "a", "a"]  # b is served second, not after all of a's


def tiny_app(tmp_path: Path, mixed_folder: Path, tiny_gguf: Path, **settings: str):
    root = tiny_workspace(tmp_path / "ws", mixed_folder, tiny_gguf)
    for key, value in settings.items():
        set_setting(root, key, value)
    ws = Workspace.open(root)
    key = UserRegistry(ws).add("bob", ["staff"])
    client = TestClient(create_app(ws, system_name="rag"), raise_server_exceptions=False)
    return client, {"Authorization": f"Bearer {key}"}


def test_questions_are_limited_by_tokens_not_characters(tmp_path: Path, mixed_folder: Path, tiny_gguf: Path) -> None:
    client, auth = tiny_app(tmp_path, mixed_folder, tiny_gguf)
    for question in ("電池は何時間持ちますか" * 181, "\N{GRINNING FACE}\N{MATHEMATICAL BOLD CAPITAL A}" * 1000):
        assert len(question) <= 2000
        for path, body in (
            ("/v1/ask", {"question": question}),
            ("/v1/chat/completions", {"messages": [{"role": "user", "content": question}], "stream": True}),
        ):
            reply = client.post(path, json=body, headers=auth)
            assert reply.status_code == 413, (path, reply.status_code, reply.text[:200])
            assert "tokens" in reply.json()["error"] and "Traceback" not in reply.text
    assert client.post("/v1/ask", json={"question": "How long does the battery last?"}, headers=auth).status_code == 200


def test_a_prompt_that_cannot_fit_the_context_is_refused_before_generating(tmp_path: Path, mixed_folder: Path, tiny_gguf: Path) -> None:
    client, auth = tiny_app(tmp_path, mixed_folder, tiny_gguf, context_window_tokens="2048", max_question_tokens="100000")
    reply = client.post("/v1/ask", json={"question": "battery " * 240}, headers=auth)
    assert reply.status_code == 413 and "context holds 2048" in reply.json()["error"], reply.text
    assert client.post("/v1/ask", json={"question": "How long does the battery last?"}, headers=auth).status_code == 200
