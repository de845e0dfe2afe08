"""`Retriever`: hybrid BM25 + dense retrieval over one corpus version, with access control.

Construction stores settings; `warm_up` builds or loads the indexes for a corpus version
(re-embedding only text the embedding cache has not seen); `search` returns fused hits that
the asking user is allowed to see, each carrying every retriever's score for the trace.
"""

from __future__ import annotations

import hashlib
import shutil
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ragft.config import RetrievalConfig
from ragft.retrieval import store
from ragft.retrieval.access import AccessIndex
from ragft.retrieval.dense import DenseIndex
from ragft.retrieval.embedding_cache import EmbeddingCache, text_sha256
from ragft.retrieval.engine import EngineError, EngineLocation, QdrantIndex, engine_location
from ragft.retrieval.engine_versions import point_key, sync_fingerprint
from ragft.retrieval.fusion import reciprocal_rank_fusion, top_k_indices
from ragft.retrieval.lexical import TOKENIZER_VERSION, Bm25Index, query_term_ids, score_from_weights
from ragft.retrieval.rerank import Reranker
from ragft.types import Chunk, Hit, User

if TYPE_CHECKING:  # ragft.models pulls in the model backends; retrieval only needs the protocol's shape
    from ragft.models.base import Embedder

MODES = ("hybrid", "bm25", "dense")
EMBED_BATCH = 64  # chunks per embedder call; each batch is committed to the cache at once
CACHE_FILE = "embeddings.sqlite"


@dataclass(frozen=True)
class IndexStats:
    """What `warm_up` did, for the CLI and the benchmark."""

    version_key: str
    chunks_total: int
    chunks_embedded: int  # embedded during this warm_up
    chunks_reused: int  # vectors taken from the embedding cache or the saved index
    loaded: bool  # True when a saved index (or the engine's collection) already held this version as is
    dense_backend: str  # "exact" | "hnsw" | "qdrant"
    bm25_s: float
    embed_s: float
    hnsw_s: float  # building the HNSW graph; on the engine backend, the upload and sync (less embedding)
    total_s: float


@dataclass(frozen=True)
class _Loaded:
    """Everything a search reads, swapped in as one object so a concurrent search never mixes versions."""

    chunks: list[Chunk]
    bm25: Bm25Index
    dense: DenseIndex
    access: AccessIndex


@dataclass(frozen=True)
class _EngineLoaded:
    """A version held by the vector engine: the chunks, this version's BM25 vocabulary, the collection view."""

    chunks: list[Chunk]
    vocabulary: dict[str, int]
    index: QdrantIndex


class RetrievalError(RuntimeError):
    """Retrieval was misused or its index is unusable; the message says what to do."""


def passage_text(chunk: Chunk) -> str:
    """The text that is indexed for a chunk: its title (when not already its opening) and its text."""
    if chunk.title and not chunk.text.startswith(chunk.title):
        return f"{chunk.title}\n{chunk.text}"
    return chunk.text


