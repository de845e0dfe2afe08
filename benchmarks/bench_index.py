"""Index benchmark: build, incremental update and search latency of the embedded index and the Qdrant backend.

Stage `index` (default) times ragft's `Retriever` on synthetic chunks (token bags drawn from a
Zipf vocabulary, random unit 384-d vectors, every fifth chunk restricted; every query is
searched as an outsider, so the access filter is always on): warm-up (build), a second
version with 1% of chunks changed (incremental update), and p50/p95 of the fused search over
the queries. `--qdrant-max-chunks` caps the sizes Qdrant's local mode (pure Python) is run at.

Stage `scale` (bench_index_scale.py) times the embedded index's search at 100k and 1M chunks,
built from synthetic arrays instead of through an embedder, each size in its own process.

Stage `recall` (bench_index_recall.py) measures the HNSW path's recall against exact search and its
latency on real MiniLM embeddings of the shared benchmark corpora (sentences, chunks, questions),
through `DenseIndex`, over a sweep of expansion_search and the over-fetch factor.

Stage `choice` times the candidate engines' own APIs on the same shapes (sparse + dense search
with a payload filter, top 50): qdrant-client local mode, qdrant-edge-py (Qdrant's Rust engine
in-process) and milvus-lite, each only if importable; it does not import ragft, so it can run in
a scratch venv holding those packages.

    python benchmarks/bench_index.py --sizes 5000,100000 --queries 120
    python benchmarks/bench_index.py --stage scale --sizes 100000,1000000 --queries 120
    python benchmarks/bench_index.py --stage recall --sizes chunks,20000,50000,all
    /tmp/vec-venv/bin/python benchmarks/bench_index.py --stage choice --sizes 5000

Writes (merges into) benchmarks/results/index.json, one entry per stage.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "index.json"
DIM, VOCAB, TERMS, DEPTH = 384, 50_000, 40, 50


def machine() -> dict[str, Any]:
    try:
        from bench_engines import machine_info  # the other benchmarks' record of CPU model and ISA flags

        return {**machine_info(), "load_avg_at_start": os.getloadavg()}
    except ImportError:  # the `choice` stage in a venv without ragft: same fields, read here
        flags = set()
        model = platform.processor()
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "flags" and not flags:
                    flags = set(value.split())
                if key.strip() == "model name":
                    model = value.strip()
        wanted = ("avx2", "fma", "avx512f", "avx512_vnni", "amx_tile")
        return {
            "cpu_model": model,
            "cpus": os.cpu_count(),
            "isa_flags": {f: f in flags for f in wanted},
            "load_avg_at_start": os.getloadavg(),
        }


def percentiles(seconds: Sequence[float]) -> dict[str, float]:
    ms = np.asarray(seconds) * 1000
    return {"p50_ms": float(np.median(ms)), "p95_ms": float(np.percentile(ms, 95)), "queries": len(ms)}


def token_bags(n: int, seed: int) -> list[str]:
    """`n` texts of ~TERMS words from a Zipf vocabulary (realistic document frequencies for BM25)."""
    rng = np.random.default_rng(seed)
    p = 1.0 / np.arange(1, VOCAB + 1)
    p /= p.sum()
    words = rng.choice(VOCAB, size=(n, TERMS), p=p)
    return [" ".join(f"w{w}" for w in row) for row in words]


# ---------------------------------------------------------------- stage: index (ragft's Retriever)


class RandomUnitEmbedder:
    """A random unit vector per text, stable for the same text (so the second version reuses vectors)."""

    name, dim = "random-unit-384", DIM

    def embed(self, texts: Sequence[str], *, is_query: bool = False) -> np.ndarray:
        out = np.empty((len(texts), DIM), dtype=np.float32)
        for row, text in enumerate(texts):
            seed = int.from_bytes(hashlib.blake2b(f"{is_query}:{text}".encode(), digest_size=8).digest(), "little")
            out[row] = np.random.default_rng(seed).standard_normal(DIM)
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def run_index(
    sizes: Sequence[int], queries: int, qdrant_max: int, scratch: Path, rows: list[dict[str, Any]], save: Callable[[], None]
) -> None:
    from dataclasses import replace

    from ragft.config import RetrievalConfig
    from ragft.retrieval import Retriever
    from ragft.types import Chunk

    asked = token_bags(queries, seed=99)
    asked = [" ".join(q.split()[:5]) for q in asked]
    for size in sizes:
        texts = token_bags(size, seed=size)
        v1 = [Chunk(f"c{i}", f"d{i}", t, 0, len(t), acl=frozenset({"hr"}) if i % 5 == 0 else frozenset()) for i, t in enumerate(texts)]
        v2 = [replace(c, text=c.text + " changed") if i % 100 == 0 else c for i, c in enumerate(v1)]
        for index in ("embedded", "qdrant"):
            if index == "qdrant" and size > qdrant_max:
                rows.append({"index": index, "chunks": size, "skipped": f"local mode above --qdrant-max-chunks {qdrant_max}"})
                save()
                continue
            folder = scratch / f"{index}-{size}"
            retriever = Retriever(replace(RetrievalConfig(), index=index), RandomUnitEmbedder(), folder)
            started = time.perf_counter()
            retriever.warm_up(v1, "corpus-v1")
            build_s = time.perf_counter() - started
            started = time.perf_counter()
            stats = retriever.warm_up(v2, "corpus-v2")
            update_s = time.perf_counter() - started
            for q in asked[:5]:
                retriever.search(q, 4)
            timings = []
            for q in asked:
                retriever.search(q, 4)
                timings.append(retriever.last_timings["search_s"])
            row = {
                "index": index,
                "chunks": size,
                "dense_backend": stats.dense_backend,
                "build_s": build_s,
                "build_chunks_per_s": size / build_s,
                "update_1pct_s": update_s,
                "update_chunks_embedded": stats.chunks_embedded,
                "search": percentiles(timings),
            }
            print(json.dumps(row), flush=True)
            rows.append(row)
            save()  # after every row, so a run stopped at a large size keeps what it measured
            shutil.rmtree(folder, ignore_errors=True)


# ---------------------------------------------------------------- stage: choice (the engines' own APIs)


def synthetic(n: int, seed: int = 0) -> tuple[np.ndarray, list[tuple[list[int], list[float]]], list[bool], list[tuple[Any, ...]]]:
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((n, DIM), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    p = 1.0 / np.arange(1, VOCAB + 1)
    p /= p.sum()
    sparse = []
    for _ in range(n):
        idx = np.unique(rng.choice(VOCAB, size=TERMS, p=p))
        sparse.append((idx.tolist(), (rng.random(len(idx)) + 0.1).tolist()))
    public = [bool(i % 5) for i in range(n)]
    queries = []
    for _ in range(120):
        q = rng.standard_normal(DIM).astype(np.float32)
        queries.append(((q / np.linalg.norm(q)).tolist(), np.unique(rng.choice(VOCAB, size=5, p=p)).tolist()))
    return vectors, sparse, public, queries


def timed(searches: list[Callable[[], Any]]) -> dict[str, float]:
    for search in searches[:10]:
        search()
    seconds = []
    for search in searches[10:]:
        started = time.perf_counter()
        search()
        seconds.append(time.perf_counter() - started)
    return percentiles(seconds)


def choice_qdrant_local(n: int, scratch: Path) -> dict[str, Any]:
    from qdrant_client import QdrantClient
    from qdrant_client import models as m

    vectors, sparse, public, queries = synthetic(n)
    client = QdrantClient(path=str(scratch / "qdrant-local"))
    client.create_collection(
        "c", vectors_config={"d": m.VectorParams(size=DIM, distance=m.Distance.DOT)}, sparse_vectors_config={"s": m.SparseVectorParams()}
    )
    started = time.perf_counter()
    for start in range(0, n, 1000):
        client.upsert(
            "c",
            [
                m.PointStruct(
                    id=i,
                    vector={"d": vectors[i].tolist(), "s": m.SparseVector(indices=sparse[i][0], values=sparse[i][1])},
                    payload={"public": public[i]},
                )
                for i in range(start, min(n, start + 1000))
            ],
        )
    build_s = time.perf_counter() - started
    flt = m.Filter(must=[m.FieldCondition(key="public", match=m.MatchValue(value=True))])
    sparse_q = [
        lambda t=t: client.query_points(
            "c", query=m.SparseVector(indices=t, values=[1.0] * len(t)), using="s", query_filter=flt, limit=DEPTH
        )
        for _, t in queries
    ]
    dense_q = [lambda v=v: client.query_points("c", query=v, using="d", query_filter=flt, limit=DEPTH) for v, _ in queries]
    return {"engine": "qdrant-client local mode", "chunks": n, "build_s": build_s, "sparse": timed(sparse_q), "dense": timed(dense_q)}


def choice_qdrant_edge(n: int, scratch: Path) -> dict[str, Any]:
    import qdrant_edge as e

    vectors, sparse, public, queries = synthetic(n)
    config = e.EdgeConfig(
        vectors={"d": e.EdgeVectorParams(size=DIM, distance=e.Distance.Dot)}, sparse_vectors={"s": e.EdgeSparseVectorParams()}
    )
    shard = e.EdgeShard.create(str(scratch / "qdrant-edge"), config)
    started = time.perf_counter()
    for start in range(0, n, 1000):
        shard.update(
            e.UpdateOperation.upsert_points(
                [
                    e.Point(i, {"d": vectors[i].tolist(), "s": e.SparseVector(*sparse[i])}, {"public": public[i]})
                    for i in range(start, min(n, start + 1000))
                ]
            )
        )
    shard.flush()
    insert_s = time.perf_counter() - started
    shard.optimize()  # builds the HNSW graph and the sparse index, as a server's optimizer would
    build_s = time.perf_counter() - started
    flt = e.Filter(must=[e.FieldCondition("public", match=e.MatchValue(True))])
    sparse_q = [
        lambda t=t: shard.query(e.QueryRequest(DEPTH, query=e.Query.Nearest(e.SparseVector(t, [1.0] * len(t)), using="s"), filter=flt))
        for _, t in queries
    ]
    dense_q = [lambda v=v: shard.query(e.QueryRequest(DEPTH, query=e.Query.Nearest(v, using="d"), filter=flt)) for v, _ in queries]
    return {
        "engine": "qdrant-edge-py (Qdrant's Rust engine in-process)",
        "chunks": n,
        "insert_s": insert_s,
        "build_s": build_s,
        "sparse": timed(sparse_q),
        "dense": timed(dense_q),
    }


def choice_milvus_lite(n: int, scratch: Path) -> dict[str, Any]:
    from pymilvus import DataType, MilvusClient

    vectors, sparse, public, queries = synthetic(n)
    client = MilvusClient(str(scratch / "milvus.db"))
    schema = MilvusClient.create_schema(auto_id=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("d", DataType.FLOAT_VECTOR, dim=DIM)
    schema.add_field("s", DataType.SPARSE_FLOAT_VECTOR)
    schema.add_field("public", DataType.BOOL)
    params = client.prepare_index_params()
    params.add_index("d", index_type="FLAT", metric_type="IP")
    params.add_index("s", index_type="SPARSE_INVERTED_INDEX", metric_type="IP")
    client.create_collection("c", schema=schema, index_params=params)
    started = time.perf_counter()
    for start in range(0, n, 2000):
        client.insert(
            "c",
            [
                {"id": i, "d": vectors[i].tolist(), "s": dict(zip(*sparse[i])), "public": public[i]}
                for i in range(start, min(n, start + 2000))
            ],
        )
    client.load_collection("c")
    build_s = time.perf_counter() - started
    ip = {"metric_type": "IP"}
    sparse_q = [
        lambda t=t: client.search("c", data=[dict.fromkeys(t, 1.0)], anns_field="s", limit=DEPTH, filter="public == true", search_params=ip)
        for _, t in queries
    ]
    dense_q = [
        lambda v=v: client.search("c", data=[v], anns_field="d", limit=DEPTH, filter="public == true", search_params=ip) for v, _ in queries
    ]
    row = {"engine": "milvus-lite", "chunks": n, "build_s": build_s, "sparse": timed(sparse_q), "dense": timed(dense_q)}
    client.close()
    return row


def run_choice(sizes: Sequence[int], scratch: Path, rows: list[dict[str, Any]], save: Callable[[], None]) -> None:
    for size in sizes:
        for name, run in (("qdrant-edge", choice_qdrant_edge), ("milvus-lite", choice_milvus_lite), ("qdrant-local", choice_qdrant_local)):
            folder = scratch / f"{name}-{size}"
            folder.mkdir(parents=True)
            try:
                row = run(size, folder)
            except ImportError as exc:
                row = {"engine": name, "chunks": size, "skipped": f"not installed: {exc}"}
            print(json.dumps(row), flush=True)
            rows.append(row)
            save()
            shutil.rmtree(folder, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage", choices=("index", "scale", "recall", "choice"), default="index")
    parser.add_argument("--sizes", default="5000,100000", help="comma-separated chunk counts (recall: also 'all' and 'chunks')")
    parser.add_argument("--queries", type=int, default=120, help="timed queries per index (the first 5 warm up, untimed)")
    parser.add_argument("--qdrant-max-chunks", type=int, default=5000, help="largest size run on Qdrant's local mode")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/ragft-recall"), help="recall: where embeddings are cached (.npy)")
    parser.add_argument(
        "--sweep", default="64:2,96:1,96:2,96:4,200:2,400:2", help="recall: expansion_search:overfetch pairs, comma-separated"
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")] if args.stage != "recall" else []
    started = time.perf_counter()
    rows: list[dict[str, Any]] = []
    report = json.loads(args.out.read_text(encoding="utf-8")) if args.out.exists() else {}
    report[args.stage] = {"command": " ".join([Path(sys.executable).name, *sys.argv]), "machine": machine(), "rows": rows}

    def save() -> None:
        report[args.stage].update(load_avg_at_end=os.getloadavg(), total_s=time.perf_counter() - started)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")

    with tempfile.TemporaryDirectory() as scratch:
        if args.stage == "index":
            run_index(sizes, args.queries, args.qdrant_max_chunks, Path(scratch), rows, save)
        elif args.stage == "scale":
            from bench_index_scale import run_scale

            run_scale(sizes, args.queries, rows, save)
        elif args.stage == "recall":
            from bench_index_recall import run_recall

            sweep = [(int(ef), int(over)) for ef, over in (pair.split(":") for pair in args.sweep.split(","))]
            report["recall"]["embedded"] = run_recall(args.sizes.split(","), args.cache, sweep, rows, save)
        else:
            run_choice(sizes, Path(scratch), rows, save)
    save()
    print(f"wrote {args.out} ({args.stage}) in {report[args.stage]['total_s']:.0f}s")


if __name__ == "__main__":
    main()
