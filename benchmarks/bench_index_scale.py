"""Stage `scale` of bench_index: the embedded index's search at 100k and 1M chunks, built from synthetic arrays.

Building through `Retriever.warm_up` at 1M chunks would run an embedder over a million texts and
keep them in the embedding cache (the 100k build took 705 s), and what the issue asks for here is
search latency. So each index is built directly from arrays: random unit 384-d vectors, and Zipf
token ids indexed by bm25s with the vocabulary "w0".."w49999", which is exactly what
`Bm25Index.build` makes of the texts "w12 w7 ..." (checked below at 2,000 chunks, score for score).
The index is then searched through `Retriever.search`, the code path `ragft serve` runs: BM25 and
dense search (HNSW above `hnsw_threshold_chunks`, re-scored exactly), the access filter (every query
asks as an outsider; every fifth chunk is restricted) and reciprocal rank fusion. Random vectors
have no cluster structure, the hardest case for HNSW, so the dense list's recall against exact
search is recorded too.

    python benchmarks/bench_index.py --stage scale --sizes 100000,1000000 --queries 120

Each size runs in its own process (this file with --size), so its peak RSS is its own.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from bench_index import DIM, TERMS, VOCAB, RandomUnitEmbedder, percentiles, token_bags

HR = frozenset({"hr"})


def zipf_ids(n: int, seed: int) -> np.ndarray:
    """`n` rows of TERMS term ids drawn from the same Zipf vocabulary as `token_bags` (seeded alike)."""
    rng = np.random.default_rng(seed)
    p = 1.0 / np.arange(1, VOCAB + 1)
    p /= p.sum()
    return rng.choice(VOCAB, size=(n, TERMS), p=p)


def bm25_from_ids(ids: np.ndarray) -> Any:
    """ragft's `Bm25Index` over the texts " ".join(f"w{i}" for i in row), built without the texts."""
    import bm25s

    from ragft.retrieval.lexical import Bm25Index

    model = bm25s.BM25()
    model.index((ids.tolist(), {f"w{term}": term for term in range(VOCAB)}), show_progress=False)
    return Bm25Index(model)


def check_bm25_shortcut(queries: Sequence[str]) -> int:
    """At 2,000 chunks, the array-built BM25 gives every score `Bm25Index.build` gives from the texts."""
    from ragft.retrieval.lexical import Bm25Index

    ids = zipf_ids(2000, seed=7)
    from_texts = Bm25Index.build([" ".join(f"w{term}" for term in row) for row in ids])
    from_ids = bm25_from_ids(ids)
    for query in queries:
        if not np.array_equal(from_texts.scores(query), from_ids.scores(query)):
            raise SystemExit(f"bm25 from ids differs from Bm25Index.build on {query!r}: the scale stage would measure something else")
    return len(queries)


def unit_vectors(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    vectors = np.empty((n, DIM), dtype=np.float32)
    for start in range(0, n, 65_536):  # in slices, so the float64 temporaries stay small
        block = rng.standard_normal((min(n, start + 65_536) - start, DIM), dtype=np.float32)
        vectors[start : start + len(block)] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return vectors


def rss_mb() -> dict[str, float]:
    status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
    return {"rss_mb": int(status["VmRSS"].split()[0]) / 1024, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def measure(size: int, queries: int) -> dict[str, Any]:
    """Build the embedded index for `size` synthetic chunks, then time `Retriever.search` over the queries."""
    from ragft.config import RetrievalConfig
    from ragft.retrieval.access import AccessIndex
    from ragft.retrieval.dense import DenseIndex
    from ragft.retrieval.retriever import Retriever, _Loaded
    from ragft.types import Chunk

    asked = [" ".join(q.split()[:5]) for q in token_bags(queries, seed=99)]
    checked = check_bm25_shortcut(asked[:20])
    config = replace(RetrievalConfig(), index="embedded")
    times: dict[str, float] = {}
    started = time.perf_counter()
    bm25 = bm25_from_ids(zipf_ids(size, seed=size))
    times["bm25_build_s"] = time.perf_counter() - started
    vectors = unit_vectors(size, seed=size)
    started = time.perf_counter()
    dense = DenseIndex.build(vectors, use_hnsw=size > config.hnsw_threshold_chunks)
    times["dense_build_s"] = time.perf_counter() - started
    chunks = [Chunk(f"c{i}", f"d{i}", "", 0, 0, acl=HR if i % 5 == 0 else frozenset()) for i in range(size)]
    retriever = Retriever(config, RandomUnitEmbedder(), Path(tempfile.gettempdir()))
    retriever._loaded = _Loaded(chunks, bm25, dense, AccessIndex(chunks))  # what warm_up swaps in after building
    built = rss_mb()
    for query in asked[:5]:
        retriever.search(query, 4)
    totals, bm25_s, dense_s = [], [], []
    for query in asked:
        retriever.search(query, 4)
        timings = retriever.last_timings
        totals.append(timings["search_s"])
        bm25_s.append(timings["bm25_s"])
        dense_s.append(timings["dense_s"])
    return {
        "index": "embedded",
        "chunks": size,
        "dense_backend": dense.backend,
        **times,
        "search": percentiles(totals),
        "bm25_part": percentiles(bm25_s),
        "dense_part_incl_fusion": percentiles(dense_s),
        "dense_recall_at_candidates": dense_recall(dense, vectors, retriever, asked[:20]),
        "bm25_shortcut_checked_queries": checked,
        "after_build": built,
        "at_end": rss_mb(),
    }


def dense_recall(dense: Any, vectors: np.ndarray, retriever: Any, asked: Sequence[str]) -> float:
    """The share of the exact top-`candidates` visible rows the index's dense search returns (1.0 for exact)."""
    from ragft.retrieval.dense import DenseIndex

    exact, visible = DenseIndex(vectors), retriever._loaded.access.visible_to(None)
    depth, found = retriever.config.candidates, 0
    for query in asked:
        query_vector = retriever.embedder.embed([query], is_query=True)[0]
        got, _ = dense.search(query_vector, depth, visible)
        want, _ = exact.search(query_vector, depth, visible)
        found += len(set(got.tolist()) & set(want.tolist()))
    return found / (depth * len(asked))


def run_scale(sizes: Sequence[int], queries: int, rows: list[dict[str, Any]], save: Any) -> None:
    """Each size in a child process (its own peak RSS); a size that fails is recorded with its error."""
    import subprocess

    for size in sizes:
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, str(Path(__file__)), "--size", str(size), "--queries", str(queries)], capture_output=True, text=True
        )
        lines = done.stdout.strip().splitlines()
        if done.returncode == 0 and lines:
            row = {**json.loads(lines[-1]), "process_s": time.perf_counter() - started}
        else:
            row = {"index": "embedded", "chunks": size, "failed": f"exit {done.returncode}: {done.stderr.strip()[-800:]}"}
        print(json.dumps(row), flush=True)
        rows.append(row)
        save()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="One size of bench_index's scale stage (run it through bench_index.py --stage scale).")
    parser.add_argument("--size", type=int, required=True, help="chunks to index")
    parser.add_argument("--queries", type=int, default=120, help="timed queries (5 more warm up, untimed)")
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.size, args.queries)), flush=True)


if __name__ == "__main__":
    main()
