"""Probe generator against the sample's hand-written gold set: per-kind coverage and answerability precision.

Ingests sample v1 and v2 (v2 for the changed facts), plans probes the way `ragft compare` does
(`jobs.plan_probes`), once with the default per-kind count and once with a generous one, and checks
them with `check_against_gold`. No language model and no embedder: probes come from templates.

Run: python benchmarks/bench_probes.py --label after   (prints the tables, writes benchmarks/results/probes.json
under that label, keeping the other labels already in the file, e.g. "before")
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from ragft.corpus.ingest import ingest
from ragft.evaluate.probe_check import check_against_gold
from ragft.jobs import plan_probes
from ragft.sample import questions_path, sample_dir
from ragft.synth.question_file import load_questions
from ragft.workspace import Workspace

RESULTS = Path(__file__).parent / "results" / "probes.json"
GENEROUS = 50


def measure(ws: Workspace, per_kind: int) -> dict[str, object]:
    """Probes of sample v1 (changes to v2 included) checked against the gold set."""
    plan = plan_probes(ws, 1, per_kind=per_kind, seed=ws.config.evaluation.seed)
    check = check_against_gold(plan.items, load_questions(questions_path()), ws.store.documents(1))
    return {"per_kind": per_kind, **check.to_dict(), "rejected": plan.stats.get("rejected", {})}


def show(result: dict[str, object]) -> None:
    print(f"\nper_kind={result['per_kind']}")
    print(f"{'kind':14} {'gold':>5} {'generated':>10} {'fact_cov':>9} {'doc_cov':>8}")
    for kind, row in result["by_kind"].items():  # type: ignore[union-attr]
        print(f"{kind:14} {row['gold']:>5} {row['generated']:>10} {row['fact_coverage']:>9.2f} {row['doc_coverage']:>8.2f}")
    print(f"answerability precision {result['answerability_precision']:.3f} (gold set: {result['gold_answerability_precision']:.3f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--label", default="after", help="key to store these numbers under (e.g. before, after)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace.init(Path(tmp) / "ws")
        for version in (1, 2):
            ingest(ws.store, [sample_dir(version)], max_file_mb=ws.config.corpus.max_file_mb)
        started = time.perf_counter()
        results = [measure(ws, n) for n in (ws.config.evaluation.probes_per_kind, GENEROUS)]
        elapsed = time.perf_counter() - started
    for result in results:
        show(result)
    saved = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    saved[args.label] = {
        "command": f"python benchmarks/bench_probes.py --label {args.label}",
        "measured_at": time.strftime("%Y-%m-%d"),
        "generate_and_check_s": round(elapsed, 2),
        "results": results,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(saved, indent=2) + "\n")
    print(f"wrote {RESULTS} [{args.label}]")


if __name__ == "__main__":
    main()
