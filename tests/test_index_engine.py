"""The Qdrant index backend gives the embedded index's hits, filters access inside the engine, and updates incrementally.

Parity runs on seeded samples of ../shared/benchmarks (SQuAD 2.0 dev paragraphs, COVID-QA papers);
CI always has that folder beside the checkout, so the skip below only happens on a bare checkout.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from ragft.config import CorpusConfig, RetrievalConfig
from ragft.corpus.chunking import chunk_corpus
from ragft.models.embedders import HashingEmbedder
from ragft.retrieval import RetrievalError, Retriever
from ragft.retrieval.engine import QdrantIndex, engine_location
from ragft.types import Chunk, Document, User

SHARED = Path(__file__).resolve().parents[2] / "shared" / "benchmarks"
MEMBER = User("ann", frozenset({"hr"}))
OUTSIDER = User("eve", frozenset({"sales"}))


class CountingEmbedder(HashingEmbedder):
    """The hashing test embedder, counting the document texts it embeds."""

    def __init__(self) -> None:
        super().__init__(dim=96)
        self.embedded = 0

    def embed(self, texts, *, is_query=False):  # type: ignore[no-untyped-def]
        if not is_query:
            self.embedded += len(texts)
        return super().embed(texts, is_query=is_query)


def retriever(folder: Path, index: str, **settings: object) -> Retriever:
    return Retriever(replace(RetrievalConfig(), index=index, **settings), CountingEmbedder(), folder)


def sample(name: str, documents: int, questions: int, seed: int = 18) -> tuple[list[Chunk], list[str]]:
    """A seeded sample of a shared benchmark, chunked as ingest would, every fifth document restricted to "hr"."""
    folder = SHARED / name
    if not folder.is_dir():
        pytest.skip(f"{folder} is absent (CI always has ../shared beside the checkout)")
    lines = (folder / "corpus.jsonl").read_text(encoding="utf-8").splitlines()
    rows = [json.loads(line) for line in random.Random(seed).sample(lines, documents)]
    docs = [
        Document(row["doc_id"], row["title"], row["text"], source=name, acl=frozenset({"hr"}) if i % 5 == 0 else frozenset())
        for i, row in enumerate(rows)
    ]
    kept = {doc.doc_id for doc in docs}
    asked = [json.loads(line) for line in (folder / "questions.jsonl").read_text(encoding="utf-8").splitlines()]
    asked = [q["question"] for q in asked if set(q["gold_doc_ids"]) & kept]
    return chunk_corpus(docs, CorpusConfig()), random.Random(seed).sample(asked, min(questions, len(asked)))


@pytest.mark.parametrize(("name", "documents"), [("squad2_dev", 220), ("covid_qa", 8)])
def test_the_engine_returns_the_embedded_index_hits_on_shared_benchmarks(tmp_path: Path, name: str, documents: int) -> None:
    chunks, questions = sample(name, documents, 30)
    assert 150 <= len(chunks) <= 600 and len(questions) == 30
    embedded, engine = retriever(tmp_path / "a", "embedded"), retriever(tmp_path / "b", "qdrant")
    embedded.warm_up(chunks, "corpus-v1")
    engine.warm_up(chunks, "corpus-v1")
    for question in questions:
        for user in (None, MEMBER):
            assert engine.search(question, 8, user=user) == embedded.search(question, 8, user=user), (question, user)


def test_an_outsider_gets_nothing_when_only_restricted_chunks_match(tmp_path: Path) -> None:
    secret = [Chunk(f"s{i}", f"s{i}", f"Salary band {i} for grade G{i} is confidential.", 0, 40, acl=frozenset({"hr"})) for i in range(5)]
    public = [Chunk(f"p{i}", f"p{i}", f"The canteen serves lunch at noon on day {i}.", 0, 40) for i in range(5)]
    for mode in ("bm25", "hybrid", "dense"):
        engine = retriever(tmp_path / mode, "qdrant", mode=mode)
        engine.warm_up([*secret, *public], "corpus-v1")
        for user in (None, OUTSIDER):
            hits = engine.search("salary band grade confidential", 5, user=user)
            assert all(hit.chunk.chunk_id.startswith("p") for hit in hits), (mode, user)
            if mode == "bm25":
                assert hits == []  # no public chunk shares a term, and the restricted ones never left the engine
        assert {hit.chunk.chunk_id for hit in engine.search("salary band", 5, user=MEMBER)} >= {"s0", "s1"}


def _versions() -> tuple[list[Chunk], list[Chunk]]:
    v1 = [Chunk(f"c{i}", f"d{i}", f"Policy {i}: the limit for item {i} is {i * 10} euros per trip.", 0, 50) for i in range(12)]
    v2 = [chunk for chunk in v1 if chunk.chunk_id != "c3"]  # removed
    v2[0] = replace(v2[0], text="Policy 0: the limit for item 0 is now 75 euros per trip.")  # changed
    v2 = [replace(chunk, acl=frozenset({"hr"})) if chunk.chunk_id == "c5" else chunk for chunk in v2]  # restricted
    v2.append(Chunk("c99", "d99", "Policy 99: taxis are refunded only after midnight.", 0, 50))  # added
    return v1, v2


QUESTIONS = ["limit for item 0", "taxis after midnight", "policy 3 limit euros", "item 6 euros per trip", "refunded"]


def test_an_incremental_update_gives_the_same_hits_as_a_rebuild(tmp_path: Path) -> None:
    v1, v2 = _versions()
    updated = retriever(tmp_path / "inc", "qdrant")
    updated.warm_up(v1, "corpus-v1")
    stats = updated.warm_up(v2, "corpus-v2")
    assert stats.chunks_embedded == 2  # the changed and the added text; the re-tagged chunk's vector came from the cache
    rebuilt, embedded = retriever(tmp_path / "new", "qdrant"), retriever(tmp_path / "emb", "embedded")
    rebuilt.warm_up(v2, "corpus-v2")
    embedded.warm_up(v2, "corpus-v2")
    for question in QUESTIONS:
        for user in (None, MEMBER):
            expected = embedded.search(question, 5, user=user)
            assert updated.search(question, 5, user=user) == expected == rebuilt.search(question, 5, user=user)
    assert "c3" not in {hit.chunk.chunk_id for q in QUESTIONS for hit in updated.search(q, 12, user=MEMBER)}
    assert "c5" not in {hit.chunk.chunk_id for q in QUESTIONS for hit in updated.search(q, 12)}


def test_a_replica_finding_its_version_indexed_uploads_nothing(tmp_path: Path) -> None:
    v1, _ = _versions()
    retriever(tmp_path, "qdrant").warm_up(v1, "corpus-v1")
    again = retriever(tmp_path, "qdrant")
    stats = again.warm_up(v1, "corpus-v1")
    assert stats.loaded and again.embedder.embedded == 0  # type: ignore[attr-defined]
    assert again.search("limit for item 4", 1)[0].chunk.chunk_id == "c4"


def test_older_versions_are_dropped_and_their_removed_chunks_deleted(tmp_path: Path) -> None:
    v1, v2 = _versions()
    engine = retriever(tmp_path, "qdrant")
    engine.warm_up(v1, "corpus-v1")
    engine.warm_up(v2, "corpus-v2")
    v3 = [chunk for chunk in v2 if chunk.chunk_id != "c7"]
    engine.warm_up(v3, "corpus-v3")
    location = engine_location("qdrant", tmp_path)
    assert location is not None
    records, _ = QdrantIndex(location, 96)._client.scroll(location.collection, limit=1000, with_payload=True)
    assert sorted(r.payload["version"] for r in records if r.payload.get("kind") == "record") == ["corpus-v2", "corpus-v3"]
    kept = {r.payload["chunk_id"] for r in records if "build" in r.payload}
    assert "c3" not in kept and "c7" in kept  # c3 was only in v1; c7 is still in v2
    assert not [r for r in records if str(r.payload.get("build", r.payload.get("of_build"))).startswith("corpus-v1@")]


def test_a_collection_in_the_layout_before_builds_loses_its_old_points(tmp_path: Path) -> None:
    location = engine_location("qdrant", tmp_path)
    assert location is not None
    index = QdrantIndex(location, 96)
    client, m = index._client, index._models
    client.delete_collection(location.collection)
    client.create_collection(
        location.collection,
        vectors_config={"dense": m.VectorParams(size=96, distance=m.Distance.DOT)},
        sparse_vectors_config={"bm25": m.SparseVectorParams()},
        metadata={"ragft_versions": {"corpus-v1": "abc"}},
    )
    old = [
        m.PointStruct(id=i, vector={"dense": [1.0] * 96}, payload={"versions": ["corpus-v1"]} if i else {"version": "corpus-v1"})
        for i in range(2)
    ]
    client.upsert(location.collection, old)
    engine = retriever(tmp_path, "qdrant")
    engine.warm_up(_versions()[0], "corpus-v1")
    records, _ = client.scroll(location.collection, limit=1000, with_payload=True)
    assert len(records) == 12 + 2 and not [
        r for r in records if "versions" in r.payload or ("version" in r.payload and "kind" not in r.payload)
    ]
    assert engine.search("limit for item 4", 1)[0].chunk.chunk_id == "c4"


def test_a_wrong_index_setting_names_the_choices(tmp_path: Path) -> None:
    with pytest.raises(RetrievalError, match=r"embedded.*qdrant.*http://host:6333"):
        retriever(tmp_path, "pinecone://x")


def test_a_second_process_on_a_local_mode_folder_is_told_to_use_a_server(tmp_path: Path) -> None:
    retriever(tmp_path, "qdrant").warm_up(_versions()[0], "corpus-v1")  # this process now holds the folder
    script = (
        "import sys; from dataclasses import replace; from pathlib import Path\n"
        "from ragft.config import RetrievalConfig; from ragft.models.embedders import HashingEmbedder\n"
        "from ragft.retrieval import RetrievalError, Retriever\n"
        "from ragft.types import Chunk\n"
        "r = Retriever(replace(RetrievalConfig(), index='qdrant'), HashingEmbedder(dim=96), Path(sys.argv[1]))\n"
        "try:\n    r.warm_up([Chunk('c', 'd', 'text', 0, 4)], 'corpus-v1')\n"
        "except RetrievalError as exc:\n    print(exc)\n"
    )
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, timeout=120, check=True)
    assert "in use by another ragft process" in done.stdout and "http://host:6333" in done.stdout


def test_ragft_ask_answers_from_the_engine_and_filters_access_there(ws: Path) -> None:
    from .conftest import ragft, set_setting

    set_setting(ws, "index", '"qdrant"')
    result = ragft("ask", "How long does the Gizmo battery last?", "-w", str(ws), "--trace")
    assert result.exit_code == 0, result.output
    assert "Retrieved" in result.output and "spec.pdf" in result.output
    assert (ws / ".ragft" / "indexes" / "qdrant").is_dir()
    outsider = ragft("ask", "What does band L3 pay in the salary bands?", "-w", str(ws), "--trace", "--user", "eve", "--group", "sales")
    member = ragft("ask", "What does band L3 pay in the salary bands?", "-w", str(ws), "--trace", "--user", "ann", "--group", "hr")
    assert "salaries.md" not in outsider.output and "salaries.md" in member.output
