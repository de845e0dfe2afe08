"""How fast does llama.cpp read a RAG prompt here, against this CPU's arithmetic limit, and what helps?

    python benchmarks/bench_prefill.py [--questions 8] [--quality 20] [--variant NAME=SPEC ...]

Every variant prefills the same real RAG prompts (bench_engines' SQuAD prompts: ragft's prompt with
the gold paragraph and two others) through `LlamaCppGenerator.generate` with one new token, the
variants taking turns prompt by prompt (A, B, A, B, ...) so that load from other processes falls
on all of them alike. Per variant: median, min and max prompt tokens/s. Then each variant answers
`--quality` prompts greedily in full, and the answers are compared with the first variant's (same
text) and with SQuAD's gold answers (a gold answer contained in the reply).

A variant is NAME=GGUF[,key=value...] where GGUF is a .gguf file or "default", and keys are
`threads`, `repack` (0/1) or any `Llama` option (`n_batch`, `n_ubatch`, `flash_attn`).

The limit printed beside each figure: cores x GHz x 32 FLOP/cycle (two AVX2 FMA units x 8 fp32
lanes x 2) divided by 2 x the weights one prompt token multiplies (all but the token embedding and
the output head, which prefill runs for the last token only); attention over ~600 tokens adds
under 10% and is left out, so the real ceiling is a little lower. Results are added to
benchmarks/results/engines.json under "llama_cpp_prefill".
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

from bench_engines import (
    RESULTS,
    cpu_limit_flops,
    machine_info,
    prefill_flops_per_token,
    squad_prompts,
)
from ragft.config import DecodingConfig
from ragft.evaluate.paired import mcnemar_exact_p
from ragft.models.base import DecodingSettings
from ragft.models.default_model import builtin_gguf_path
from ragft.models.llama_cpp import LlamaCppGenerator
from ragft.text import normalize_answer


def parse_variant(text: str) -> tuple[str, dict[str, Any]]:
    """NAME=GGUF[,key=value...] -> (name, {"path": ..., options})."""
    name, _, spec = text.partition("=")
    path, *pairs = spec.split(",")
    options: dict[str, Any] = {"path": path}
    for pair in pairs:
        key, _, value = pair.partition("=")
        options[key] = int(value) if value.lstrip("-").isdigit() else value == "true" if value in ("true", "false") else value
    return name, options


def make(options: dict[str, Any], threads: int) -> LlamaCppGenerator:
    opts = dict(options)
    path, threads, repack = opts.pop("path"), int(opts.pop("threads", threads)), opts.pop("repack", None)
    if "flash_attn" in opts:
        opts["flash_attn"] = bool(opts["flash_attn"])
    return LlamaCppGenerator(path, threads=threads, weight_repacking=None if repack is None else bool(repack), llama_options=opts)


def measure_prefill(gens: dict[str, LlamaCppGenerator], prompts: list[Any]) -> dict[str, list[float]]:
    one = DecodingSettings(max_new_tokens=1)
    for g in gens.values():
        g.generate(prompts[0], one)  # load, repack, warm threads
    rates: dict[str, list[float]] = {n: [] for n in gens}
    for p in prompts:
        for n, g in gens.items():
            r = g.generate(p, one)
            rates[n].append(r.prompt_tokens / r.prefill_s)
    return rates


def measure_quality(gens: dict[str, LlamaCppGenerator], prompts: list[Any], golds: list[list[str]]) -> dict[str, dict[str, Any]]:
    d = DecodingConfig()
    settings = DecodingSettings(max_new_tokens=d.max_new_tokens, temperature=d.temperature, top_p=d.top_p, seed=d.seed)
    texts: dict[str, list[str]] = {n: [] for n in gens}
    for p in prompts:
        for n, g in gens.items():
            texts[n].append(g.generate(p, settings).text)
    first = next(iter(texts.values()))

    def contains_gold(answer: str, gold: list[str]) -> bool:
        return any(normalize_answer(x) in normalize_answer(answer) for x in gold)

    right = {n: [contains_gold(a, g) for a, g in zip(t, golds, strict=True)] for n, t in texts.items()}
    reference = next(iter(right.values()))
    return {
        n: {
            "same_text_as_first": statistics.mean(a == b for a, b in zip(t, first, strict=True)),
            "gold_contained": statistics.mean(right[n]),
            "paired_vs_first": paired(right[n], reference),
            "examples": t[:2],
        }
        for n, t in texts.items()
    }


def paired(right: list[bool], reference: list[bool]) -> dict[str, Any]:
    """Paired against the first variant on the same prompts: prompts only this one got right, only the first did, McNemar p."""
    only_this = sum(a and not b for a, b in zip(right, reference, strict=True))
    only_first = sum(b and not a for a, b in zip(right, reference, strict=True))
    return {"only_this_right": only_this, "only_first_right": only_first, "mcnemar_p": mcnemar_exact_p(only_this, only_first)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--questions", type=int, default=8)
    parser.add_argument("--quality", type=int, default=20, help="prompts answered in full per variant (0: skip)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--variant", action="append", default=[], help="NAME=GGUF[,key=value...]; the first is the reference")
    parser.add_argument("--label", default="llama_cpp_prefill", help="key of this run in engines.json")
    args = parser.parse_args()
    variants = dict(map(parse_variant, args.variant or ["q4_k_m=default"]))
    gens = {n: make(o, args.threads) for n, o in variants.items()}
    rag, _, golds = squad_prompts(max(args.questions, args.quality), args.seed, with_answers=True)
    load_start = os.getloadavg()
    rates = measure_prefill(gens, rag[: args.questions])
    out: dict[str, Any] = {"variants": {}}
    for n, o in variants.items():
        path = builtin_gguf_path("default") if o["path"] == "default" else Path(o["path"])
        threads = int(o.get("threads", args.threads))
        limit, formula = cpu_limit_flops(threads)
        flops = prefill_flops_per_token(path)
        r = rates[n]
        out["variants"][n] = {
            "spec": o,
            "prefill_tokens_per_s_p50": statistics.median(r),
            "min": min(r),
            "max": max(r),
            "cpu_limit_tokens_per_s": limit / flops,
            "limit_formula": f"{formula} / (2 x {flops / 2e6:.0f}M weights per token)",
            "share_of_limit": statistics.median(r) * flops / limit,
        }
        print(
            f"{n:22} prefill {statistics.median(r):6.1f} tok/s (min {min(r):6.1f}, max {max(r):6.1f})   "
            f"limit {limit / flops:6.0f} tok/s = {out['variants'][n]['limit_formula']}",
            flush=True,
        )
    if args.quality:
        for n, q in measure_quality(gens, rag[: args.quality], golds[: args.quality]).items():
            out["variants"][n].update(q)
            print(
                f"{n:22} same text as {next(iter(variants))}: {q['same_text_as_first']:.0%}  gold answer contained: {q['gold_contained']:.0%}"
                f"  (paired: {q['paired_vs_first']['only_this_right']} right only here, {q['paired_vs_first']['only_first_right']} only in "
                f"{next(iter(variants))}, McNemar p = {q['paired_vs_first']['mcnemar_p']:.2f})"
            )
    out.update(
        questions=args.questions,
        quality_prompts=args.quality,
        machine={**machine_info(), "load_avg_at_start": load_start, "load_avg_at_end": os.getloadavg()},
        command="python benchmarks/bench_prefill.py " + " ".join(sys.argv[1:]),
    )
    results = json.loads(RESULTS.read_text(encoding="utf-8")) if RESULTS.is_file() else {}
    results[args.label] = out
    RESULTS.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
