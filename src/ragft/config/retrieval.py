"""Settings of retrieval: the index, the search and the guards on what reaches the prompt."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ragft.config.schema import Section, at_least, between, setting


@dataclass(frozen=True)
class RetrievalConfig(Section):
    """How passages are found for the retrieving arms (RAG and hybrid)."""

    RETIRED: ClassVar[dict[str, str]] = {
        "rerank": "ragft ships no reranker (pass one to Retriever(reranker=...)); the setting did nothing",
    }

    k: int = setting(4, range=at_least(1), doc="Passages given to the generator.")
    candidates: int = setting(30, range=at_least(1), doc="Hits taken from each retriever before fusion.")
    rrf_k: int = setting(
        10,
        range=at_least(0),
        doc="""
        Reciprocal rank fusion: score = 1/(rrf_k + bm25 rank) + dense_weight/(rrf_k + dense rank).
        A small rrf_k trusts the top ranks (10 beat 60 on all three benchmark sets).""",
    )
    dense_weight: float = setting(
        0.6,
        range=at_least(0),
        doc="""
        Weight of the dense ranking in the fusion (BM25's is 1.0): below 1 leans on BM25, which MiniLM
        does not beat on factual questions (see benchmarks/results/retrieval.json).""",
    )
    mode: str = setting("hybrid", choices=("hybrid", "bm25", "dense"), doc='"hybrid" (BM25 + dense, fused), "bm25" or "dense".')
    hnsw_threshold_chunks: int = setting(
        20_000,
        range=at_least(0),
        doc="""
        Exact NumPy search up to this many chunks, an HNSW index (usearch) above. Exact search costs
        about 0.15 ms per 1,000 chunks on 2 cores (16 ms at 100k); HNSW stays near 2 ms at 100k and
        finds 99% of exact search's top 30 on real MiniLM embeddings (bench_index.py --stage recall),
        but takes minutes to build, which is still small next to embedding that many chunks.""",
    )
    context_budget_tokens: int = setting(
        400,
        range=at_least(1),
        doc="""
        Budget of passage tokens in the RAG prompt (prefill time grows with it; measured:
        benchmarks/results/rag.json budget).""",
    )
    refuse_ungrounded: bool = setting(
        True,
        doc="""
        Turn an answer whose figures or most of whose words appear in no passage into a refusal
        (small models invent answers in the documents' style); the original stays in the trace.""",
    )
    refusal_threshold: float = setting(
        1.0,
        range=between(0, 1),
        doc="""
        Refuse when the model itself leaned towards refusing: the probability that its reply starts the
        way the refusal does is at least this (1 = off). Off by default: for the default 0.5B model
        that probability does not separate right from wrong answers (SQuAD 2.0 dev, AUC 0.51), so a lower
        value refuses at random. Try it with a larger model (`python benchmarks/bench_rag.py --stage squad`
        prints the trade-off). Needs an engine that reports first-token probabilities: llama.cpp,
        transformers, or an OpenAI-compatible server that returns logprobs (vLLM, llama.cpp's server).""",
    )
    index: str = setting(
        "embedded",
        doc="""
        Where the index lives. "embedded": BM25 + dense arrays in each process, saved under
        .ragft/indexes/. "qdrant": the Qdrant engine in-process (local mode, .ragft/indexes/qdrant; for
        tests and small corpora); "qdrant:///folder" the same elsewhere; "http://host:6333[/collection]"
        a Qdrant server that every `ragft serve` replica shares (pip install 'ragft[index]'; API key in
        RAGFT_QDRANT_API_KEY). Same hits as "embedded"; access is filtered inside the engine.""",
    )
    injection_guard: bool = setting(
        True,
        doc="""
        Leave out of the prompt any passage whose document reads as instructions to the model (addresses
        the assistant, dictates the reply, quotes the question back, claims to overrule other documents),
        and withhold an answer that gives an email, web address or phone number no passage in the prompt
        holds. Measured on the default model (benchmarks/results/injection.json): hostile documents won
        29 of 48 ordinary questions without it, 0 of 48 with it, and clean-corpus answers were unchanged.""",
    )

    def problem(self) -> str | None:
        if self.index in ("embedded", "qdrant") or self.index.startswith(("qdrant:///", "http://", "https://")):
            return None
        return (
            f'index = "{self.index}" is not known; use "embedded", "qdrant", "qdrant:///absolute/folder" '
            'or a Qdrant server URL "http://host:6333[/collection]"'
        )
