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

from ragft import arms as arm_registry
from ragft.config import ModelsConfig
from ragft.corpus.ingest import ingest
from ragft.evaluate.metrics import contains_answer, exact_match, token_f1
from ragft.sample import questions_path, sample_dir
from ragft.systems.build import index_corpus
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


def answer_rows(system, items: list[dict], *, as_user: User | None = None, label: str = "") -> list[dict]:
    """Answer every item; one row each with its scores, refusal probability and timings."""
    rows = []
    for number, item in enumerate(items, start=1):
        answer = system.answer(item["question"], user=as_user)
        text = _MARKER.sub("", answer.text)
        golds = item["answers"]
        rows.append(
            {
                "qid": item["qid"],
                "answerable": item["answerable"],
                "answer": answer.text,
                "refused": answer.refused,
                "withheld_because": answer.trace.get("withheld_because"),
                "refusal_probability": answer.trace.get("refusal_probability"),
                "contains": contains_answer(text, golds) if golds else 0.0,
                "f1": token_f1(text, golds) if golds else 0.0,
                "em": exact_match(text, golds) if golds else 0.0,
                "cited_gold": any(c.doc_id in item["gold_doc_ids"] for c in answer.citations),
                "total_s": answer.timings["total_s"],
                "ttft_s": answer.timings["time_to_first_token_s"],
            }
        )
        if number % 25 == 0:
            print(f"{label} {number}/{len(items)} answered", flush=True)
    return rows


def score(system, items: list[dict], *, as_user: User | None = None) -> dict:
    """Answer every item; aggregate correctness, citations, refusals and latency."""
    return aggregate(answer_rows(system, items, as_user=as_user))


