"""Which engine answers fastest here, RAG and closed-book, and do the engines answer alike?

    python benchmarks/bench_engines.py [--questions 12] [--threads 2]

Real RAG prompts (ragft's own prompt: system, worked examples, passages, question) built from
SQuAD 2.0 dev: each seeded question with its gold paragraph and two other paragraphs, each cut
to 500 characters so the passages fit the default 400-token context budget. Every engine answers
every prompt greedily with the default decoding settings, and then the same questions closed-book
(ragft's closed-book prompt, no passages):

- llama.cpp on the default Q4_K_M GGUF (the `llama_cpp` backend);
- transformers in bf16 on the same weights, one token per forward pass;
- transformers in bf16 with prompt-lookup drafts (what `generator_backend = "auto"` runs on a CPU
  with AMX or AVX512-BF16).

Prints per engine: median and p95 answer time, time to first token, tokens per second, the share
of drafted tokens accepted, and how often its answer text equals llama.cpp's and the undrafted
transformers answer. Writes benchmarks/results/engines.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ragft.config import DecodingConfig
from ragft.models.base import DecodingSettings, Generation, Generator
from ragft.models.default_model import builtin_gguf_path
from ragft.models.llama_cpp import LlamaCppGenerator
from ragft.models.transformers_backend import TransformersGenerator, default_hf_model_dir
from ragft.prompts import build_messages
from ragft.types import Chunk, Hit

SQUAD = Path(__file__).resolve().parents[2] / "shared" / "benchmarks" / "squad2_dev"
RESULTS = Path(__file__).parent / "results" / "engines.json"
PASSAGE_CHARS = 500
FLOP_PER_CYCLE_AVX2_FP32 = 32  # two FMA units x 8 fp32 lanes x 2 FLOP


def squad_prompts(n: int, seed: int, *, with_answers: bool = False) -> tuple[Any, ...]:
    """(RAG prompts, closed-book prompts[, gold answers]) for `n` seeded answerable questions; a RAG
    prompt holds the gold paragraph and two others, shuffled."""
    docs = {d["doc_id"]: d for d in map(json.loads, (SQUAD / "corpus.jsonl").read_text(encoding="utf-8").splitlines())}
    rows = [r for r in map(json.loads, (SQUAD / "questions.jsonl").read_text(encoding="utf-8").splitlines()) if r["answerable"]]
    rng = random.Random(seed)
    prompts, closed, answers = [], [], []
    for row in rng.sample(rows, n):
        ids = [row["gold_doc_ids"][0], *rng.sample([d for d in docs if d != row["gold_doc_ids"][0]], 2)]
        rng.shuffle(ids)
        hits = [Hit(Chunk(i, i, docs[i]["text"][:PASSAGE_CHARS], 0, PASSAGE_CHARS, title=docs[i].get("title", "")), 1.0) for i in ids]
        prompts.append(build_messages(row["question"], hits))
        closed.append(build_messages(row["question"]))
        answers.append(row["answers"])
    return (prompts, closed, answers) if with_answers else (prompts, closed)


def machine_info() -> dict[str, Any]:
    """CPU model, clock, cores and the ISA flags that decide which kernels run (as /proc/cpuinfo says)."""
    info: dict[str, str] = {}
    with open("/proc/cpuinfo", encoding="utf-8") as f:
        for line in f:
            key, _, value = line.partition(":")
            info.setdefault(key.strip(), value.strip())
    flags = set(info.get("flags", "").split())
    wanted = ("avx2", "fma", "f16c", "avx512f", "avx512_vnni", "avx512_bf16", "avx_vnni", "amx_tile", "amx_bf16", "amx_int8")
    model = info.get("model name", platform.processor())
    ghz = float(model.rsplit("@", 1)[1].strip().removesuffix("GHz")) if "GHz" in model else float(info.get("cpu MHz", 0)) / 1000
    return {
        "cpu_model": model,
        "ghz": ghz,
        "cpus": os.cpu_count(),
        "isa_flags": {f: f in flags for f in wanted},
        "platform": platform.platform(),
    }


def prefill_flops_per_token(gguf: Path) -> float:
    """2 x the elements of every weight a prompt token is multiplied by (not token_embd, not output)."""
    from gguf import GGUFReader

    reader = GGUFReader(str(gguf))
    skip = ("token_embd.weight", "output.weight")
    return 2.0 * sum(int(t.n_elements) for t in reader.tensors if t.name not in skip and len(t.shape) > 1)


def cpu_limit_flops(threads: int) -> tuple[float, str]:
    ghz = machine_info()["ghz"]
    return threads * ghz * 1e9 * FLOP_PER_CYCLE_AVX2_FP32, f"{threads} cores x {ghz} GHz x {FLOP_PER_CYCLE_AVX2_FP32} FLOP/cycle"


def answer_all(generator: Generator, prompts: list[list[dict[str, str]]], settings: DecodingSettings) -> list[Generation]:
    generator.generate(prompts[0], DecodingSettings(max_new_tokens=2))  # warm caches and threads
    return [generator.generate(p, settings) for p in prompts]


def summarize(runs: list[Generation]) -> dict[str, Any]:
    totals = sorted(r.total_s for r in runs)
    drafted = sum(r.extra.get("drafted_tokens", 0) for r in runs)
    return {
        "answer_p50_s": statistics.median(totals),
        "answer_p95_s": totals[min(len(totals) - 1, round(0.95 * (len(totals) - 1)))],
        "ttft_p50_s": statistics.median(r.time_to_first_token_s for r in runs),
        "prompt_tokens_mean": statistics.mean(r.prompt_tokens for r in runs),
        "completion_tokens_mean": statistics.mean(r.completion_tokens for r in runs),
        "prefill_tokens_per_s": statistics.median(r.prompt_tokens / r.prefill_s for r in runs),
        "tokens_per_s": sum(r.completion_tokens for r in runs) / sum(r.total_s - r.prefill_s for r in runs),
        "draft_acceptance": sum(r.extra.get("accepted_tokens", 0) for r in runs) / drafted if drafted else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--questions", type=int, default=12)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--engines",
        default="llama_cpp,transformers_bf16,transformers_bf16_drafts",
        help="comma-separated; the transformers ones are slow where bf16 is emulated",
    )
    parser.add_argument("--label", default="", help="store this run under this key of engines.json (default: the top level)")
    args = parser.parse_args()
    d = DecodingConfig()
    settings = DecodingSettings(max_new_tokens=d.max_new_tokens, temperature=d.temperature, top_p=d.top_p, seed=d.seed)
    prompt_sets = dict(zip(("rag", "closed_book"), squad_prompts(args.questions, args.seed), strict=True))
    hf = default_hf_model_dir()
    engines: dict[str, Callable[[], Generator]] = {
        "llama_cpp": lambda: LlamaCppGenerator("default", threads=args.threads, context_window_tokens=4096),
        "transformers_bf16": lambda: TransformersGenerator(hf, threads=args.threads, precision="bf16", draft_tokens=0),
        "transformers_bf16_drafts": lambda: TransformersGenerator(hf, threads=args.threads, precision="bf16"),
    }
    engines = {k: v for k, v in engines.items() if k in args.engines.split(",")}
    load_start = os.getloadavg()
    texts: dict[tuple[str, str], list[str]] = {}
    out: dict[str, Any] = {"questions": args.questions, "engines": {name: {} for name in engines}}
    for name, make in engines.items():
        generator = make()
        generator.warm_up()
        for kind, prompts in prompt_sets.items():
            started = time.perf_counter()
            runs = answer_all(generator, prompts, settings)
            texts[name, kind] = [r.text for r in runs]
            out["engines"][name][kind] = {**summarize(runs), "wall_s": time.perf_counter() - started}
            print(name, kind, json.dumps(out["engines"][name][kind]), flush=True)
    for (name, kind), answers in texts.items():
        row = out["engines"][name][kind]
        for other in [e for e in ("llama_cpp", "transformers_bf16") if e in engines]:
            row[f"same_text_as_{other}"] = statistics.mean(a == b for a, b in zip(answers, texts[other, kind], strict=True))
    out["examples"] = {f"{name} {kind}": t[:3] for (name, kind), t in texts.items()}
    out["machine"] = {**machine_info(), "load_avg_at_start": load_start, "load_avg_at_end": os.getloadavg()}
    if "llama_cpp" in engines:
        limit, formula = cpu_limit_flops(args.threads)
        flops = prefill_flops_per_token(builtin_gguf_path("default"))
        out["llama_cpp_prefill_limit"] = {
            "tokens_per_s": limit / flops,
            "formula": f"{formula} / (2 x {flops / 2e6:.0f}M weights per token)",
        }
        print(
            f"llama.cpp RAG prefill {out['engines']['llama_cpp']['rag']['prefill_tokens_per_s']:.1f} tok/s; "
            f"this CPU's fp32 AVX2 limit {limit / flops:.0f} tok/s = {out['llama_cpp_prefill_limit']['formula']}"
        )
    out["command"] = "python benchmarks/bench_engines.py " + " ".join(sys.argv[1:])
    results = json.loads(RESULTS.read_text(encoding="utf-8")) if RESULTS.is_file() else {}
    results.update({args.label: out} if args.label else out)  # other runs' keys are kept
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    for name, kinds in out["engines"].items():
        for kind, row in kinds.items():
            print(
                f"{name:26} {kind:12} p50 {row['answer_p50_s']:5.2f}s  p95 {row['answer_p95_s']:5.2f}s  "
                f"ttft {row['ttft_p50_s']:5.2f}s  {row['tokens_per_s']:5.1f} tok/s  "
                f"same text as llama.cpp {row.get('same_text_as_llama_cpp', 1):.0%}"
            )


if __name__ == "__main__":
    main()
