"""Stage `recall` of bench_index: HNSW recall and latency on real MiniLM embeddings, through `DenseIndex`.

The `scale` stage searches random vectors, HNSW's worst case (9% of exact search's top 30 at 100k).
Real embeddings are clustered, and that is what ragft indexes, so this stage embeds real text with
the default embedder (`[models] embedder = "minilm"`, built by `build_embedder`, as ragft builds it):
every sentence (`ragft.corpus.diff.sentences`) and every chunk (`chunk_corpus`, the `[corpus]`
defaults, the embedder's token counter) of the four corpora in ../shared/benchmarks, and, as more
corpus rows, the questions that are not queries. Queries are a seeded sample of questions (the same
number from each set) that are not in the searched rows. Duplicate texts are dropped, so ties in the
exact ranking are rare; recall counts a found row as a hit when its exact score reaches the k-th
best exact score, which is also robust to the ties that remain.

For each size (a seeded prefix of the shuffled rows; the chunks alone as well) it builds the exact
index and the HNSW index (`DenseIndex.build(use_hnsw=True)`, timed), then for each expansion_search
and over-fetch factor measures recall of exact search's top-`candidates` and top-4 and the p50/p95
of `DenseIndex.search`, with every row visible and with ~30% of rows hidden (the `visible` path).

    python benchmarks/bench_index.py --stage recall --sizes 20000,50000,all

Embeddings are cached as .npy under --cache (default /tmp/ragft-recall), in blocks, so a stopped
run resumes where it was.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bench_index import percentiles

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "benchmarks"
QUERIES_PER_SET = 75
BLOCK = 2048  # texts per cached embedding block


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def real_texts(embedder: Any, seed: int = 0) -> dict[str, list[str]]:
    """Sentences, chunks, non-query questions (corpus rows) and the query sample, each deduplicated."""
    from ragft.config import CorpusConfig
    from ragft.corpus.chunking import chunk_corpus
    from ragft.corpus.diff import sentences
    from ragft.models.base import embedder_token_counter
    from ragft.types import Document

    rng = np.random.default_rng(seed)
    counter = embedder_token_counter(embedder)
    found: dict[str, list[str]] = {"sentences": [], "chunks": [], "questions": [], "queries": []}
    folders = sorted(p.parent for p in SHARED.glob("*/corpus.jsonl"))
    if not folders:
        raise SystemExit(f"{SHARED}: no */corpus.jsonl found; the recall stage needs the shared benchmark corpora")
    for folder in folders:
        docs = read_jsonl(folder / "corpus.jsonl")
        found["sentences"] += [s for d in docs for s in sentences(d["text"])]
        documents = [Document(d["doc_id"], d.get("title", ""), d["text"], str(folder)) for d in docs]
        found["chunks"] += [c.text for c in chunk_corpus(documents, CorpusConfig(), counter)]
        asked = sorted({q["question"].strip() for q in read_jsonl(folder / "questions.jsonl")} - {""})
        picked = set(rng.choice(len(asked), size=min(QUERIES_PER_SET, len(asked)), replace=False).tolist())
        found["queries"] += [q for i, q in enumerate(asked) if i in picked]
        found["questions"] += [q for i, q in enumerate(asked) if i not in picked]
    seen: set[str] = set(found["queries"])  # a query is never also a searched row
    for kind in ("chunks", "sentences", "questions"):
        kept = []
        for text in found[kind]:
            if text not in seen:
                seen.add(text)
                kept.append(text)
        found[kind] = kept
    return found


def embed_cached(embedder: Any, texts: Sequence[str], cache: Path, label: str, *, is_query: bool = False) -> np.ndarray:
    """Embeddings of `texts`, by blocks of similar length, each block cached as .npy (keyed by its texts)."""
    cache.mkdir(parents=True, exist_ok=True)
    order = np.argsort([len(t) for t in texts], kind="stable")  # similar lengths pad less
    out = np.empty((len(texts), 384), dtype=np.float32)
    started = time.perf_counter()
    for first in range(0, len(texts), BLOCK):
        rows = order[first : first + BLOCK]
        block = [texts[i] for i in rows]
        key = hashlib.sha256("\x00".join([embedder.name, str(is_query), *block]).encode()).hexdigest()[:20]
        path = cache / f"{label}-{key}.npy"
        if path.exists():
            vectors = np.load(path)
        else:
            vectors = embedder.embed(block, is_query=is_query)
            np.save(path.with_suffix(".tmp.npy"), vectors)
            path.with_suffix(".tmp.npy").rename(path)  # a killed run never leaves a half block
        out[rows] = vectors
        done = min(len(texts), first + BLOCK)
        print(f"  {label}: {done}/{len(texts)} embedded ({time.perf_counter() - started:.0f}s)", file=sys.stderr, flush=True)
    return out


def real_vectors(cache: Path, seed: int = 0) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The query and corpus-row embeddings (queries first, then chunks, sentences, questions)."""
    from ragft.config import ModelsConfig
    from ragft.models.factory import build_embedder

    models = ModelsConfig()
    embedder = build_embedder(models)
    texts = real_texts(embedder, seed)
    vectors = {"queries": embed_cached(embedder, texts["queries"], cache, "queries", is_query=True)}
    for kind in ("chunks", "sentences", "questions"):
        vectors[kind] = embed_cached(embedder, texts[kind], cache, kind)
    counts = {kind: len(rows) for kind, rows in texts.items()}
    return vectors, {"embedder": f"{models.embedder} ({embedder.name})", "texts": counts}