class Retriever:
    """Hybrid BM25 + dense retrieval over one corpus version, fused by reciprocal rank fusion."""

    def __init__(
        self,
        config: RetrievalConfig,
        embedder: Embedder,
        index_dir: Path,
        *,
        reranker: Reranker | None = None,
    ) -> None:
        if config.mode not in MODES:
            raise RetrievalError(f"[retrieval] mode {config.mode!r} is not known; choose one of: {', '.join(MODES)}")
        if config.candidates < 1 or config.rrf_k < 0 or config.dense_weight < 0:
            raise RetrievalError(
                f"[retrieval] needs candidates >= 1, rrf_k >= 0 and dense_weight >= 0; got candidates="
                f"{config.candidates}, rrf_k={config.rrf_k}, dense_weight={config.dense_weight}"
            )
        self.config = config
        self.embedder = embedder
        self.index_dir = Path(index_dir)
        self.reranker = reranker
        try:
            self.engine: EngineLocation | None = engine_location(config.index, self.index_dir)
        except EngineError as exc:
            raise RetrievalError(str(exc)) from exc
        self._loaded: _Loaded | _EngineLoaded | None = None
        self._local = threading.local()

    # ------------------------------------------------------------------ building and loading

    def warm_up(self, chunks: Sequence[Chunk], version_key: str) -> IndexStats:
        """Build (or load, if already built) the indexes for this corpus version."""
        started = time.perf_counter()
        store.check_version_key(version_key)
        embedder_warm_up = getattr(self.embedder, "warm_up", None)
        if callable(embedder_warm_up):  # some embedders only know their `dim` once loaded
            embedder_warm_up()
        chunks = list(chunks)
        ids = [chunk.chunk_id for chunk in chunks]
        if len(set(ids)) != len(ids):
            duplicate = next(chunk_id for chunk_id, count in Counter(ids).items() if count > 1)
            raise RetrievalError(f"chunk ids must be unique; {duplicate!r} appears more than once")
        texts = [passage_text(chunk) for chunk in chunks]
        shas = [text_sha256(text) for text in texts]
        if self.engine is not None:
            return self._warm_up_engine(self.engine, chunks, texts, shas, version_key, started)
        manifest = self._manifest(ids, shas)
        final = self.index_dir / version_key
        store.remove_leftovers(self.index_dir)

        loaded = self._load(final, manifest, len(chunks))
        if loaded is not None:
            bm25, dense = loaded
            stats = IndexStats(version_key, len(chunks), 0, len(chunks), True, dense.backend, 0.0, 0.0, 0.0, time.perf_counter() - started)
        else:
            bm25, dense, stats = self._build(texts, shas, ids, manifest, final, started)
        self._loaded = _Loaded(chunks, bm25, dense, AccessIndex(chunks))
        return stats

    def _warm_up_engine(
        self, engine: EngineLocation, chunks: list[Chunk], texts: list[str], shas: list[str], version_key: str, started: float
    ) -> IndexStats:
        """Sync this version into the engine's collection: only chunks no kept version has are embedded."""
        t0 = time.perf_counter()
        bm25 = Bm25Index.build(texts)
        weights, vocabulary = bm25.document_weights(), bm25.vocabulary()
        del bm25  # searches run in the engine; only the vocabulary is needed to encode queries
        embedder_key = self._embedder_key()
        keys = [point_key(embedder_key, chunk, sha) for chunk, sha in zip(chunks, shas)]
        t1 = time.perf_counter()
        embedded, embed_s = 0, 0.0

        def vectors_for(rows: list[int]) -> np.ndarray:
            nonlocal embedded, embed_s
            began = time.perf_counter()
            vectors, count = self._vectors_for([texts[row] for row in rows], [shas[row] for row in rows])
            embedded, embed_s = embedded + count, embed_s + time.perf_counter() - began
            return vectors

        try:
            index = QdrantIndex(engine, int(self.embedder.dim))
            synced = index.sync(version_key, chunks, keys, weights, vectors_for, sync_fingerprint(keys, weights, TOKENIZER_VERSION))
        except EngineError as exc:
            raise RetrievalError(str(exc)) from exc
        self._loaded = _EngineLoaded(chunks, vocabulary, index)
        t2 = time.perf_counter()
        return IndexStats(
            version_key,
            len(chunks),
            embedded,
            len(chunks) - embedded,
            synced.current,
            "qdrant",
            t1 - t0,
            embed_s,
            t2 - t1 - embed_s,
            t2 - started,
        )

    @staticmethod
    def _load(final: Path, manifest: dict[str, object], size: int) -> tuple[Bm25Index, DenseIndex] | None:
        """The saved indexes if they were built from exactly these chunks, else None."""
        if store.read_manifest(final) != manifest:
            return None
        try:
            bm25, dense = Bm25Index.load(final / store.BM25_DIR), DenseIndex.load(final)
        except (OSError, ValueError, KeyError):  # damaged on disk: rebuilt by the caller (embeddings are cached)
            return None
        return (bm25, dense) if len(bm25) == size and len(dense) == size else None

    def _manifest(self, ids: list[str], shas: list[str]) -> dict[str, object]:
        digest = hashlib.sha256()
        for chunk_id, sha in zip(ids, shas):
            digest.update(f"{chunk_id}\0{sha}\n".encode())
        return {
            "format": store.FORMAT_VERSION,
            "embedder": self._embedder_key(),
            "tokenizer": TOKENIZER_VERSION,
            "chunks": len(ids),
            "fingerprint": digest.hexdigest(),
            "hnsw": len(ids) > self.config.hnsw_threshold_chunks,
        }

    def _embedder_key(self) -> str:
        return f"{self.embedder.name}:{self.embedder.dim}"

    def _build(
        self, texts: list[str], shas: list[str], ids: list[str], manifest: dict[str, object], final: Path, started: float
    ) -> tuple[Bm25Index, DenseIndex, IndexStats]:
        t0 = time.perf_counter()
        bm25 = Bm25Index.build(texts)
        t1 = time.perf_counter()
        vectors, embedded = self._vectors_for(texts, shas)
        t2 = time.perf_counter()
        dense = DenseIndex.build(vectors, use_hnsw=bool(manifest["hnsw"]))
        t3 = time.perf_counter()
        temp = store.new_temp_dir(self.index_dir, final.name)
        try:
            bm25.save(temp / store.BM25_DIR)
            dense.save(temp)
            store.write_json(temp / store.CHUNK_IDS_FILE, ids)
            store.write_json(temp / store.MANIFEST_FILE, manifest)  # last: its presence marks a complete index
            store.publish(temp, final)
        except BaseException:
            shutil.rmtree(temp, ignore_errors=True)
            raise
        stats = IndexStats(
            final.name,
            len(texts),
            embedded,
            len(texts) - embedded,
            False,
            dense.backend,
            t1 - t0,
            t2 - t1,
            t3 - t2,
            time.perf_counter() - started,
        )
        return bm25, dense, stats

    def _vectors_for(self, texts: list[str], shas: list[str]) -> tuple[np.ndarray, int]:
        """One vector per text: from the cache when its text was embedded before, else embedded now."""
        key, dim = self._embedder_key(), int(self.embedder.dim)
        cache = EmbeddingCache(self.index_dir / CACHE_FILE)
        known = cache.get_many(key, dim, shas)
        missing: dict[str, str] = {}  # sha -> text, in first-seen order (duplicates embed once)
        for sha, text in zip(shas, texts):
            if sha not in known and sha not in missing:
                missing[sha] = text
        pending = list(missing.items())
        for start in range(0, len(pending), EMBED_BATCH):
            batch = pending[start : start + EMBED_BATCH]
            batch_vectors = self._embed([text for _, text in batch], is_query=False)
            cache.put_many(key, [sha for sha, _ in batch], batch_vectors)
            known.update(zip((sha for sha, _ in batch), batch_vectors))
        vectors = np.empty((len(texts), dim), dtype=np.float32)
        for row, sha in enumerate(shas):
            vectors[row] = known[sha]
        embedded = sum(1 for sha in shas if sha in missing)
        return vectors, embedded

    def _embed(self, texts: list[str], *, is_query: bool) -> np.ndarray:
        vectors = np.asarray(self.embedder.embed(texts, is_query=is_query), dtype=np.float32)
        if vectors.shape != (len(texts), self.embedder.dim):
            raise RetrievalError(
                f"embedder {self.embedder.name!r} returned shape {vectors.shape} for {len(texts)} texts; "
                f"expected ({len(texts)}, {self.embedder.dim})"
            )
        return vectors

    # ------------------------------------------------------------------ searching

    @property
    def last_timings(self) -> dict[str, float]:
        """Seconds spent by this thread's last `search`: embed_query_s, bm25_s, dense_s, fuse_s, search_s."""
        return dict(getattr(self._local, "timings", {}))

    @property
    def chunks(self) -> list[Chunk]:
        """The chunks of the version loaded by `warm_up`, in index order."""
        return list(self._loaded.chunks) if self._loaded is not None else []

    def search(self, query: str, k: int, *, user: User | None = None) -> list[Hit]:
        """The best `k` chunks for `query` that `user` may see (None = anonymous: public chunks only).

        `Hit.score` is the fused RRF score in hybrid mode and the retriever's own score otherwise;
        `Hit.scores` holds bm25 / bm25_rank / dense / dense_rank / rrf where they apply.
        """
        loaded = self._loaded
        if loaded is None:
            raise RetrievalError("Retriever.search called before warm_up(chunks, version_key)")
        mode = self.config.mode
        timings = {"embed_query_s": 0.0, "bm25_s": 0.0, "dense_s": 0.0, "fuse_s": 0.0, "search_s": 0.0}
        self._local.timings = timings
        if k <= 0 or not loaded.chunks:
            return []
        t0 = time.perf_counter()
        query_vector = self._embed([query], is_query=True)[0] if mode != "bm25" else None
        t1 = time.perf_counter()
        depth = max(self.config.candidates, k)
        if isinstance(loaded, _Loaded):
            ranked = _rank_embedded(loaded, query, query_vector, user, depth, mode)
        else:
            ranked = _rank_engine(loaded, query, query_vector, user, depth, mode)
        rankings = ranked.rankings
        t2, t3 = ranked.bm25_done, time.perf_counter()

        fused = reciprocal_rank_fusion(rankings, self.config.rrf_k, {"dense": self.config.dense_weight})
        wanted = depth if self.reranker is not None else k
        rows = np.asarray([row for row, _ in fused[:wanted]], dtype=np.int64)
        cosines = ranked.cosines(query_vector, rows) if query_vector is not None else None
        bm25 = ranked.bm25_of(rows.tolist()) if mode != "dense" else {}
        ranks = {name: {row: rank for rank, row in enumerate(ranking, start=1)} for name, ranking in rankings.items()}
        hits = []
        for i, (row, rrf) in enumerate(fused[:wanted]):
            scores: dict[str, float] = {"rrf": rrf}
            if row in bm25:
                scores["bm25"] = bm25[row]
            if cosines is not None:
                scores["dense"] = float(cosines[i])
            for name in rankings:
                if row in ranks[name]:
                    scores[f"{name}_rank"] = float(ranks[name][row])
            score = rrf if mode == "hybrid" else scores.get(mode, 0.0)
            hits.append(Hit(chunk=loaded.chunks[row], score=score, scores=scores))
        if self.reranker is not None:
            allowed_ids = {hit.chunk.chunk_id for hit in hits}
            hits = [hit for hit in self.reranker.rerank(query, hits) if hit.chunk.chunk_id in allowed_ids]
        t4 = time.perf_counter()
        timings.update(embed_query_s=t1 - t0, bm25_s=t2 - t1, dense_s=t3 - t2, fuse_s=t4 - t3, search_s=t4 - t1)
        return hits[:k]


