"""Compare every arm on a public benchmark sample (or the bundled sample) with the real default model.

    python benchmarks/bench_compare.py --bench squad2_dev --answerable 60 --unanswerable 20
    python benchmarks/bench_compare.py --bench hotpotqa_hipporag100 --answerable 30
    python benchmarks/bench_compare.py --bench sample --answerable 30 --arms base,rag
    python benchmarks/bench_compare.py --bench hotpotqa_hipporag100 --answerable 30 --arms hybrid --tag hybrid
    python benchmarks/bench_compare.py --bench squad2_dev --answerable 40 --unanswerable 10 --arms base,rag,finetuned --seeds 3 --tag seeds

A sample of questions is drawn (seeded), and the corpus is *the sample's own documents*: the gold
paragraphs of its answerable questions and, for SQuAD 2.0, the paragraph each unanswerable
question was written against (the converted file lists a paragraph's unanswerable questions right
after its answerable ones). That keeps fine-tuning affordable on a CPU (the fine-tuned arm trains
on every chunk of that corpus, `max_chunks = 0`) and gives RAG the same documents. The trained arms
are built with `train_arm`, and the comparison runs through `run_comparison`, exactly as
`ragft train` + `ragft compare --questions FILE [--seeds N]` do (with `--seeds`, the other
training seeds are trained inside the comparison, on the installed adapter's data). Results go to
benchmarks/results/compare_<bench>.json (and an HTML report in the temporary workspace).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_engines import machine_info
from ragft import arms as arm_registry
from ragft.corpus.ingest import ingest
from ragft.jobs import run_comparison
from ragft.report import write_report
from ragft.report.terminal import print_summary
from ragft.sample import questions_path, sample_dir
from ragft.train.manifest import AdapterManifest, adapter_dir
from ragft.workspace import Workspace

SHARED = Path(__file__).resolve().parents[2] / "shared" / "benchmarks"
RESULTS = Path(__file__).parent / "results"


def paragraph_of_each_question(rows: list[dict[str, Any]]) -> list[str | None]:
    """The document each question is about: its first gold doc, or (unanswerable) the last one seen before it."""
    current: str | None = None
    owners = []
    for row in rows:
        if row["gold_doc_ids"]:
            current = row["gold_doc_ids"][0]
        owners.append(row["gold_doc_ids"][0] if row["gold_doc_ids"] else current)
    return owners


def draw_sample(rows: list[dict[str, Any]], answerable: int, unanswerable: int, seed: int) -> tuple[list[dict], set[str]]:
    """(questions, doc ids they need): `answerable` + `unanswerable` questions drawn at random, seeded."""
    owners = paragraph_of_each_question(rows)
    rng = random.Random(seed)
    yes = [i for i, r in enumerate(rows) if r["answerable"]]
    no = [i for i, r in enumerate(rows) if not r["answerable"] and owners[i] is not None]
    picked = sorted(rng.sample(yes, min(answerable, len(yes))) + rng.sample(no, min(unanswerable, len(no))))
    docs: set[str] = set()
    for i in picked:
        docs.update(rows[i]["gold_doc_ids"] or [owners[i]])
    return [rows[i] for i in picked], docs


def prepare(bench: str, answerable: int, unanswerable: int, seed: int, workdir: Path) -> tuple[Workspace, Path, dict[str, Any]]:
    """A workspace holding the sample's documents, and the sample's question file."""
    ws = Workspace.init(workdir / "ws")
    questions_file = workdir / "questions.jsonl"
    if bench == "sample":
        rows = [json.loads(line) for line in questions_path().read_text(encoding="utf-8").splitlines() if line.strip()]
        rows = [r for r in rows if "added_in" not in r.get("meta", {})]
        picked, _ = draw_sample(rows, answerable, unanswerable, seed)
        ingest(ws.store, [sample_dir(1)], max_file_mb=50.0, note="sample v1")
    else:
        folder = SHARED / bench
        rows = [json.loads(line) for line in (folder / "questions.jsonl").read_text(encoding="utf-8").splitlines()]
        picked, needed = draw_sample(rows, answerable, unanswerable, seed)
        corpus = workdir / "corpus.jsonl"
        with corpus.open("w", encoding="utf-8") as out:
            for line in (folder / "corpus.jsonl").read_text(encoding="utf-8").splitlines():
                if json.loads(line)["doc_id"] in needed:
                    out.write(line + "\n")
        ingest(ws.store, [corpus], max_file_mb=500.0, note=f"{bench} sample")
    if bench.startswith("hotpotqa"):  # every HotpotQA question needs two documents
        picked = [{**r, "kind": "multi_doc"} for r in picked]
    questions_file.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in picked), encoding="utf-8")
    info = {"questions": len(picked), "answerable": sum(r["answerable"] for r in picked), "documents": len(ws.store.documents(1))}
    return ws, questions_file, info


def settings_from(assignments: list[str]) -> dict[str, Any]:
    """`key=value` pairs (value in TOML syntax) as a settings dict for `Workspace.with_settings`."""
    import tomllib

    settings = {}
    for assignment in assignments:
        key, _, value = assignment.partition("=")
        settings[key.strip()] = tomllib.loads(f"v = {value}")["v"]
    return settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bench", default="sample", help="sample | squad2_dev | hotpotqa_hipporag100 | clapnq_dev | covid_qa")
    parser.add_argument("--answerable", type=int, default=30)
    parser.add_argument("--unanswerable", type=int, default=0)
    parser.add_argument("--arms", default="base,rag,finetuned,hybrid")
    parser.add_argument("--raft-examples", type=int, default=64, help="hybrid arm: RAFT examples (one per fact)")
    parser.add_argument("--noise-probes", type=int, default=0)
    parser.add_argument("--seed", type=int, default=0, help="seed of the question sample")
    parser.add_argument("--seeds", type=int, default=1, help="training seeds per trained arm (ragft compare --seeds)")
    parser.add_argument("--resume", type=Path, default=None, help="the workdir of an interrupted run (printed at its start)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=TOML",
        help="a ragft.toml setting for this run, e.g. --set refusal_threshold=1.0 (repeatable)",
    )
    parser.add_argument("--tag", default="", help="write compare_<bench>_<tag>.json, keeping an earlier run's file")
    parser.add_argument(
        "--focus",
        action="store_true",
        help="when the budget cannot cover every chunk, train first on the chunks holding the sample's answers "
        "([training] focus_questions = the question file), so more probes are covered; judge on covered probes",
    )
    parser.add_argument("--train-only", action="store_true", help="stop after training the arms (finish later with --resume WORKDIR)")
    parser.add_argument(
        "--no-domain", action="store_true", help="skip the domain-distance stage (the base model's perplexity; minutes on a CPU)"
    )
    args = parser.parse_args()

    from ragft.train import train_arm, training_progress

    started_all = time.perf_counter()
    command = "python benchmarks/bench_compare.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    arms = arm_registry.parse_arms([args.arms])
    trained = arm_registry.adapters_needed(arms)  # the adapters these arms answer with, each trained once
    stages: dict[str, float] = {}
    training: dict[str, Any] = {}
    if args.resume:  # an interrupted run: same workspace, trained adapters and answers so far
        workdir = args.resume
        ws, questions = Workspace.open(workdir / "ws"), workdir / "questions.jsonl"
        info = json.loads((workdir / "sample.json").read_text(encoding="utf-8"))
        for arm in trained:
            manifest = AdapterManifest.load(adapter_dir(ws, arm))
            stages[f"train {arm}"] = manifest.metrics["wall_s"]
            training[arm] = {"metrics": manifest.metrics, "coverage": manifest.coverage}
        if args.set:  # e.g. answer with another engine than the one the arms were trained beside
            ws = ws.with_settings(settings_from(args.set), note="bench_compare --resume")
    else:
        workdir = Path(tempfile.mkdtemp(prefix=f"ragft-bench-{args.bench}-"))
        started = time.perf_counter()
        ws, questions, info = prepare(args.bench, args.answerable, args.unanswerable, args.seed, workdir)
        info["command"] = command  # the sample and settings a later --resume answers with
        (workdir / "sample.json").write_text(json.dumps(info), encoding="utf-8")
        stages["ingest"] = time.perf_counter() - started
        ws = ws.with_settings(
            {
                "max_chunks": 0,
                "raft_examples": args.raft_examples,
                "noise_probes": args.noise_probes,
                "injection_probes": 0,
                **({"focus_questions": str(questions)} if args.focus else {}),
                **settings_from(args.set),
            },
            note="bench_compare",
        )
        for arm in trained:
            started = time.perf_counter()
            with training_progress() as progress:
                result = train_arm(ws, arm, progress=progress)
            stages[f"train {arm}"] = time.perf_counter() - started
            training[arm] = {"metrics": result.manifest.metrics, "coverage": result.manifest.coverage}
    print(f"{info} in {workdir}", flush=True)
    if args.train_only:
        print(f"trained {', '.join(trained) or 'nothing'}; answer with --resume {workdir}", flush=True)
        return
    out = workdir / "report"
    result = run_comparison(
        ws, arms=arms, out_dir=out, questions=questions, stages_s=stages, seeds=args.seeds, measure_domain=not args.no_domain
    )
    path = write_report(result, out)
    print_summary(result)
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    record = {
        "bench": args.bench,
        "sample": info,
        "seed": args.seed,
        "arms": arms,
        "report": str(path),
        "overall": {arm: s["overall"] for arm, s in summary["arms"].items()},
        "by_kind": {arm: s["by_kind"] for arm, s in summary["arms"].items()},
        "failures": {arm: s.get("failures") for arm, s in summary["arms"].items()},
        "cost": {arm: s.get("cost") for arm, s in summary["arms"].items()},
        "recommendation": summary.get("recommendation"),
        "paired": {k: v for k, v in summary.get("paired", {}).items() if k != "correct"},
        "seeds": summary.get("seeds"),
        "crossover": summary.get("crossover"),
        "domain": summary.get("domain"),
        "training": training,
        "taught": summary.get("taught"),  # coverage, diagnostics (memorisation, generalisation, transfer), known/unknown
        "stages_s": {k: round(v, 1) for k, v in result.stages_s.items()},
        "wall_s": round(time.perf_counter() - started_all, 1),
        "machine": {**machine_info(), "load_avg_at_end": os.getloadavg()},
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = f"compare_{args.bench}_{args.tag}.json" if args.tag else f"compare_{args.bench}.json"
    record["command"] = command  # a --resume run's training command is in record["sample"]["command"]
    (RESULTS / name).write_text(json.dumps(record, indent=1, default=str), encoding="utf-8")
    print(json.dumps({"stages_s": record["stages_s"], "report": str(path)}, indent=1))


if __name__ == "__main__":
    main()