def hidden(size: int, share: float, seed: int) -> Any:
    """A `Visibility` hiding a seeded random `share` of `size` rows (what an access filter does)."""
    from ragft.retrieval.dense import Visibility

    allowed = np.random.default_rng(seed).random(size) >= share
    return Visibility(allowed, np.flatnonzero(~allowed))


def kth_scores(rows: np.ndarray, queries: np.ndarray, k: int, visible: Any) -> np.ndarray:
    """Per query, the k-th best exact score among visible rows: a found row scoring at least this is a true hit."""
    scores = queries @ rows.T
    if visible is not None:
        scores[:, visible.blocked] = -np.inf
    return -np.partition(-scores, k - 1, axis=1)[:, k - 1]


def searched(index: Any, queries: np.ndarray, depth: int, visible: Any, truth: dict[int, np.ndarray]) -> dict[str, Any]:
    """Search every query through `DenseIndex.search`: recall of each top-k in `truth`, and p50/p95 ms."""
    for query in queries[:5]:  # warm-up, untimed
        index.search(query, depth, visible)
    seconds, hits = [], dict.fromkeys(truth, 0)
    for row, query in enumerate(queries):
        started = time.perf_counter()
        _, scores = index.search(query, depth, visible)
        seconds.append(time.perf_counter() - started)
        for k, kth in truth.items():
            hits[k] += int(np.count_nonzero(scores[:k] >= kth[row] - 1e-6))
    return {**{f"recall_at_{k}": hits[k] / (k * len(queries)) for k in truth}, **percentiles(seconds)}


def measure_rows(
    label: str, rows: np.ndarray, queries: np.ndarray, depth: int, sweep: Sequence[tuple[int, int]], hidden_share: float
) -> dict[str, Any]:
    """Exact vs HNSW `DenseIndex` over `rows`: build time, exact latency, and each (expansion_search, overfetch)."""
    from ragft.retrieval.dense import HNSW, DenseIndex

    filters = {"all_visible": None, f"hidden_{round(hidden_share * 100)}pct": hidden(len(rows), hidden_share, seed=len(rows))}
    truth = {name: {k: kth_scores(rows, queries, k, v) for k in (depth, 4)} for name, v in filters.items()}
    exact = DenseIndex.build(rows, use_hnsw=False)
    result: dict[str, Any] = {"set": label, "rows": len(rows), "queries": len(queries)}
    result["exact"] = {name: searched(exact, queries, depth, v, truth[name]) for name, v in filters.items()}
    started = time.perf_counter()
    graph = DenseIndex.build(rows, use_hnsw=True)
    result["hnsw_build_s"] = time.perf_counter() - started
    result["hnsw_graph"] = {"connectivity": HNSW.connectivity, "expansion_add": HNSW.expansion_add}
    result["hnsw"] = []
    for expansion_search, overfetch in sweep:
        graph.tune_search(expansion_search=expansion_search, overfetch=overfetch)
        point = {"expansion_search": expansion_search, "overfetch": overfetch}
        point |= {name: searched(graph, queries, depth, v, truth[name]) for name, v in filters.items()}
        result["hnsw"].append(point)
        print(f"  {label} {len(rows)} ef={expansion_search} x{overfetch}: {json.dumps(point)}", file=sys.stderr, flush=True)
    return result


def run_recall(
    sizes: Sequence[str], cache: Path, sweep: Sequence[tuple[int, int]], rows_out: list[dict[str, Any]], save: Callable[[], None]
) -> dict[str, Any]:
    """Embed (or load) the real texts, then measure every size; returns what was embedded, for the record."""
    from ragft.config import RetrievalConfig

    vectors, info = real_vectors(cache)
    mixed = np.concatenate([vectors["chunks"], vectors["sentences"], vectors["questions"]])
    mixed = mixed[np.random.default_rng(1).permutation(len(mixed))]
    depth = RetrievalConfig().candidates
    for size in sizes:
        if size == "chunks":
            label, rows = "chunks only", vectors["chunks"]
        else:
            count = len(mixed) if size == "all" else int(size)
            if count > len(mixed):
                raise SystemExit(f"--sizes {size}: only {len(mixed)} real rows were embedded; use a smaller size or 'all'")
            label, rows = "sentences + chunks + questions", np.ascontiguousarray(mixed[:count])
        row = measure_rows(label, rows, vectors["queries"], depth, sweep, hidden_share=0.3)
        print(json.dumps(row), flush=True)
        rows_out.append(row)
        save()
    return info
