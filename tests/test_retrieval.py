"""Retrieval: fusion math, hybrid search, access control, persistence and incremental indexing."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from ragft.config import RetrievalConfig
from ragft.retrieval import (
    RetrievalError,
    Retriever,
    reciprocal_rank_fusion,
    top_k_indices,
)
from ragft.types import Chunk, Hit, User

# Words the toy embedder treats as one meaning, so "automobile" finds "car" with no shared term.
SYNONYMS = {"automobile": "car", "vehicle": "car", "physician": "doctor", "medic": "doctor"}


class ToyEmbedder:
    """Deterministic bag-of-meanings embedder: each (synonym-folded) word hashes to a direction."""

    name = "toy-embedder"
    dim = 64

    def __init__(self) -> None:
        self.embedded_texts: list[str] = []  # document texts only, to count re-embedding

    def embed(self, texts: Sequence[str], *, is_query: bool = False) -> np.ndarray:
        if not is_query:
            self.embedded_texts.extend(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                word = SYNONYMS.get(word, word)
                seed = int.from_bytes(hashlib.sha256(word.encode()).digest()[:4], "little")
                out[row] += np.random.default_rng(seed).standard_normal(self.dim).astype(np.float32)
            norm = np.linalg.norm(out[row])
            out[row] = out[row] / norm if norm else out[row]
            if not norm:
                out[row, 0] = 1.0
        return out


def chunk(i: int, text: str, acl: frozenset[str] = frozenset()) -> Chunk:
    return Chunk(chunk_id=f"c{i}", doc_id=f"d{i}", text=text, start=0, end=len(text), acl=acl)


CORPUS = [
    chunk(0, "The car needs new brakes and an oil change before winter."),
    chunk(1, "Invoice QX7781 was paid by bank transfer in March."),
    chunk(2, "The doctor recommends rest and fluids for a common cold."),
    chunk(3, "Our office opens at nine and closes at five on weekdays."),
    chunk(4, "Quarterly revenue grew by twelve percent over last year."),
    chunk(5, "The garden needs watering twice a week in summer."),
]
SECRET = chunk(6, "Project Nightingale merger price is 42 million euros.", acl=frozenset({"board"}))


def make(
    tmp_path: Path, chunks: Sequence[Chunk] = CORPUS, key: str = "v1", embedder: ToyEmbedder | None = None, **settings: object
) -> tuple[Retriever, ToyEmbedder]:
    embedder = embedder or ToyEmbedder()
    config = replace(RetrievalConfig(), **settings)
    retriever = Retriever(config, embedder, tmp_path / "index")
    retriever.warm_up(chunks, key)
    return retriever, embedder


@pytest.fixture(params=["embedded", "qdrant"])
def index(request: pytest.FixtureRequest) -> str:
    """The index backend a search or access test runs on: each must hold for both."""
    return str(request.param)


def ids(hits: Sequence[Hit]) -> list[str]:
    return [hit.chunk.chunk_id for hit in hits]


# ---------------------------------------------------------------- fusion math


def test_rrf_scores_match_hand_computed_ranks() -> None:
    fused = reciprocal_rank_fusion({"bm25": [3, 1, 2], "dense": [1, 4]}, rrf_k=60)
    assert [item for item, _ in fused] == [1, 3, 4, 2]
    scores = dict(fused)
    assert scores[1] == pytest.approx(1 / 62 + 1 / 61)
    assert scores[3] == pytest.approx(1 / 61)
    assert scores[4] == pytest.approx(1 / 62)
    assert scores[2] == pytest.approx(1 / 63)


def test_weighted_rrf_scales_each_list_by_its_weight() -> None:
    fused = dict(reciprocal_rank_fusion({"bm25": [1, 2], "dense": [2, 1]}, rrf_k=10, weights={"dense": 0.5}))
    assert fused[1] == pytest.approx(1 / 11 + 0.5 / 12)
    assert fused[2] == pytest.approx(1 / 12 + 0.5 / 11)
    assert fused[1] > fused[2]  # the BM25 winner wins when dense counts half


def test_rrf_breaks_ties_by_item_id_so_results_repeat() -> None:
    assert [item for item, _ in reciprocal_rank_fusion({"a": [7], "b": [2]}, rrf_k=0)] == [2, 7]


def test_top_k_indices_orders_best_first_and_skips_excluded_rows() -> None:
    scores = np.array([0.1, 0.9, -np.inf, 0.5, 0.7], dtype=np.float32)
    assert top_k_indices(scores, 3).tolist() == [1, 4, 3]
    assert top_k_indices(scores, 10).tolist() == [1, 4, 3, 0]
    assert top_k_indices(scores, 0).tolist() == []


def test_top_k_indices_gives_equal_scores_to_the_smaller_index_even_at_the_cut() -> None:
    scores = np.array([0.5, 0.9, 0.5, 0.1, 0.5, 0.9], dtype=np.float32)
    assert top_k_indices(scores, 3).tolist() == [1, 5, 0]
    assert top_k_indices(scores, 4).tolist() == [1, 5, 0, 2]


# ---------------------------------------------------------------- search


def test_hybrid_finds_a_lexical_match_and_a_semantic_one(tmp_path: Path, index: str) -> None:
    retriever, _ = make(tmp_path, index=index)
    lexical = retriever.search("QX7781", 3)
    assert ids(lexical)[0] == "c1"
    assert "bm25" in lexical[0].scores and lexical[0].scores["bm25_rank"] == 1
    semantic = retriever.search("automobile maintenance", 3)  # no word in common with chunk 0
    assert ids(semantic)[0] == "c0"
    assert "bm25" not in semantic[0].scores and semantic[0].scores["dense_rank"] == 1
    assert semantic[0].scores["dense"] == pytest.approx(max(h.scores["dense"] for h in semantic))


@pytest.mark.parametrize("mode", ["bm25", "dense"])
def test_single_retriever_modes_score_with_their_own_retriever(tmp_path: Path, index: str, mode: str) -> None:
    retriever, _ = make(tmp_path, mode=mode, index=index)
    hits = retriever.search("invoice QX7781 paid", 2)
    assert ids(hits)[0] == "c1"
    assert hits[0].score == hits[0].scores[mode]
    assert f"{'dense' if mode == 'bm25' else 'bm25'}_rank" not in hits[0].scores


def test_search_records_query_embedding_time_apart_from_search_time(tmp_path: Path) -> None:
    retriever, _ = make(tmp_path)
    retriever.search("doctor", 2)
    timings = retriever.last_timings
    assert set(timings) >= {"embed_query_s", "search_s", "bm25_s", "dense_s"}
    assert timings["embed_query_s"] > 0 and timings["search_s"] > 0


def test_a_plugged_in_reranker_orders_the_candidates_and_cannot_add_chunks(tmp_path: Path) -> None:
    plain, _ = make(tmp_path, candidates=4)

    intruder = replace(CORPUS[0], chunk_id="not-a-candidate")

    class Reverse:
        def rerank(self, query, hits):
            return [*reversed(hits), Hit(chunk=intruder, score=9.0)]

    reranked = Retriever(RetrievalConfig(candidates=4), ToyEmbedder(), tmp_path / "index", reranker=Reverse())
    reranked.warm_up(CORPUS, "v1")
    fused = ids(plain.search("car doctor", 4))
    assert ids(reranked.search("car doctor", 4)) == fused[::-1]  # the reranker's order, and no chunk it made up


# ---------------------------------------------------------------- access control


@pytest.mark.parametrize("mode", ["hybrid", "bm25", "dense"])
def test_an_outsider_never_sees_a_restricted_chunk_even_quoting_it(tmp_path: Path, index: str, mode: str) -> None:
    retriever, _ = make(tmp_path, [*CORPUS, SECRET], mode=mode, candidates=2, index=index)
    for user in (None, User("eve", frozenset({"staff"}))):
        hits = retriever.search(SECRET.text, 3, user=user)
        assert "c6" not in ids(hits)
        if mode != "bm25":  # dense always fills k; the hidden chunk did not eat a candidate slot
            assert len(hits) == 3


@pytest.mark.parametrize("mode", ["hybrid", "bm25", "dense"])
def test_a_group_member_finds_the_restricted_chunk(tmp_path: Path, index: str, mode: str) -> None:
    retriever, _ = make(tmp_path, [*CORPUS, SECRET], mode=mode, index=index)
    hits = retriever.search(SECRET.text, 3, user=User("bob", frozenset({"staff", "board"})))
    assert ids(hits)[0] == "c6"


def test_access_follows_the_chunks_given_at_warm_up_not_the_saved_index(tmp_path: Path, index: str) -> None:
    make(tmp_path, [*CORPUS, SECRET], index=index)
    now_public = replace(SECRET, acl=frozenset())
    retriever, _ = make(tmp_path, [*CORPUS, now_public], index=index)
    assert ids(retriever.search(SECRET.text, 1))[0] == "c6"


# ---------------------------------------------------------------- persistence and incremental indexing


def test_a_saved_index_loads_without_embedding_and_gives_identical_results(tmp_path: Path) -> None:
    first, _ = make(tmp_path)
    before = [first.search(q, 4) for q in ("car", "QX7781 invoice", "physician advice", "office hours")]
    embedder = ToyEmbedder()
    second = Retriever(RetrievalConfig(), embedder, tmp_path / "index")
    stats = second.warm_up(CORPUS, "v1")
    assert stats.loaded and stats.chunks_embedded == 0 and embedder.embedded_texts == []
    after = [second.search(q, 4) for q in ("car", "QX7781 invoice", "physician advice", "office hours")]
    assert after == before


def test_a_new_version_re_embeds_only_new_text(tmp_path: Path) -> None:
    first_stats_embedder = ToyEmbedder()
    make(tmp_path, embedder=first_stats_embedder)
    assert len(first_stats_embedder.embedded_texts) == len(CORPUS)
    changed = list(CORPUS)
    changed[2] = chunk(2, "The doctor now recommends tea.")
    changed.append(chunk(7, "A brand new chunk about bicycles."))
    embedder = ToyEmbedder()
    retriever = Retriever(RetrievalConfig(), embedder, tmp_path / "index")
    stats = retriever.warm_up(changed, "v2")
    assert sorted(embedder.embedded_texts) == sorted([changed[2].text, changed[-1].text])
    assert (stats.chunks_embedded, stats.chunks_reused, stats.chunks_total) == (2, 5, 7)
    assert not stats.loaded
    assert ids(retriever.search("bicycles", 1)) == ["c7"]


def test_identical_texts_are_embedded_once(tmp_path: Path) -> None:
    twins = [chunk(0, "same words here"), chunk(1, "same words here")]
    _, embedder = make(tmp_path, twins)
    assert embedder.embedded_texts == ["same words here"]


def test_an_index_without_manifest_is_rebuilt_not_loaded(tmp_path: Path) -> None:
    make(tmp_path)
    (tmp_path / "index" / "v1" / "manifest.json").unlink()  # as if a build died before publishing
    embedder = ToyEmbedder()
    stats = Retriever(RetrievalConfig(), embedder, tmp_path / "index").warm_up(CORPUS, "v1")
    assert not stats.loaded and stats.chunks_embedded == 0  # rebuilt, vectors from the cache


def test_a_build_that_dies_leaves_no_index_but_keeps_finished_embeddings(tmp_path: Path) -> None:
    class DiesOnSecondBatch(ToyEmbedder):
        def embed(self, texts: Sequence[str], *, is_query: bool = False) -> np.ndarray:
            if self.embedded_texts:
                raise KeyboardInterrupt
            return super().embed(texts, is_query=is_query)

    many = [chunk(i, f"text number {i}") for i in range(100)]  # two embedding batches
    with pytest.raises(KeyboardInterrupt):
        make(tmp_path, many, embedder=DiesOnSecondBatch())
    assert not (tmp_path / "index" / "v1").exists()
    _, embedder = make(tmp_path, many)
    assert len(embedder.embedded_texts) == 100 - 64


def test_a_changed_chunk_under_the_same_version_key_is_reindexed(tmp_path: Path) -> None:
    make(tmp_path)
    edited = [*CORPUS[:-1], chunk(5, "The garden gnome collection is on display.")]
    retriever, _ = make(tmp_path, edited)
    assert ids(retriever.search("gnome", 1)) == ["c5"]


# ---------------------------------------------------------------- errors


def test_errors_name_the_problem(tmp_path: Path) -> None:
    with pytest.raises(RetrievalError, match="hybrid, bm25, dense"):
        Retriever(replace(RetrievalConfig(), mode="fancy"), ToyEmbedder(), tmp_path)
    with pytest.raises(RetrievalError, match="candidates >= 1"):
        Retriever(replace(RetrievalConfig(), candidates=0), ToyEmbedder(), tmp_path)
    retriever = Retriever(RetrievalConfig(), ToyEmbedder(), tmp_path)
    with pytest.raises(RetrievalError, match="before warm_up"):
        retriever.search("anything", 3)
    with pytest.raises(ValueError, match="safe folder name"):
        retriever.warm_up(CORPUS, "../escape")
    with pytest.raises(RetrievalError, match="'c0' appears more than once"):
        retriever.warm_up([CORPUS[0], CORPUS[0]], "v1")
