"""Shared set-up for the serving tests: a workspace with a public and a restricted document,
a RAG system over it with a scripted model, and an app with three users."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from fastapi.testclient import TestClient

from ragft.config import RetrievalConfig
from ragft.corpus.chunking import chunk_document
from ragft.corpus.ingest import ingest
from ragft.models.base import DecodingSettings
from ragft.models.embedders import HashingEmbedder
from ragft.models.testing import ScriptedGenerator
from ragft.prompts import REFUSAL
from ragft.retrieval.retriever import Retriever
from ragft.serve.app import create_app
from ragft.serve.audit import AuditLog
from ragft.serve.users import UserRegistry
from ragft.systems.rag import RagSystem
from ragft.workspace import Workspace

PUBLIC = "# Offices\n\nThe Lisbon office opens at 9:00 and closes at 18:00.\n"
RESTRICTED = "# Salary Bands\n\nBand L3 pays 70,000 EUR per year.\n"


def copy_passage_sharing_a_word(messages) -> str:
    """A scripted model: repeat the first passage sharing a word with the question, citing it."""
    prompt = messages[-1]["content"]
    question = prompt.rsplit("Question:", 1)[-1].lower()
    words = {w for w in re.findall(r"[\w,:]+", question) if len(w) > 3}
    for number, body in re.findall(r"^\[(\d+)\] [^\n]*\n(.*?)(?=\n\n\[\d+\] |\n\nQuestion:)", prompt, re.DOTALL | re.MULTILINE):
        if words & set(re.findall(r"[\w,:]+", body.lower())):
            sentence = body.strip().splitlines()[-1]
            return f"{sentence} [{number}]"
    return REFUSAL


@dataclass
class Served:
    ws: Workspace
    client: TestClient
    keys: dict[str, str]  # user name -> API key

    def ask(self, user: str | None, question: str, **extra):
        headers = {"Authorization": f"Bearer {self.keys[user]}"} if user else {}
        return self.client.post("/v1/ask", json={"question": question, **extra}, headers=headers)

    def auth(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[user]}"}


def make_workspace(tmp_path: Path) -> Workspace:
    ws = Workspace.init(tmp_path / "ws")
    public, restricted = tmp_path / "docs" / "public", tmp_path / "docs" / "hr"
    public.mkdir(parents=True)
    restricted.mkdir(parents=True)
    (public / "offices.md").write_text(PUBLIC, encoding="utf-8")
    (restricted / "salaries.md").write_text(RESTRICTED, encoding="utf-8")
    ingest(ws.store, [public], max_file_mb=1)
    ingest(ws.store, [restricted], max_file_mb=1, acl=frozenset({"hr"}))
    return ws


def rag_system(ws: Workspace, tmp_path: Path) -> RagSystem:
    chunks = [c for d in ws.store.documents() for c in chunk_document(d, size_tokens=50, overlap_tokens=5)]
    retriever = Retriever(RetrievalConfig(), HashingEmbedder(), tmp_path / "index")
    retriever.warm_up(chunks, "corpus-test")
    return RagSystem(ScriptedGenerator(copy_passage_sharing_a_word), retriever, DecodingSettings())


def serve(tmp_path: Path, **app_kwargs) -> Served:
    ws = make_workspace(tmp_path)
    users = UserRegistry(ws)
    keys = {"alice": users.add("alice", ["sales"]), "hanna": users.add("hanna", ["hr"]), "root": users.add("root", ["admin"])}
    users.close()
    app = create_app(ws, systems={"rag": rag_system(ws, tmp_path)}, **app_kwargs)
    return Served(ws, TestClient(app, raise_server_exceptions=False), keys)


# --- a real server process on loopback, for the crash and load tests ---------------------------

_SERVE_WITH_OPTIONS = """
import json, sys, uvicorn
from pathlib import Path
from ragft.serve import create_app
from ragft.workspace import Workspace
ws, port, options = Workspace.open(Path(sys.argv[1])), int(sys.argv[2]), json.loads(sys.argv[3])
uvicorn.run(create_app(ws, **options), host="127.0.0.1", port=port, log_level="warning")
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def tiny_workspace(root: Path, docs: Path, tiny_gguf: Path, *, max_new_tokens: int = 6) -> Path:
    """A workspace over `docs` answering with the tiny GGUF model and the hashing embedder."""
    from typer.testing import CliRunner

    from ragft.cli import app
    from tests.conftest import set_setting

    runner = CliRunner()
    assert runner.invoke(app, ["init", str(root)]).exit_code == 0
    set_setting(root, "embedder", '"hashing"')
    set_setting(root, "generator", f'"{tiny_gguf}"')
    set_setting(root, "max_new_tokens", str(max_new_tokens))
    assert runner.invoke(app, ["ingest", str(docs), "-w", str(root)]).exit_code == 0
    return root


