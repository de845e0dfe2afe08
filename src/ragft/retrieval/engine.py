"""The index on a vector engine: Qdrant, in-process (local mode) for tests and one machine, a server for replicas.

Why Qdrant (measured with `benchmarks/bench_index.py --stage choice`; figures in
docs/ARCHITECTURE.md and benchmarks/results/index.json): qdrant-client is one API for local mode
(`QdrantClient(path=...)`, in-process, what CI runs) and a server (`QdrantClient(url=...)`, the
Rust engine, which qdrant-edge-py embeds and which answered filtered sparse and dense searches
in milliseconds at 5k points). Milvus Lite 3.2 is a pure-Python re-implementation, so its
embedded mode would not test the engine a Milvus server runs; qdrant-edge-py has no server
mode. Local mode is pure Python and slow: for tests and small workspaces only.

What the collection holds (one collection shared by every corpus version and replica):

- a *dense point* per distinct chunk (id = uuid5 of embedder, chunk id, text sha256 and access
  tags), payload `chunk_id`, `public`, `groups`, `versions` (the version keys that contain it). A
  new version adds its key to unchanged points and upserts only new or changed chunks, so nothing
  is embedded or uploaded again; a removed chunk is deleted once no kept version holds it.
- a *sparse point* per chunk and version: BM25 weights (bm25s's idf x tf-saturation values, our
  tokenizer) as a sparse vector. They depend on the whole corpus (idf, average length), so each
  version writes its own; the engine's dot product with the query's term counts is then exactly
  our `Bm25Index` score.
- collection metadata `ragft_versions`: version key -> fingerprint of what was indexed, written
  last, so a replica (or a restart) that finds its version's fingerprint skips the sync.

Access is a payload filter inside every engine search (public, or a group in common), so a
restricted chunk never leaves the engine for an outsider and never takes a candidate slot.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import re
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ragft.retrieval.lexical import score_from_weights
from ragft.types import Chunk, User

API_KEY_ENV = "RAGFT_QDRANT_API_KEY"  # sent to a Qdrant server, kept out of ragft.toml
DEFAULT_COLLECTION = "ragft"
LOCAL_DIR = "qdrant"  # under the workspace's index folder for `index = "qdrant"`
DENSE, SPARSE = "dense", "bm25"
KEEP_VERSIONS = 2  # versions of one family kept: the newest two (a comparison's version and the next)
_BATCH = 256
# Each engine search fetches this many times the candidates it keeps: they are re-scored exactly here and
# cut with ties going to the smaller row, so a tie at the cut is decided as the embedded index decides it.
OVERFETCH = 2
_META = "ragft_versions"
_NAMESPACE = uuid.UUID("6f1c3c1e-5b8e-4d0e-9a43-1b2f3c4d5e6f")
_VERSION_NUMBER = re.compile(r"-v(\d+)")


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


def version_family(version_key: str) -> str:
    """The version key with its number taken out: "corpus-v3-hostile" -> "corpus-v*-hostile"."""
    return _VERSION_NUMBER.sub("-v*", version_key, count=1)


def _version_number(version_key: str) -> int:
    found = _VERSION_NUMBER.search(version_key)
    return int(found.group(1)) if found else 0


def point_key(embedder_key: str, chunk: Chunk, sha: str) -> str:
    """A chunk's dense point id: the same text, tags and embedder give the same point in every version."""
    return str(uuid.uuid5(_NAMESPACE, f"{embedder_key}\0{chunk.chunk_id}\0{sha}\0{','.join(sorted(chunk.acl))}"))