@dataclass(frozen=True)
class _Ranked:
    """One search's candidate lists, and how to score fused rows for the trace, whichever index ran it."""

    rankings: dict[str, list[int]]
    bm25_done: float  # perf_counter when the BM25 list was ready (the rest of the time is dense search)
    bm25_of: Callable[[list[int]], dict[int, float]]  # rows -> BM25 score, for rows with one above 0
    cosines: Callable[[np.ndarray, np.ndarray], np.ndarray]


def _rank_embedded(loaded: _Loaded, query: str, query_vector: np.ndarray | None, user: User | None, depth: int, mode: str) -> _Ranked:
    visible = loaded.access.visible_to(user)
    rankings: dict[str, list[int]] = {}
    bm25_scores: np.ndarray | None = None
    if mode != "dense":
        bm25_scores = loaded.bm25.scores(query)
        matched = np.flatnonzero(bm25_scores > 0)  # no shared term: not a candidate (and usually few rows)
        if visible is not None:
            matched = matched[visible.allowed[matched]]
        rankings["bm25"] = matched[top_k_indices(bm25_scores[matched], depth)].tolist()
    bm25_done = time.perf_counter()
    if query_vector is not None:
        dense_rows, _ = loaded.dense.search(query_vector, depth, visible)
        rankings["dense"] = dense_rows.tolist()
    return _Ranked(
        rankings,
        bm25_done,
        lambda rows: {} if bm25_scores is None else {row: float(bm25_scores[row]) for row in rows if bm25_scores[row] > 0},
        lambda vector, rows: loaded.dense.cosine(vector, rows),
    )


def _rank_engine(loaded: _EngineLoaded, query: str, query_vector: np.ndarray | None, user: User | None, depth: int, mode: str) -> _Ranked:
    """The same lists from the engine: its sparse and dense searches, each with the access filter inside."""
    index, rankings = loaded.index, {}
    query_ids = query_term_ids(query, loaded.vocabulary)
    known: dict[int, float] = {}
    if mode != "dense":
        found = index.search_sparse(query_ids, depth, user)
        rankings["bm25"] = [row for row, _ in found]
        known = {row: float(score) for row, score in found}
    bm25_done = time.perf_counter()
    if query_vector is not None:
        rankings["dense"] = index.search_dense(query_vector, depth, user)

    def bm25_of(rows: list[int]) -> dict[int, float]:
        missing = [row for row in rows if row not in known]
        weights = index.sparse_weights(missing) if missing and query_ids else {}
        scores = {row: float(score_from_weights(query_ids, *weights[row])) for row in missing if row in weights}
        return {row: known.get(row, scores.get(row, 0.0)) for row in rows if known.get(row, scores.get(row, 0.0)) > 0}

    return _Ranked(rankings, bm25_done, bm25_of, lambda vector, rows: index.vectors(rows.tolist()) @ vector)