def start_server(
    ws: Path,
    *,
    startup_timeout_s: float = 90,
    env: dict[str, str] | None = None,
    wait_until_ready: bool = True,
    args: tuple[str, ...] = (),
    **app_options,
) -> tuple[subprocess.Popen, str]:
    """`ragft serve` (with `args`, e.g. ("--system", "base")) on a free loopback port (or create_app(**app_options) under uvicorn when
    options are given, for limits the CLI does not expose), with `env` added to its environment;
    returns the process and base URL once healthy (or, without `wait_until_ready`, once /v1/health
    answers at all, e.g. "warming up"). Its output goes to ws/server.log."""
    port = free_port()
    if app_options:
        argv = [sys.executable, "-c", _SERVE_WITH_OPTIONS, str(ws), str(port), json.dumps(app_options)]
    else:
        argv = [sys.executable, "-m", "ragft", "serve", "-w", str(ws), "--port", str(port), *args]
    log_path = ws / "server.log"  # a file, not a pipe: llama.cpp's load chatter would fill a pipe and block
    with log_path.open("a") as log_file:
        proc = subprocess.Popen(argv, stdout=log_file, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + startup_timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the server exited with {proc.returncode}: {log_path.read_text()[-2000:]}")
        try:
            if httpx.get(f"{base}/v1/health", timeout=1).status_code == 200 or not wait_until_ready:
                return proc, base
        except httpx.TransportError:
            time.sleep(0.2)
    stop(proc, kill=True)
    raise AssertionError("the server did not start in time")


def stop(proc: subprocess.Popen, *, kill: bool = False) -> None:
    """End a server process: SIGKILL (a crash) or a clean terminate."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL) if kill else proc.terminate()
    proc.wait(timeout=30)


# --- load: N clients asking back to back for a fixed time -------------------------------------


@dataclass
class LoadResult:
    """What N clients saw: one (status, latency_s, has_retry_after) per request; -1 = transport error."""

    clients: int
    duration_s: float
    replies: list[tuple[int, float, bool]]

    def statuses(self) -> dict[int, int]:
        counts: dict[int, int] = {}
        for status, _, _ in self.replies:
            counts[status] = counts.get(status, 0) + 1
        return dict(sorted(counts.items()))

    def latencies_s(self, status: int = 200) -> list[float]:
        return sorted(latency for s, latency, _ in self.replies if s == status)

    def summary(self) -> dict:
        ok = self.latencies_s()

        def pct(p: float) -> float | None:
            return round(ok[min(len(ok) - 1, int(p * len(ok)))], 4) if ok else None

        return {
            "clients": self.clients,
            "duration_s": round(self.duration_s, 2),
            "requests": len(self.replies),
            "statuses": {str(k): v for k, v in self.statuses().items()},
            "answers_per_s": round(len(ok) / self.duration_s, 2),
            "p50_latency_s": pct(0.50),
            "p95_latency_s": pct(0.95),
        }


def run_load(
    base: str,
    keys: list[str],
    *,
    duration_s: float,
    question: str = "How long does the battery last?",
    backoff_s: float = 0.1,
    request_timeout_s: float = 120,
) -> LoadResult:
    """One thread per key asking back to back until `duration_s` is up (in-flight requests finish).

    A 503 is followed by a short `backoff_s` pause rather than the full Retry-After, to keep the queue full.
    """
    replies: list[tuple[int, float, bool]] = []
    lock = threading.Lock()
    deadline = time.monotonic() + duration_s

    def client(key: str) -> None:
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=request_timeout_s) as http:
            while time.monotonic() < deadline:
                started = time.perf_counter()
                try:
                    reply = http.post("/v1/ask", json={"question": question})
                    seen = (reply.status_code, time.perf_counter() - started, "retry-after" in reply.headers)
                except httpx.TransportError:
                    seen = (-1, time.perf_counter() - started, False)
                with lock:
                    replies.append(seen)
                if seen[0] == 503:
                    time.sleep(backoff_s)

    started = time.monotonic()
    threads = [threading.Thread(target=client, args=(key,), daemon=True) for key in keys]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=duration_s + request_timeout_s + 10)
    return LoadResult(len(keys), time.monotonic() - started, replies)


@contextmanager
def serving_in_thread(app) -> Iterator[str]:
    """Run `app` under uvicorn in a thread on a free loopback port (real concurrent requests, in-process
    objects such as a gated generator); yields the base URL and stops the server on exit."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{server.config.port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def log_answers(log: AuditLog, n: int, users: tuple[str, ...] = ("bob", "alice")) -> None:
    """Append `n` answered questions to `log` (q0, q1, ...), the users taking turns: audit tests' shared data."""
    for i in range(n):
        log.append(
            user=users[i % len(users)],
            question=f"q{i}",
            system="rag",
            retrieved=[f"d@v1#{i}"],
            cited=[],
            corpus_version=1,
            answer_text=f"a{i}",
            latency_s=0.1,
        )