def _sparse_key(version_key: str, dense_key: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{version_key}\0{dense_key}"))


@dataclass(frozen=True)
class SyncStats:
    """What a sync wrote: points uploaded, points reused from other versions, and whether it was current."""

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
        self._version_key = ""
        self._dense_keys: list[str] = []
        self._row_of: dict[str, int] = {}
        with self._lock:
            self._ensure_collection()

    # ------------------------------------------------------------------ building

    def _ensure_collection(self) -> None:
        m, name = self._models, self.location.collection
        if not self._client.collection_exists(name):
            self._client.create_collection(
                name,
                vectors_config={DENSE: m.VectorParams(size=self.dim, distance=m.Distance.DOT)},
                sparse_vectors_config={SPARSE: m.SparseVectorParams()},
                metadata={_META: {}},
            )
            if self.location.url is not None:  # local mode has no payload indexes (and warns)
                for field, kind in (("versions", "KEYWORD"), ("version", "KEYWORD"), ("groups", "KEYWORD"), ("public", "BOOL")):
                    self._client.create_payload_index(name, field, getattr(m.PayloadSchemaType, kind))
            return
        size = self._client.get_collection(name).config.params.vectors[DENSE].size
        if size != self.dim:
            raise EngineError(
                f"{self.location.describe()} holds {size}-dimensional vectors but the embedder makes {self.dim}: "
                "point [retrieval] index at a new collection (http://host:6333/<name>) or folder"
            )

    def _recorded(self) -> dict[str, str]:
        metadata = self._client.get_collection(self.location.collection).config.metadata or {}
        return dict(metadata.get(_META) or {})

    def _record(self, versions: dict[str, str]) -> None:
        self._client.update_collection(self.location.collection, metadata={_META: versions})

    def sync(
        self,
        version_key: str,
        chunks: Sequence[Chunk],
        dense_keys: list[str],
        weights: list[tuple[np.ndarray, np.ndarray]],
        vectors_for: Callable[[list[int]], np.ndarray],
        fingerprint: str,
    ) -> SyncStats:
        """Make the collection hold `version_key` as these chunks; only new or changed chunks are uploaded."""
        self._version_key, self._dense_keys = version_key, list(dense_keys)
        self._row_of = {key: row for row, key in enumerate(dense_keys)}
        with self._lock:
            recorded = self._recorded()
            if recorded.get(version_key) == fingerprint:
                return SyncStats(True, 0, len(chunks), ())
            recorded[version_key] = "building"  # a crash leaves this, so the next warm_up syncs again
            self._record(recorded)
            uploaded = self._sync_dense(chunks, dense_keys, vectors_for)
            self._sync_sparse(chunks, dense_keys, weights)
            dropped = self._drop_old_versions(recorded, version_key)
            for key in dropped:
                recorded.pop(key, None)
            recorded[version_key] = fingerprint
            self._record(recorded)
        return SyncStats(False, uploaded, len(chunks) - uploaded, tuple(dropped))

    def _sync_dense(self, chunks: Sequence[Chunk], keys: list[str], vectors_for: Callable[[list[int]], np.ndarray]) -> int:
        m, name, key = self._models, self.location.collection, self._version_key
        existing: dict[str, list[str]] = {}
        for start in range(0, len(keys), _BATCH):
            for record in self._client.retrieve(name, keys[start : start + _BATCH], with_payload=["versions"], with_vectors=False):
                existing[str(record.id)] = list((record.payload or {}).get("versions") or [])
        missing = [row for row, point in enumerate(keys) if point not in existing]
        for start in range(0, len(missing), _BATCH):
            rows = missing[start : start + _BATCH]
            vectors = vectors_for(rows)
            points = [
                m.PointStruct(id=keys[row], vector={DENSE: vectors[i].tolist()}, payload={**_acl_payload(chunks[row]), "versions": [key]})
                for i, row in enumerate(rows)
            ]
            self._client.upsert(name, points)
        wanted = set(keys)
        regroup: dict[tuple[str, ...], list[str]] = {}
        for point, versions in existing.items():
            if key not in versions:
                regroup.setdefault(tuple([*versions, key]), []).append(point)
        for point, versions in self._points_of_version(key).items():  # same key, chunks since removed
            if point not in wanted:
                regroup.setdefault(tuple(v for v in versions if v != key), []).append(point)
        self._set_versions(regroup)
        return len(missing)

    def _points_of_version(self, version_key: str) -> dict[str, list[str]]:
        """Dense points whose `versions` hold `version_key`, with those lists."""
        m, found, offset = self._models, {}, None
        condition = m.Filter(must=[m.FieldCondition(key="versions", match=m.MatchValue(value=version_key))])
        while True:
            records, offset = self._client.scroll(
                self.location.collection, scroll_filter=condition, limit=1024, offset=offset, with_payload=["versions"], with_vectors=False
            )
            found.update({str(r.id): list((r.payload or {}).get("versions") or []) for r in records})
            if offset is None:
                return found

    def _set_versions(self, regroup: dict[tuple[str, ...], list[str]]) -> None:
        """Give each group of points its new `versions` list; a point left with none is deleted."""
        m, name = self._models, self.location.collection
        for versions, points in regroup.items():
            for start in range(0, len(points), _BATCH):
                batch = points[start : start + _BATCH]
                if versions:
                    self._client.set_payload(name, payload={"versions": list(versions)}, points=batch)
                else:
                    self._client.delete(name, points_selector=m.PointIdsList(points=batch))

    def _sync_sparse(self, chunks: Sequence[Chunk], keys: list[str], weights: list[tuple[np.ndarray, np.ndarray]]) -> None:
        m, name, key = self._models, self.location.collection, self._version_key
        self._client.delete(name, points_selector=m.FilterSelector(filter=self._version_filter(key)))
        points = [
            m.PointStruct(
                id=_sparse_key(key, keys[row]),
                vector={SPARSE: m.SparseVector(indices=indices.tolist(), values=values.tolist())},
                payload={**_acl_payload(chunks[row]), "version": key, "dense": keys[row]},
            )
            for row, (indices, values) in enumerate(weights)
            if len(indices)  # a chunk without a single term can never match
        ]
        for start in range(0, len(points), _BATCH):
            self._client.upsert(name, points[start : start + _BATCH])

    def _version_filter(self, version_key: str) -> Any:
        m = self._models
        return m.Filter(must=[m.FieldCondition(key="version", match=m.MatchValue(value=version_key))])

    def _drop_old_versions(self, recorded: dict[str, str], version_key: str) -> list[str]:
        """Forget versions of this key's family beyond the newest KEEP_VERSIONS (never `version_key` itself)."""
        family = version_family(version_key)
        same = sorted((k for k in recorded if version_family(k) == family), key=_version_number, reverse=True)
        dropped = [k for k in same[KEEP_VERSIONS:] if k != version_key]
        m, name = self._models, self.location.collection
        for old in dropped:
            self._client.delete(name, points_selector=m.FilterSelector(filter=self._version_filter(old)))
            regroup: dict[tuple[str, ...], list[str]] = {}
            for point, versions in self._points_of_version(old).items():
                regroup.setdefault(tuple(v for v in versions if v != old), []).append(point)
            self._set_versions(regroup)
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
        condition = m.Filter(must=[m.FieldCondition(key="version", match=m.MatchValue(value=self._version_key)), *self._access(user)])
        with self._lock:
            found = self._client.query_points(
                self.location.collection,
                query=m.SparseVector(indices=terms.tolist(), values=counts.astype(float).tolist()),
                using=SPARSE,
                query_filter=condition,
                limit=OVERFETCH * depth,
                with_payload=["dense"],
                with_vectors=[SPARSE],
            ).points
        scored = []
        for point in found:
            row = self._row_of.get(str((point.payload or {}).get("dense")))
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
        condition = m.Filter(must=[m.FieldCondition(key="versions", match=m.MatchValue(value=self._version_key)), *self._access(user)])
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
        keys = [self._dense_keys[row] for row in rows]
        with self._lock:
            records = self._client.retrieve(self.location.collection, keys, with_vectors=[DENSE], with_payload=False)
        by_key = {str(r.id): r.vector[DENSE] for r in records}
        return np.asarray([by_key[key] for key in keys], dtype=np.float32).reshape(len(keys), self.dim)

    def sparse_weights(self, rows: Sequence[int]) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        """The stored BM25 weights of these rows in this version (rows without terms are left out)."""
        keys = {_sparse_key(self._version_key, self._dense_keys[row]): row for row in rows}
        with self._lock:
            records = self._client.retrieve(self.location.collection, list(keys), with_vectors=[SPARSE], with_payload=False)
        return {
            keys[str(r.id)]: (np.asarray(r.vector[SPARSE].indices), np.asarray(r.vector[SPARSE].values, dtype=np.float32)) for r in records
        }


def _acl_payload(chunk: Chunk) -> dict[str, Any]:
    return {"chunk_id": chunk.chunk_id, "public": not chunk.acl, "groups": sorted(chunk.acl)}


def sync_fingerprint(dense_keys: Sequence[str], weights: Sequence[tuple[np.ndarray, np.ndarray]], tokenizer: str) -> str:
    """What a version's sync wrote: its points (text, tags, embedder) and every BM25 weight."""
    digest = hashlib.sha256(tokenizer.encode())
    for key, (indices, values) in zip(dense_keys, weights):
        digest.update(key.encode())
        digest.update(indices.astype(np.int64).tobytes())
        digest.update(values.astype(np.float32).tobytes())
    return digest.hexdigest()
