"""Shared set-up for the serving tests: a workspace with a public and a restricted document,
a RAG system over it with a scripted model, and an app with three users."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from fastapi.testclient import TestClient

from ragft.config import RetrievalConfig
from ragft.corpus.chunking import chunk_document
from ragft.corpus.ingest import ingest
from ragft.models.base import DecodingSettings
from ragft.models.embedders import HashingEmbedder
from ragft.models.testing import ScriptedGenerator
from ragft.retrieval.retriever import Retriever
from ragft.serve.app import create_app
from ragft.serve.users import UserRegistry
from ragft.systems.prompts import REFUSAL
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
