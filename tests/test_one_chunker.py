"""One chunker: the index, the training set (and so RAFT) and the probes cut a corpus the same way.

The workspace uses the hashing embedder, whose token is a whitespace word, on punctuation-dense
text: `approximate_token_count` (word pieces and punctuation) would cut it differently, so a
component that counted with anything but the embedder's counter would fail these tests.
"""

from __future__ import annotations

from pathlib import Path

from ragft.config import CorpusConfig
from ragft.corpus.chunking import chunk_corpus
from ragft.corpus.store import IngestPlan
from ragft.models.base import embedder_token_counter
from ragft.models.factory import build_embedder
from ragft.synth.probes import generate_probes
from ragft.synth.training_set import synthesize_training_set
from ragft.systems.build import corpus_chunks
from ragft.text import approximate_token_count
from ragft.types import Chunk, Document
from ragft.workspace import Workspace

POLICY = """# Travel policy

Economy fares (under €1,200) are booked by the traveller. Business fares need a director's approval.
The per-diem in Lisbon is €64, in Oslo €91, in Tallinn €48. Receipts (originals, not copies) go to finance within 30 days.

## Hotels

Hotels up to €180/night are fine. Above that, ask the office manager: Marta Kask, ext. 2214.
Late check-out (after 12:00) is paid by the traveller, unless the meeting ends after 11:00.
"""

ONCALL = """# On-call

The on-call week starts Monday, 09:00 (CET). Pay: €350/week, plus €40 per page answered at night.
Escalation order: primary, secondary, then the team lead, Jonas Berg (ext. 3310).
The on-call rota was introduced in 2021 by the platform team. Night pages are answered within 15 minutes.
"""

SALARIES = "# Bands\n\nBand L3 pays €70,000/year; band L4 pays €84,000/year, reviewed every April."


def _workspace(tmp_path: Path) -> Workspace:
    ws = Workspace.init(tmp_path / "ws")
    ws.store.commit(
        IngestPlan(
            added=(
                Document("policy.md", "Travel policy", POLICY, "policy.md"),
                Document("oncall.md", "On-call", ONCALL, "oncall.md"),
                Document("bands.md", "Bands", SALARIES, "bands.md", acl=frozenset({"hr"})),
            )
        )
    )
    return ws.with_settings({"embedder": "hashing", "chunk_size_tokens": 24, "chunk_overlap_tokens": 6, "max_chunks": 0})


def _span(chunk: Chunk) -> tuple[str, str, int, int, str]:
    return chunk.chunk_id, chunk.doc_id, chunk.start, chunk.end, chunk.text


def test_the_training_set_chunks_are_the_index_chunks(tmp_path: Path) -> None:
    ws = _workspace(tmp_path)
    indexed = corpus_chunks(ws, build_embedder(ws.config.models))
    data = synthesize_training_set(ws)

    public = {c.chunk_id: _span(c) for c in indexed if not c.acl}
    assert {cid: _span(c) for cid, c in data.chunks.items()} == public  # max_chunks = 0: every public chunk
    assert all(fact.chunk_id in public for fact in data.facts)
    by_id = {c.chunk_id: c for c in indexed}
    for fact in data.facts:  # a fact's span lies inside the chunk the index holds under its id
        chunk = by_id[fact.chunk_id]
        assert chunk.start <= fact.start < fact.end <= chunk.end


def test_the_counter_matters_so_the_test_above_can_fail(tmp_path: Path) -> None:
    ws = _workspace(tmp_path)
    documents = ws.store.documents()
    by_embedder = chunk_corpus(documents, ws.config.corpus, embedder_token_counter(build_embedder(ws.config.models)))
    approximate = chunk_corpus(documents, ws.config.corpus, approximate_token_count)
    assert [_span(c) for c in by_embedder] != [_span(c) for c in approximate]


def test_chunk_corpus_keeps_document_order_and_offsets(tmp_path: Path) -> None:
    documents = _workspace(tmp_path).store.documents()
    chunks = chunk_corpus(documents, CorpusConfig(chunk_size_tokens=24, chunk_overlap_tokens=6))
    texts = {d.doc_id: d.text for d in documents}
    assert [c.doc_id for c in chunks] == sorted((c.doc_id for c in chunks), key=[d.doc_id for d in documents].index)
    assert all(c.text == texts[c.doc_id][c.start : c.end] for c in chunks)


def test_probes_are_checked_against_the_chunks_the_settings_make(tmp_path: Path) -> None:
    documents = _workspace(tmp_path).store.documents()
    roomy = generate_probes(documents, per_kind=50, chunking=CorpusConfig(chunk_size_tokens=200, chunk_overlap_tokens=30))
    cramped = generate_probes(documents, per_kind=50, chunking=CorpusConfig(chunk_size_tokens=4, chunk_overlap_tokens=0))
    assert roomy.rejected.get("fact", {}).get("not supported by one chunk", 0) == 0
    assert cramped.rejected["fact"]["not supported by one chunk"] > 0  # a statement cut in two is no probe
    assert len([p for p in cramped.items if p.kind == "fact"]) < len([p for p in roomy.items if p.kind == "fact"])
