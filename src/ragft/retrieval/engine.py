"""The index on a vector engine: Qdrant, in-process (local mode) for tests and one machine, a server for replicas.

Why Qdrant (measured with `benchmarks/bench_index.py --stage choice`; figures in
docs/ARCHITECTURE.md and benchmarks/results/index.json): qdrant-client is one API for local mode
(`QdrantClient(path=...)`, in-process, what CI runs) and a server (`QdrantClient(url=...)`, the
Rust engine, which qdrant-edge-py embeds and which answered filtered sparse and dense searches
in milliseconds at 5k points). Milvus Lite 3.2 is a pure-Python re-implementation, so its
embedded mode would not test the engine a Milvus server runs; qdrant-edge-py has no server
mode. Local mode is pure Python and slow: for tests and small workspaces only.

What the collection holds (one collection shared by every corpus version and replica): a *point*
per chunk and *build* (a corpus version with one content fingerprint), id derived from both, with
the chunk's dense vector and its BM25 weights (bm25s's idf x tf-saturation values, our tokenizer)
as a sparse vector, and payload `build`, `dense` (the chunk's key), `chunk_id`, `public`, `groups`.
The BM25 weights depend on the whole corpus (idf, average length), so each build writes its own; the
engine's dot product with the query's term counts is then exactly our `Bm25Index` score. A new
version copies the dense vectors of unchanged chunks from the builds before it, so nothing is
embedded again. Per build, not shared across versions, so replicas syncing different versions at
once never write the same point; `engine_versions.py` has the bookkeeping (marker, record) and the
garbage-collection rule that make that safe without a lock.

Access is a payload filter inside every engine search (public, or a group in common), so a
restricted chunk never leaves the engine for an outsider and never takes a candidate slot.
"""

from __future__ import annotations

import atexit
import os
import threading
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ragft.retrieval.engine_versions import (
    KEEP_VERSIONS,
    MARKER,
    RECORD,
    Build,
    bookkeeping_id,
    bookkeeping_payload,
    build_name,
    builds_from,
    builds_to_drop,
    chunk_point_id,
    version_family,
)
from ragft.retrieval.lexical import score_from_weights
from ragft.types import Chunk, User

API_KEY_ENV = "RAGFT_QDRANT_API_KEY"  # sent to a Qdrant server, kept out of ragft.toml
DEFAULT_COLLECTION = "ragft"
LOCAL_DIR = "qdrant"  # under the workspace's index folder for `index = "qdrant"`
DENSE, SPARSE = "dense", "bm25"
_BATCH = 256
# Each engine search fetches this many times the candidates it keeps: they are re-scored exactly here and
# cut with ties going to the smaller row, so a tie at the cut is decided as the embedded index decides it.
OVERFETCH = 2
_OLD_LAYOUT = "ragft_versions"  # collection metadata of the layout before builds (dense points shared by versions)


class EngineError(RuntimeError):
    """The vector engine is misconfigured or unusable; the message names the setting to change."""


@dataclass(frozen=True)
class EngineLocation:
    """Where the collection lives: a local-mode folder or a server URL."""

    collection: str
    path: Path | None = None
    url: str | None = None

    def describe(self) -> str:
        return f"qdrant {self.url or self.path} collection {self.collection!r}"


def engine_location(setting: str, index_dir: Path) -> EngineLocation | None:
    """Parse `[retrieval] index`: None for "embedded", else where the Qdrant collection is."""
    if setting == "embedded":
        return None
    if setting == "qdrant":
        return EngineLocation(DEFAULT_COLLECTION, path=Path(index_dir) / LOCAL_DIR)
    if setting.startswith("qdrant:///"):
        return EngineLocation(DEFAULT_COLLECTION, path=Path(setting[len("qdrant://") :]))
    if setting.startswith(("http://", "https://")):
        base, _, collection = setting.partition("://")[2].partition("/")
        scheme = setting.partition("://")[0]
        return EngineLocation(collection.strip("/") or DEFAULT_COLLECTION, url=f"{scheme}://{base}")
    raise EngineError(
        f'[retrieval] index = "{setting}" is not known; use "embedded", "qdrant" (local mode in .ragft/indexes/qdrant), '
        '"qdrant:///absolute/folder" or a server URL "http://host:6333[/collection]"'
    )


_clients: dict[EngineLocation, tuple[Any, threading.Lock]] = {}
_clients_lock = threading.Lock()
_live: weakref.WeakSet[QdrantIndex] = weakref.WeakSet()  # views whose builds their process never garbage-collects


def _import_qdrant() -> Any:
    try:
        import qdrant_client
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise EngineError('[retrieval] index names Qdrant, which needs `pip install "ragft[index]"` (qdrant-client)') from exc
    return qdrant_client


