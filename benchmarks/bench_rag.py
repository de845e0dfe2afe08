"""RAG answer quality and latency: sample corpus gold set, SQuAD 2.0 dev, context budget sweep.

Run (each stage is optional; results merge into benchmarks/results/rag.json):
  python benchmarks/bench_rag.py --stage sample --generators default,gemma3-270m --limit 40
  python benchmarks/bench_rag.py --stage squad --answerable 300 --unanswerable 300
  python benchmarks/bench_rag.py --stage budget --budgets 200,400,600 --limit 30
  python benchmarks/bench_rag.py --stage latency

Scores: containment (a gold answer appears in the answer), token F1 and exact match after
stripping [n] markers; citation correct = a cited document is a gold document; refusal rate on
unanswerable / out-of-scope questions.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import re
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from ragft.config import ModelsConfig
from ragft.corpus.ingest import ingest
from ragft.evaluate.metrics import contains_answer, exact_match, token_f1
from ragft.sample import questions_path, sample_dir
from ragft.systems.build import build_system, index_corpus
from ragft.types import User
from ragft.workspace import Workspace

SHARED = Path(__file__).resolve().parents[2] / "shared" / "benchmarks"
RESULTS = Path(__file__).parent / "results" / "rag.json"
_MARKER = re.compile(r"\s*\[\d+\]")


def load_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def workspace_with(corpus: Path, tmp: Path, generator: str = "default", budget: int | None = None) -> Workspace:
    ws = Workspace.init(tmp / "ws")
    ingest(ws.store, [corpus], max_file_mb=100)
    models = replace(ws.config.models, generator=generator)
    retrieval = ws.config.retrieval if budget is None else replace(ws.config.retrieval, context_budget_tokens=budget)
    ws.config = replace(ws.config, models=models, retrieval=retrieval)
    return ws


def score(system, items: list[dict], *, as_user: User | None = None) -> dict:
    """Answer every item; aggregate correctness, citations, refusals and latency."""
    rows = []
    for item in items:
        answer = system.answer(item["question"], user=as_user)
        text = _MARKER.sub("", answer.text)
        golds = item["answers"]
        rows.append({
            "answerable": item["answerable"],
            "refused": answer.refused,
            "contains": contains_answer(text, golds) if golds else 0.0,
            "f1": token_f1(text, golds) if golds else 0.0,
            "em": exact_match(text, golds) if golds else 0.0,
            "cited_gold": any(c.doc_id in item["gold_doc_ids"] for c in answer.citations),
            "total_s": answer.timings["total_s"],
            "ttft_s": answer.timings["time_to_first_token_s"],
        })  # fmt: skip
    answerable = [r for r in rows if r["answerable"]]
    unanswerable = [r for r in rows if not r["answerable"]]
    mean = lambda xs: round(sum(xs) / len(xs), 3) if xs else None  # noqa: E731
    times = sorted(r["total_s"] for r in rows)
    return {
        "answerable": len(answerable),
        "contains": mean([r["contains"] for r in answerable]),
        "f1": mean([r["f1"] for r in answerable]),
        "em": mean([r["em"] for r in answerable]),
        "correct_and_cited": mean([float(r["contains"] and r["cited_gold"]) for r in answerable]),
        "refused_answerable": mean([float(r["refused"]) for r in answerable]),
        "unanswerable": len(unanswerable),
        "refused_unanswerable": mean([float(r["refused"]) for r in unanswerable]),
        "p50_total_s": round(statistics.median(times), 2) if times else None,
        "p95_total_s": round(times[int(0.95 * (len(times) - 1))], 2) if times else None,
    }


def stage_sample(generators: list[str], limit: int) -> dict:
    """RAG on the sample corpus gold set: fact questions and out-of-scope refusals, per generator."""
    gold = [q for q in load_jsonl(questions_path()) if not q["meta"].get("added_in")]
    questions = [q for q in gold if q["kind"] == "fact"][:limit] + [q for q in gold if q["kind"] == "out_of_scope"][: limit // 2]
    results = {}
    for generator in generators:
        with tempfile.TemporaryDirectory() as tmp:
            ws = workspace_with(sample_dir(1), Path(tmp), generator)
            system = build_system(ws, "rag")
            system.answer("warm-up question")
            results[generator] = score(system, questions)
            print(f"sample / {generator}: {results[generator]}", flush=True)
    return results


def stage_squad(generators: list[str], answerable: int, unanswerable: int, seed: int = 0) -> dict:
    """RAG on SQuAD 2.0 dev: token F1 / EM on answerable, refusal rate on unanswerable questions."""
    questions = load_jsonl(SHARED / "squad2_dev" / "questions.jsonl")
    rng = random.Random(seed)
    pick = rng.sample([q for q in questions if q["answerable"]], answerable) + rng.sample(
        [q for q in questions if not q["answerable"]], unanswerable
    )
    results = {}
    for generator in generators:
        with tempfile.TemporaryDirectory() as tmp:
            ws = workspace_with(SHARED / "squad2_dev" / "corpus.jsonl", Path(tmp), generator)
            system = build_system(ws, "rag")
            system.answer("warm-up question")
            results[generator] = score(system, pick)
            print(f"squad / {generator}: {results[generator]}", flush=True)
    return results


def stage_budget(budgets: list[int], limit: int) -> dict:
    """Accuracy against latency as the passage-token budget of the prompt grows (default generator)."""
    questions = [q for q in load_jsonl(questions_path()) if q["kind"] == "fact" and not q["meta"].get("added_in")][:limit]
    results = {}
    for budget in budgets:
        with tempfile.TemporaryDirectory() as tmp:
            ws = workspace_with(sample_dir(1), Path(tmp), budget=budget)
            ws.config = replace(ws.config, retrieval=replace(ws.config.retrieval, k=8))
            system = build_system(ws, "rag")
            system.answer("warm-up question")
            results[str(budget)] = score(system, questions)
            print(f"budget {budget}: {results[str(budget)]}", flush=True)
    return results


def stage_latency(n: int = 30) -> dict:
    """p50/p95 of retrieval, prefill, time to first token and total for base and rag, same run."""
    questions = [q for q in load_jsonl(questions_path()) if q["kind"] == "fact"][:n]
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        ws = workspace_with(sample_dir(1), Path(tmp))
        indexed = index_corpus(ws)
        rag = build_system(ws, "rag", indexed=indexed)
        base = build_system(ws, "base", generator=rag.generator)
        for system in (base, rag):
            system.answer("warm-up question")
            timings: dict[str, list[float]] = {}
            for q in questions:
                for key, value in system.answer(q["question"]).timings.items():
                    timings.setdefault(key, []).append(value)
            results[system.name] = {key: _percentiles(values) for key, values in timings.items()}
            print(f"latency / {system.name}: {results[system.name]}", flush=True)
    return results


def _percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {"p50_ms": round(1000 * statistics.median(ordered), 1), "p95_ms": round(1000 * ordered[int(0.95 * (len(ordered) - 1))], 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stage", choices=["sample", "squad", "budget", "latency"], required=True)
    parser.add_argument("--generators", default="default", help="comma-separated [models] generator values")
    parser.add_argument("--answerable", type=int, default=300)
    parser.add_argument("--unanswerable", type=int, default=300)
    parser.add_argument("--budgets", default="200,400,600,900")
    parser.add_argument("--limit", type=int, default=50, help="fact questions (sample, budget); out-of-scope: half as many")
    args = parser.parse_args()
    generators = args.generators.split(",")
    started = time.perf_counter()
    if args.stage == "sample":
        result = stage_sample(generators, args.limit)
    elif args.stage == "squad":
        result = stage_squad(generators, args.answerable, args.unanswerable)
    elif args.stage == "budget":
        result = stage_budget([int(b) for b in args.budgets.split(",")], args.limit)
    else:
        result = stage_latency()
    all_results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    all_results[args.stage] = {
        "command": "python benchmarks/bench_rag.py " + " ".join(f"--{k} {v}" for k, v in vars(args).items()),
        "machine": f"{platform.machine()}, {ModelsConfig().threads or 'all'} threads",
        "measured_at": time.strftime("%Y-%m-%d %H:%M"),
        "wall_s": round(time.perf_counter() - started, 1),
        "results": result,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(all_results, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
