"""Compare arms on a public benchmark (or the bundled sample) with the real default model; time each stage.

    python benchmarks/bench_compare.py --bench squad2_dev --limit 40 --arms base,rag
    python benchmarks/bench_compare.py --bench hotpotqa_hipporag100 --limit 20
    python benchmarks/bench_compare.py --bench sample --limit 30      # the Orrivale gold set

The corpus is ingested into a fresh temporary workspace (benchmarks' corpus.jsonl keeps its doc
ids), the arms are built with `build_system` (whatever arms it knows: base and rag today, the
fine-tuned ones as they land), and `compare` + `write_report` run exactly as `ragft compare` will.
Questions are taken in file order, answerable and unanswerable interleaved, up to --limit.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from ragft.corpus.ingest import ingest
from ragft.evaluate.compare import ArmCost, compare
from ragft.report import write_report
from ragft.report.recommend import Requirements
from ragft.report.terminal import print_summary
from ragft.sample import questions_path, sample_dir
from ragft.synth.probes import load_questions
from ragft.systems.build import build_system, index_corpus
from ragft.workspace import Workspace

SHARED = Path(__file__).resolve().parents[2] / "shared" / "benchmarks"


def pick(items: list, limit: int) -> list:
    """Answerable and unanswerable questions interleaved (the benchmarks list them in blocks)."""
    yes, no = [i for i in items if i.answerable], [i for i in items if not i.answerable]
    mixed = [x for pair in zip(yes, no) for x in pair] + yes[len(no):] + no[len(yes):]
    return mixed[:limit]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bench", default="sample", help="sample | squad2_dev | hotpotqa_hipporag100 | clapnq_dev | covid_qa")
    parser.add_argument("--limit", type=int, default=30)
    parser.add_argument("--arms", default="base,rag")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--noise-probes", type=int, default=0)
    args = parser.parse_args()

    stages: dict[str, float] = {}
    workdir = Path(tempfile.mkdtemp(prefix=f"ragft-bench-{args.bench}-"))
    ws = Workspace.init(workdir / "ws")
    started = time.perf_counter()
    if args.bench == "sample":
        ingest(ws.store, [sample_dir(1)], max_file_mb=50.0)
        questions = [q for q in load_questions(questions_path()) if "added_in" not in q.meta]
    else:
        folder = SHARED / args.bench
        ingest(ws.store, [folder / "corpus.jsonl"], max_file_mb=500.0)
        questions = load_questions(folder / "questions.jsonl")
    stages["ingest"] = time.perf_counter() - started
    probes = pick(questions, args.limit)

    started = time.perf_counter()
    indexed = index_corpus(ws)
    stages["index"] = time.perf_counter() - started
    systems, costs = {}, {}
    for arm in args.arms.split(","):
        started = time.perf_counter()
        systems[arm] = build_system(ws, arm, indexed=indexed)
        stages[f"build {arm}"] = time.perf_counter() - started
        costs[arm] = ArmCost(indexing_s=indexed.chunking_s + indexed.stats.total_s if arm != "base" else None)
    evaluation = ws.config.evaluation
    from dataclasses import replace

    evaluation = replace(evaluation, noise_probes=args.noise_probes, bootstrap_samples=1000)
    out = args.out or workdir / "report"
    result = compare(systems, probes, out, requirements=Requirements(), evaluation=evaluation, knows_version=1, costs=costs,
                     stages_s=stages, meta={"benchmark": args.bench, "questions": len(probes)})  # fmt: skip
    path = write_report(result, out)
    print_summary(result)
    print(json.dumps({"stages_s": {k: round(v, 1) for k, v in result.stages_s.items()}, "report": str(path)}, indent=1))


if __name__ == "__main__":
    main()