def aggregate(rows: list[dict]) -> dict:
    """Correctness, citations, refusals and latency over answer rows."""
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
    """RAG on the sample corpus gold set: fact questions and out-of-scope refusals, per generator,
    with `refusal_threshold` off and the effect of each threshold computed from the same answers."""
    gold = [q for q in load_jsonl(questions_path()) if not q["meta"].get("added_in")]
    questions = [q for q in gold if q["kind"] == "fact"][:limit] + [q for q in gold if q["kind"] == "out_of_scope"][: limit // 2]
    results = {}
    for generator in generators:
        with tempfile.TemporaryDirectory() as tmp:
            ws = workspace_with(sample_dir(1), Path(tmp), generator)
            ws.config = replace(ws.config, retrieval=replace(ws.config.retrieval, refusal_threshold=1.0))
            system = arm_registry.build(ws, "rag")
            system.answer("warm-up question")
            rows = answer_rows(system, questions, label=f"sample / {generator}")
        results[generator] = {**aggregate(rows), "threshold_sweep": {str(t): aggregate(with_threshold(rows, t)) for t in THRESHOLDS}}
        print(f"sample / {generator}: {json.dumps(results[generator], indent=1)}", flush=True)
    return results


def stage_squad(generators: list[str], answerable: int, unanswerable: int, seed: int = 0) -> dict:
    """RAG on SQuAD 2.0 dev: token F1 / EM on answerable, refusal rate on unanswerable questions.

    The system runs with `refusal_threshold` off and every row keeps the model's probability of
    refusing, so the effect of any threshold is computed exactly from the same answers (a
    threshold only turns answers into refusals). The threshold is chosen on one half of the
    sample (alternate items) and reported on the other half, so the choice is not scored on the
    items it was picked with. Rows go to benchmarks/results/rag_squad_rows_<generator>.jsonl.
    """
    questions = load_jsonl(SHARED / "squad2_dev" / "questions.jsonl")
    rng = random.Random(seed)
    pick = rng.sample([q for q in questions if q["answerable"]], answerable) + rng.sample(
        [q for q in questions if not q["answerable"]], unanswerable
    )
    results = {}
    for generator in generators:
        with tempfile.TemporaryDirectory() as tmp:
            ws = workspace_with(SHARED / "squad2_dev" / "corpus.jsonl", Path(tmp), generator)
            ws.config = replace(ws.config, retrieval=replace(ws.config.retrieval, refusal_threshold=1.0))
            system = arm_registry.build(ws, "rag")
            system.answer("warm-up question")
            rows = answer_rows(system, pick, label=f"squad / {generator}")
        RESULTS.with_name(f"rag_squad_rows_{generator}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        results[generator] = squad_summary(rows)
        print(f"squad / {generator}: {json.dumps(results[generator], indent=1)}", flush=True)
    return results


def squad_summary(rows: list[dict]) -> dict:
    """Scores with the threshold off, how well the refusal probability separates right from wrong, every threshold."""
    return {"threshold_off": aggregate(rows), "refusal_probability_auc": refusal_probability_auc(rows), "threshold": threshold_study(rows)}


def refusal_probability_auc(rows: list[dict]) -> dict:
    """Among answers given (not refused): the chance a wrong one has a higher refusal probability than
    a right one (ties count half). 0.5 = the probability says nothing about correctness."""
    answered = [r for r in rows if not r["refused"]]
    right = [r["refusal_probability"] or 0.0 for r in answered if r["answerable"] and r["contains"]]
    wrong = [r["refusal_probability"] or 0.0 for r in answered if not (r["answerable"] and r["contains"])]
    pairs = len(right) * len(wrong)
    auc = sum((w > g) + 0.5 * (w == g) for g in right for w in wrong) / pairs if pairs else None
    return {"auc": round(auc, 3) if auc is not None else None, "right_answers": len(right), "wrong_answers": len(wrong)}


THRESHOLDS = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 1.0)


def with_threshold(rows: list[dict], threshold: float) -> list[dict]:
    """The rows as the system would have answered with `refusal_threshold = threshold`."""
    out = []
    for row in rows:
        p = row["refusal_probability"]
        if not row["refused"] and p is not None and p >= threshold:
            row = {**row, "refused": True, "withheld_because": "unconfident", "contains": 0.0, "f1": 0.0, "em": 0.0, "cited_gold": False}
        out.append(row)
    return out


def balanced_accuracy(rows: list[dict]) -> float:
    """Mean of answerable-contains-the-answer and unanswerable-refused: both kinds of mistake weigh alike."""
    summary = aggregate(rows)
    return (summary["contains"] + summary["refused_unanswerable"]) / 2


def threshold_study(rows: list[dict]) -> dict:
    """Every threshold on all rows; the one chosen on half A (best balanced accuracy), scored on half B."""
    halves = {"A": [], "B": []}
    for kind in (True, False):
        for i, row in enumerate(r for r in rows if r["answerable"] is kind):
            halves["AB"[i % 2]].append(row)
    sweep = {
        str(t): {**aggregate(with_threshold(rows, t)), "balanced": round(balanced_accuracy(with_threshold(rows, t)), 3)} for t in THRESHOLDS
    }
    chosen = max(THRESHOLDS, key=lambda t: (balanced_accuracy(with_threshold(halves["A"], t)), t))
    return {
        "sweep_all_rows": sweep,
        "chosen_on_half_A": chosen,
        "half_B_at_chosen": aggregate(with_threshold(halves["B"], chosen)),
        "half_B_threshold_off": aggregate(halves["B"]),
        "half_B_balanced": {
            "chosen": round(balanced_accuracy(with_threshold(halves["B"], chosen)), 3),
            "off": round(balanced_accuracy(halves["B"]), 3),
        },
    }


def stage_budget(budgets: list[int], limit: int) -> dict:
    """Accuracy against latency as the passage-token budget of the prompt grows (default generator)."""
    questions = [q for q in load_jsonl(questions_path()) if q["kind"] == "fact" and not q["meta"].get("added_in")][:limit]
    results = {}
    for budget in budgets:
        with tempfile.TemporaryDirectory() as tmp:
            ws = workspace_with(sample_dir(1), Path(tmp), budget=budget)
            ws.config = replace(ws.config, retrieval=replace(ws.config.retrieval, k=8))
            system = arm_registry.build(ws, "rag")
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
        built = arm_registry.build_all(ws, ["rag", "base"], indexed)  # one generator for both
        rag, base = built["rag"], built["base"]
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


def rescore_squad(generators: list[str]) -> None:
    """Recompute the squad stage's summary from benchmarks/results/rag_squad_rows_<generator>.jsonl."""
    all_results = json.loads(RESULTS.read_text())
    for generator in generators:
        rows = load_jsonl(RESULTS.with_name(f"rag_squad_rows_{generator}.jsonl"))
        all_results["squad"]["results"][generator] = squad_summary(rows)
        print(f"squad / {generator}: {json.dumps(all_results['squad']['results'][generator], indent=1)}")
    RESULTS.write_text(json.dumps(all_results, indent=2) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stage", choices=["sample", "squad", "budget", "latency"], required=True)
    parser.add_argument("--generators", default="default", help="comma-separated [models] generator values")
    parser.add_argument("--answerable", type=int, default=300)
    parser.add_argument("--unanswerable", type=int, default=300)
    parser.add_argument("--budgets", default="200,400,600,900")
    parser.add_argument("--limit", type=int, default=50, help="fact questions (sample, budget); out-of-scope: half as many")
    parser.add_argument("--rescore", action="store_true", help="squad: recompute the summary from the saved rows, answering nothing")
    args = parser.parse_args()
    if args.rescore:
        rescore_squad(args.generators.split(","))
        return
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