def _client(location: EngineLocation) -> tuple[Any, threading.Lock]:
    """One client per location per process: local mode locks its folder, so a second client would fail."""
    with _clients_lock:
        if location not in _clients:
            qdrant_client = _import_qdrant()
            if location.path is not None:
                location.path.mkdir(parents=True, exist_ok=True)
                try:
                    client = qdrant_client.QdrantClient(path=str(location.path))
                except RuntimeError as exc:  # the folder is locked by another process
                    raise EngineError(
                        f"{location.path} is in use by another ragft process: Qdrant's local mode serves one process "
                        '(stop it, or set [retrieval] index to a Qdrant server, "http://host:6333", which processes share)'
                    ) from exc
            else:
                client = qdrant_client.QdrantClient(url=location.url, api_key=os.environ.get(API_KEY_ENV) or None)
            atexit.register(client.close)  # before interpreter teardown, where local mode's own close fails noisily
            _clients[location] = (client, threading.Lock())
        return _clients[location]


@dataclass(frozen=True)
class SyncStats:
    """What a sync wrote: points uploaded, dense vectors copied from earlier builds, builds dropped; or that it was current."""

    current: bool
    uploaded: int
    reused: int
    dropped_versions: tuple[str, ...]


class QdrantIndex:
    """One corpus version's view of the shared collection: sync it, then search it with the access filter."""

    def __init__(self, location: EngineLocation, dim: int) -> None:
        self.location = location
        self.dim = dim
        self._client, self._lock = _client(location)
        self._models = _import_qdrant().models
        self._build = ""
        self._dense_keys: list[str] = []
        self._row_of: dict[str, int] = {}  # this build's point id -> row
        with self._lock:
            self._ensure_collection()
        _live.add(self)

    # ------------------------------------------------------------------ building

    def _ensure_collection(self) -> None:
        m, name = self._models, self.location.collection
        if not self._client.collection_exists(name):
            try:
                self._client.create_collection(
                    name,
                    vectors_config={DENSE: m.VectorParams(size=self.dim, distance=m.Distance.DOT)},
                    sparse_vectors_config={SPARSE: m.SparseVectorParams()},
                )
            except Exception:
                if not self._client.collection_exists(name):
                    raise
                # another replica created it between our check and our create: use theirs, checked below
            else:
                self._payload_indexes()
                return
        collection = self._client.get_collection(name)
        size = collection.config.params.vectors[DENSE].size
        if size != self.dim:
            raise EngineError(
                f"{self.location.describe()} holds {size}-dimensional vectors but the embedder makes {self.dim}: "
                "point [retrieval] index at a new collection (http://host:6333/<name>) or folder"
            )
        if _OLD_LAYOUT in (collection.config.metadata or {}):
            self._drop_old_layout()
            self._payload_indexes()

    def _payload_indexes(self) -> None:
        """Index the payload fields every search and sync filters on (a server only: local mode has none, and warns)."""
        if self.location.url is not None:
            for field, kind in (("build", "KEYWORD"), ("kind", "KEYWORD"), ("groups", "KEYWORD"), ("public", "BOOL")):
                self._client.create_payload_index(self.location.collection, field, getattr(self._models.PayloadSchemaType, kind))

    def _drop_old_layout(self) -> None:
        """Delete the points of the layout before builds (shared dense points, one metadata dict): rebuilt on sync."""
        m, name = self._models, self.location.collection
        for field in ("versions", "version"):
            old = m.Filter(must_not=[m.IsEmptyCondition(is_empty=m.PayloadField(key=field))])
            self._client.delete(name, points_selector=m.FilterSelector(filter=old))
        self._client.update_collection(name, metadata={_OLD_LAYOUT: None})

    def sync(
        self,
        version_key: str,
        chunks: Sequence[Chunk],
        dense_keys: list[str],
        weights: list[tuple[np.ndarray, np.ndarray]],
        vectors_for: Callable[[list[int]], np.ndarray],
        fingerprint: str,
    ) -> SyncStats:
        """Make the collection hold `version_key` as these chunks, safely beside replicas syncing other versions.

        Every write is an idempotent upsert of this build's own points (see engine_versions): the
        marker, then the chunk points (vectors copied from earlier builds where the chunk is
        unchanged, embedded otherwise), then the record, which makes the build trusted. A crash
        before the record leaves it unrecorded, and the next sync writes only the missing points.
        """
        build = build_name(version_key, fingerprint)
        self._build, self._dense_keys = build, list(dense_keys)
        self._row_of = {chunk_point_id(build, key): row for row, key in enumerate(dense_keys)}
        with self._lock:
            if self._is_built(build):
                return SyncStats(True, 0, len(chunks), ())
            self._write_bookkeeping(MARKER, version_key, len(chunks))
            uploaded, reused = self._write_points(chunks, weights, vectors_for)
            self._write_bookkeeping(RECORD, version_key, len(chunks))
            self._check_complete(version_key, len(chunks))
            dropped = self._drop_old_builds(version_family(version_key))
        return SyncStats(False, uploaded, reused, tuple(dropped))

    def _is_built(self, build: str) -> bool:
        return bool(self._client.retrieve(self.location.collection, [bookkeeping_id(RECORD, build)], with_payload=False))

    def _write_bookkeeping(self, kind: str, version_key: str, points: int) -> None:
        m, build = self._models, self._build
        point = m.PointStruct(id=bookkeeping_id(kind, build), vector={}, payload=bookkeeping_payload(kind, build, version_key, points))
        self._client.upsert(self.location.collection, [point])

    def _write_points(
        self, chunks: Sequence[Chunk], weights: list[tuple[np.ndarray, np.ndarray]], vectors_for: Callable[[list[int]], np.ndarray]
    ) -> tuple[int, int]:
        """Upsert this build's chunk points not yet written; returns (points written, vectors copied)."""
        m, name, keys = self._models, self.location.collection, self._dense_keys
        ids = [chunk_point_id(self._build, key) for key in keys]
        written = self._existing(ids)
        todo = [row for row, point in enumerate(ids) if point not in written]
        copied = self._earlier_vectors(todo)
        for start in range(0, len(todo), _BATCH):
            rows = todo[start : start + _BATCH]
            fresh = [row for row in rows if row not in copied]
            embedded = dict(zip(fresh, vectors_for(fresh))) if fresh else {}
            points = []
            for row in rows:
                vector = {DENSE: (copied[row] if row in copied else embedded[row].tolist())}
                indices, values = weights[row]
                if len(indices):  # a chunk without a single term has no sparse vector and never matches BM25
                    vector[SPARSE] = m.SparseVector(indices=indices.tolist(), values=values.tolist())
                points.append(
                    m.PointStruct(
                        id=ids[row], vector=vector, payload={**_acl_payload(chunks[row]), "build": self._build, "dense": keys[row]}
                    )
                )
            self._client.upsert(name, points)
        return len(todo), len(copied)

    def _existing(self, ids: list[str]) -> set[str]:
        found: set[str] = set()
        for start in range(0, len(ids), _BATCH):
            records = self._client.retrieve(self.location.collection, ids[start : start + _BATCH], with_payload=False)
            found.update(str(record.id) for record in records)
        return found

    def _earlier_vectors(self, rows: list[int]) -> dict[int, list[float]]:
        """Dense vectors of these rows' unchanged chunks from the newest built builds of this family (read, never changed)."""
        family = version_family(self._build.partition("@")[0])
        earlier = [b for b in self._builds() if b.built and b.family == family and b.name != self._build]
        earlier.sort(key=lambda b: (b.number, b.recorded_at), reverse=True)
        found: dict[int, list[float]] = {}
        for build in earlier[:KEEP_VERSIONS]:
            wanted = {chunk_point_id(build.name, self._dense_keys[row]): row for row in rows if row not in found}
            ids = list(wanted)
            for start in range(0, len(ids), _BATCH):
                records = self._client.retrieve(
                    self.location.collection, ids[start : start + _BATCH], with_vectors=[DENSE], with_payload=False
                )
                found.update({wanted[str(r.id)]: list(r.vector[DENSE]) for r in records})
        return found

    def _builds(self) -> list[Build]:
        m, offset = self._models, None
        payloads: list[dict[str, Any]] = []
        condition = m.Filter(must=[m.FieldCondition(key="kind", match=m.MatchAny(any=[MARKER, RECORD]))])
        while True:
            records, offset = self._client.scroll(
                self.location.collection, scroll_filter=condition, limit=1024, offset=offset, with_payload=True
            )
            payloads.extend(record.payload or {} for record in records)
            if offset is None:
                return builds_from(payloads)

    def _build_filter(self, build: str) -> Any:
        m = self._models
        return m.Filter(must=[m.FieldCondition(key="build", match=m.MatchValue(value=build))])

    def _check_complete(self, version_key: str, expected: int) -> None:
        """After the record: were all points still there? (another replica's collection may have dropped an old build)."""
        found = self._client.count(self.location.collection, count_filter=self._build_filter(self._build), exact=True).count
        if found != expected:
            self._client.delete(
                self.location.collection, points_selector=self._models.PointIdsList(points=[bookkeeping_id(RECORD, self._build)])
            )
            raise EngineError(
                f"{version_key} was dropped from {self.location.describe()} while this process indexed it ({found} of "
                f"{expected} points left): the collection already holds {KEEP_VERSIONS} newer versions, which replicas "
                "keep instead; sync a newer corpus version, or give this one its own collection or folder"
            )

    def _drop_old_builds(self, family: str) -> list[str]:
        """Garbage-collect this family's builds by the rule in engine_versions (record first, marker last)."""
        protected = {index._build for index in list(_live) if index._client is self._client}
        dropped = builds_to_drop(self._builds(), family, protected)
        m, name = self._models, self.location.collection
        for build in dropped:
            self._client.delete(name, points_selector=m.PointIdsList(points=[bookkeeping_id(RECORD, build)]))
            self._client.delete(name, points_selector=m.FilterSelector(filter=self._build_filter(build)))
            self._client.delete(name, points_selector=m.PointIdsList(points=[bookkeeping_id(MARKER, build)]))
        return dropped

    # ------------------------------------------------------------------ searching

    def _access(self, user: User | None) -> list[Any]:
        """The payload filter that keeps what `user` may not see inside the engine."""
        m = self._models
        public = m.FieldCondition(key="public", match=m.MatchValue(value=True))
        if user is None or not user.groups:
            return [public]
        return [m.Filter(should=[public, m.FieldCondition(key="groups", match=m.MatchAny(any=sorted(user.groups)))])]

    def search_sparse(self, query_ids: list[int], depth: int, user: User | None) -> list[tuple[int, np.float32]]:
        """Rows with a BM25 score above 0, best first (ties by row), scored exactly as `Bm25Index.scores`."""
        if not query_ids or depth <= 0:
            return []
        m = self._models
        terms, counts = np.unique(np.asarray(query_ids, dtype=np.int64), return_counts=True)
        condition = m.Filter(must=[m.FieldCondition(key="build", match=m.MatchValue(value=self._build)), *self._access(user)])
        with self._lock:
            found = self._client.query_points(
                self.location.collection,
                query=m.SparseVector(indices=terms.tolist(), values=counts.astype(float).tolist()),
                using=SPARSE,
                query_filter=condition,
                limit=OVERFETCH * depth,
                with_payload=False,
                with_vectors=[SPARSE],
            ).points
        scored = []
        for point in found:
            row = self._row_of.get(str(point.id))
            if row is not None:
                vector = point.vector[SPARSE]
                score = score_from_weights(query_ids, np.asarray(vector.indices), np.asarray(vector.values, dtype=np.float32))
                if score > 0:
                    scored.append((row, score))
        return sorted(scored, key=lambda pair: (-pair[1], pair[0]))[:depth]

    def search_dense(self, query_vector: np.ndarray, depth: int, user: User | None) -> list[int]:
        """Rows nearest to `query_vector` by inner product, best first, ties by row.

        The engine's candidates are re-scored here in float32 (a server's HNSW scores are
        approximate), so the order is the embedded index's exact one.
        """
        if depth <= 0:
            return []
        m = self._models
        condition = m.Filter(must=[m.FieldCondition(key="build", match=m.MatchValue(value=self._build)), *self._access(user)])
        with self._lock:
            found = self._client.query_points(
                self.location.collection,
                query=query_vector.tolist(),
                using=DENSE,
                query_filter=condition,
                limit=OVERFETCH * depth,
                with_vectors=[DENSE],
            ).points
        found = [point for point in found if str(point.id) in self._row_of]
        if not found:
            return []
        rows = np.asarray([self._row_of[str(point.id)] for point in found], dtype=np.int64)
        scores = np.asarray([point.vector[DENSE] for point in found], dtype=np.float32) @ query_vector
        return rows[np.lexsort((rows, -scores))][:depth].tolist()

    def vectors(self, rows: Sequence[int]) -> np.ndarray:
        """The stored dense vectors of these rows (for the trace's cosines), in `rows` order."""
        keys = [chunk_point_id(self._build, self._dense_keys[row]) for row in rows]
        with self._lock:
            records = self._client.retrieve(self.location.collection, keys, with_vectors=[DENSE], with_payload=False)
        by_key = {str(r.id): r.vector[DENSE] for r in records}
        return np.asarray([by_key[key] for key in keys], dtype=np.float32).reshape(len(keys), self.dim)

    def sparse_weights(self, rows: Sequence[int]) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        """The stored BM25 weights of these rows in this version (rows without terms are left out)."""
        keys = {chunk_point_id(self._build, self._dense_keys[row]): row for row in rows}
        with self._lock:
            records = self._client.retrieve(self.location.collection, list(keys), with_vectors=[SPARSE], with_payload=False)
        return {
            keys[str(r.id)]: (np.asarray(r.vector[SPARSE].indices), np.asarray(r.vector[SPARSE].values, dtype=np.float32)) for r in records
        }


def _acl_payload(chunk: Chunk) -> dict[str, Any]:
    return {"chunk_id": chunk.chunk_id, "public": not chunk.acl, "groups": sorted(chunk.acl)}
