"""Whole-answer latency of the default model in each `[models] default_gguf_type`, on llama.cpp.

    python benchmarks/bench_gguf_types.py [--questions 6] [--threads 2]

bench_prefill.py measures prompt reading alone; an answer also writes tokens, and a larger type
(Q8_0) writes them more slowly than a smaller one. Here every type answers the same SQuAD prompts
in full, greedily (RAG: ragft's prompt with the gold paragraph and two others; closed-book: the
question alone), the types taking turns prompt by prompt so that load from other processes falls on
all of them alike. Per type and prompt kind: median total, prefill and decode tokens/s. Results go
to benchmarks/results/engines.json under "gguf_types_latency".
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from bench_engines import RESULTS, machine_info, squad_prompts
from ragft.config import DecodingConfig
from ragft.models.base import DecodingSettings
from ragft.models.llama_cpp import LlamaCppGenerator
from ragft.models.requantize import DEFAULT_GGUF_TYPES, served_gguf_path


def answer_all(gens: dict[str, LlamaCppGenerator], prompts: list[Any]) -> dict[str, dict[str, float]]:
    """Each generator answers every prompt (turns interleaved); median total, prefill and decode speed."""
    d = DecodingConfig()
    settings = DecodingSettings(max_new_tokens=d.max_new_tokens, temperature=0.0, top_p=1.0, seed=d.seed)
    runs: dict[str, list[Any]] = {n: [] for n in gens}
    for prompt in prompts:
        for name, gen in gens.items():
            runs[name].append(gen.generate(prompt, settings))
    out = {}
    for name, rs in runs.items():
        decode = [(r.completion_tokens - 1) / (r.total_s - r.prefill_s) for r in rs if r.completion_tokens > 1 and r.total_s > r.prefill_s]
        out[name] = {
            "total_p50_s": round(statistics.median(r.total_s for r in rs), 2),
            "prefill_p50_s": round(statistics.median(r.prefill_s for r in rs), 2),
            "decode_tokens_per_s_p50": round(statistics.median(decode), 1) if decode else None,
            "completion_tokens_mean": round(statistics.mean(r.completion_tokens for r in rs), 1),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--questions", type=int, default=6)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    gens = {t: LlamaCppGenerator(served_gguf_path("default", t), threads=args.threads) for t in DEFAULT_GGUF_TYPES}
    rag, closed, _ = squad_prompts(args.questions, args.seed, with_answers=True)
    for gen in gens.values():
        gen.generate(rag[0], DecodingSettings(max_new_tokens=1))  # load, repack, warm threads
    load_start = os.getloadavg()
    out: dict[str, Any] = {"rag": answer_all(gens, rag), "closed_book": answer_all(gens, closed)}
    for kind in ("rag", "closed_book"):
        for name, r in out[kind].items():
            print(
                f"{kind:11} {name:7} total p50 {r['total_p50_s']:6.2f} s  prefill p50 {r['prefill_p50_s']:6.2f} s  decode {r['decode_tokens_per_s_p50']} tok/s"
            )
    out.update(
        questions=args.questions,
        machine={**machine_info(), "load_avg_at_start": load_start, "load_avg_at_end": os.getloadavg()},
        command="python benchmarks/bench_gguf_types.py " + " ".join(sys.argv[1:]),
    )
    results = json.loads(RESULTS.read_text(encoding="utf-8")) if RESULTS.is_file() else {}
    results["gguf_types_latency"] = out
    RESULTS.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
