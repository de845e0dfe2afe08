"""Closed-book and RAG accuracy on the same SQuAD 2.0 dev questions, for one prompt wording.

Run before and after a change to `ragft.prompts` (each run is stored under its `--label`,
results merge into benchmarks/results/prompt_parity.json):
  python benchmarks/bench_prompt_parity.py --label before --answerable 30 --unanswerable 10
  python benchmarks/bench_prompt_parity.py --label after --answerable 30 --unanswerable 10

The workspace (and so its retrieval index) is kept in --workspace, so a second run embeds
nothing again. Scores: containment of a gold answer (answerable), refusal rate (unanswerable),
RAG answers citing a gold document; both arms answer the same seeded sample with one generator.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_rag import SHARED, answer_rows, load_jsonl, workspace_with
from ragft import arms as arm_registry
from ragft.models.factory import build_generator
from ragft.systems.build import index_corpus
from ragft.workspace import Workspace

RESULTS = Path(__file__).parent / "results" / "prompt_parity.json"


def pick(data: Path, answerable: int, unanswerable: int, seed: int) -> list[dict]:
    """The seeded sample of answerable and unanswerable SQuAD 2.0 dev questions."""
    questions = load_jsonl(data / "questions.jsonl")
    rng = random.Random(seed)
    return rng.sample([q for q in questions if q["answerable"]], answerable) + rng.sample(
        [q for q in questions if not q["answerable"]], unanswerable
    )


def summary(rows: list[dict]) -> dict:
    """Accuracy (containment) on answerable items, refusals on both kinds, gold citations."""
    ans = [r for r in rows if r["answerable"]]
    una = [r for r in rows if not r["answerable"]]

    def mean(xs: list[float]) -> float | None:
        return round(sum(xs) / len(xs), 3) if xs else None

    return {
        "answerable": len(ans),
        "contains": mean([r["contains"] for r in ans]),
        "cited_gold": mean([float(r["cited_gold"]) for r in ans]),
        "refused_answerable": mean([float(r["refused"]) for r in ans]),
        "unanswerable": len(una),
        "refused_unanswerable": mean([float(r["refused"]) for r in una]),
        "mean_total_s": mean([r["total_s"] for r in rows]),
    }


def open_workspace(path: Path, data: Path) -> Workspace:
    """The kept workspace with the SQuAD corpus ingested (made on first use)."""
    if (path / "ws").exists():
        return Workspace.open(path / "ws")
    path.mkdir(parents=True, exist_ok=True)
    return workspace_with(data / "corpus.jsonl", path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--label", required=True)
    parser.add_argument("--answerable", type=int, default=30)
    parser.add_argument("--unanswerable", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", type=Path, default=SHARED / "squad2_dev", help="folder with corpus.jsonl and questions.jsonl")
    parser.add_argument("--workspace", type=Path, default=Path("/tmp/ragft-prompt-parity"))
    args = parser.parse_args()
    started = time.perf_counter()
    ws = open_workspace(args.workspace, args.data)
    items = pick(args.data, args.answerable, args.unanswerable, args.seed)
    indexed = index_corpus(ws)
    generator = build_generator(ws.config.models)
    result, rows = {}, {}
    for arm in ("base", "rag"):
        system = arm_registry.build(ws, arm, generator=generator, indexed=indexed)
        rows[arm] = answer_rows(system, items, label=f"{args.label} / {arm}")
        result[arm] = summary(rows[arm])
        print(f"{args.label} / {arm}: {json.dumps(result[arm])}", flush=True)
    RESULTS.with_name(f"prompt_parity_rows_{args.label}.jsonl").write_text(
        "".join(json.dumps({"arm": arm, **r}) + "\n" for arm, rs in rows.items() for r in rs)
    )
    stored = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    stored[args.label] = {
        "command": "python benchmarks/bench_prompt_parity.py " + " ".join(f"--{k} {v}" for k, v in vars(args).items()),
        "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}",
        "measured_at": time.strftime("%Y-%m-%d %H:%M"),
        "wall_s": round(time.perf_counter() - started, 1),
        "results": result,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(stored, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
