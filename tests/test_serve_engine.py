"""`ragft serve` answering through a real OpenAI-compatible engine: llama-cpp-python's server, started by the test.

The trained tiny workspace's arms are served by `python -m llama_cpp.server` (the config `ragft
engine-command llama-server` writes); a copy of the workspace with generator_backend = "openai"
runs one `ragft serve --system ARM` process per arm. Answers asked over HTTP must equal the
in-process engine's greedy answers, and the audit log must record each of them.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator

import httpx
import pytest

pytest.importorskip("peft")
pytest.importorskip("llama_cpp.server.app", reason='needs llama-cpp-python[server] (pip install -e ".[dev]")')

from ragft import arms
from ragft.serve.audit import AuditLog
from ragft.workspace import Workspace
from tests.conftest import ragft
from tests.engine_fixtures import serving_arms, shared_trained_workspace
from tests.serve_fixtures import start_server, stop

ARMS = ("base", "rag", "finetuned")
QUESTIONS = ("When was Orrivale founded?", "What is the hotel cap per night?")


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    return shared_trained_workspace(tmp_path_factory)


@pytest.fixture(scope="module")
def served(trained: Workspace, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    """A copy of the trained workspace whose ragft.toml points at a running llama.cpp server serving its arms."""
    with serving_arms(trained, tmp_path_factory.mktemp("serve-engine") / "ws") as (ws, _):
        yield ws


def _ask_over_http(ws: Workspace, arm: str, key: str) -> list[str]:
    """`ragft serve --system ARM` on `ws`, asked each question; the answers' text."""
    server, base = start_server(ws.root, args=("--system", arm))
    try:
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=120) as http:
            replies = [http.post("/v1/ask", json={"question": q}) for q in QUESTIONS]
    finally:
        stop(server)
    assert [r.status_code for r in replies] == [200] * len(QUESTIONS), [r.text for r in replies]
    assert {r.json()["system"] for r in replies} == {arm}
    return [r.json()["answer"] for r in replies]


def test_serve_answers_every_arm_through_the_engine_as_the_in_process_engine_does_and_audits_them(
    trained: Workspace, served: Workspace
) -> None:
    assert served.config.models.generator_backend == "openai", "the served copy answers through the engine"
    key = re.search(r"rk_\S+", ragft("users", "add", "ann", "-w", str(served.root)).output)
    assert key is not None
    over_http = {arm: _ask_over_http(served, arm, key.group(0)) for arm in ARMS}
    in_process = {arm: [arms.build(trained, arm).answer(q).text for q in QUESTIONS] for arm in ARMS}
    assert over_http == in_process
    assert len({tuple(texts) for texts in over_http.values()}) >= 2, "the arms answer differently"
    log = AuditLog(served)
    try:
        entries = log.entries()
        assert log.verify().ok
    finally:
        log.close()
    logged = [(e.user, e.system, e.question, e.answer_sha256) for e in entries]
    expected = [("ann", arm, q, hashlib.sha256(text.encode()).hexdigest()) for arm in ARMS for q, text in zip(QUESTIONS, over_http[arm])]
    assert logged == expected
