"""Pair two bench_compare runs of the fine-tuned arm on the same probe sample, probe by probe (McNemar).

    python benchmarks/pair_compare_runs.py OLD_WORKDIR NEW_WORKDIR

Each WORKDIR is a bench_compare temporary folder (printed at its start) holding report/answers/
and the fine-tuned adapter's training set. Both runs' answers are scored again with today's
scorer, and finetuned/base of the new run are paired with each other and with the old run's, on
all probes, answerable ones, and the probes each run's training data covers (and both cover).
"""

import json
import sys
from pathlib import Path

from ragft.evaluate.paired import compare_pair
from ragft.evaluate.runner import read_records
from ragft.evaluate.scoring import score_record
from ragft.evaluate.taught import probe_coverage
from ragft.synth.types import TrainingSet
from ragft.types import QAItem

OLD, NEW = Path(sys.argv[1]), Path(sys.argv[2])


def probes(run: Path) -> dict[str, QAItem]:
    items = {}
    for line in (run / "report/answers/probes.jsonl").read_text().splitlines():
        raw = json.loads(line)
        raw = {k: tuple(v) if isinstance(v, list) and k != "meta" else v for k, v in raw.items()}
        items[raw["qid"]] = QAItem(**raw)
    return items


def correct(run: Path, arm: str, items: dict[str, QAItem]) -> dict[str, bool]:
    return {r.qid: bool(score_record(r, items[r.qid]).correct) for r in read_records(run / f"report/answers/{arm}.jsonl")}


old_items, new_items = probes(OLD), probes(NEW)
assert set(old_items) == set(new_items), "not the same sample"
old_cov = probe_coverage(list(old_items.values()), TrainingSet.load(OLD / "ws/.ragft/adapters/finetuned/training_set.json").chunks)
new_cov = probe_coverage(list(new_items.values()), TrainingSet.load(NEW / "ws/.ragft/adapters/finetuned/training_set.json").chunks)
runs = {
    "finetuned_run1": correct(OLD, "finetuned", old_items),
    "base_run1": correct(OLD, "base", old_items),
    "finetuned_run2": correct(NEW, "finetuned", new_items),
    "base_run2": correct(NEW, "base", new_items),
}
out = {"same_sample": True, "probes": len(new_items)}
for name, subset in (
    ("all", set(new_items)),
    ("answerable", {q for q, v in new_cov.items() if v is not None}),
    ("covered_run2", {q for q, v in new_cov.items() if v}),
    ("covered_run1", {q for q, v in old_cov.items() if v}),
    ("covered_both", {q for q in new_cov if new_cov[q] and old_cov[q]}),
):
    rows = {}
    for a, b in (("finetuned_run2", "base_run2"), ("finetuned_run2", "finetuned_run1"), ("base_run2", "base_run1")):
        pc = compare_pair(a, {q: runs[a][q] for q in subset}, b, {q: runs[b][q] for q in subset})
        rows[f"{a} vs {b}"] = {"n": pc.n, "a": round(pc.accuracy_a, 4), "b": round(pc.accuracy_b, 4), "text": pc.text()}
    out[name] = rows
print(json.dumps(out, indent=1))
