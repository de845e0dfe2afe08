"""What the row check `grounding.misplaced_figures` would cost and catch on real RAG answers, per probe kind.

`misplaced_figures` rejects a figure found only in table rows or sentences that share no key term
with the question. It catches answers taken from the wrong row of a table, but a paraphrased or
misspelt question may name its subject in words the right row does not hold, and then a correct
answer would be withheld. This replays the check offline on the answers of a finished
`ragft compare` run (the exact prompt of each answer is in its trace), so it measures both sides
without generating anything:

  ragft compare --arms rag --no-domain --out RUN      # in a workspace, e.g. the sample corpus
  python benchmarks/bench_grounding_rows.py --answers RUN/answers --label sample

Results merge into benchmarks/results/grounding_rows.json under --label.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from bench_engines import machine_info
from ragft.evaluate.runner import AnswerRecord, read_records
from ragft.evaluate.scoring import score_record
from ragft.systems.grounding import misplaced_figures
from ragft.types import QAItem

RESULTS = Path(__file__).parent / "results" / "grounding_rows.json"
_PASSAGE_START = re.compile(r"\n\n(?=\[\d{1,2}\] )")


def prompt_passages(record: AnswerRecord) -> list[str]:
    """The passages the arm was given, cut out of the last user message of its recorded prompt."""
    messages = record.trace.get("messages") or []
    content = str(messages[-1]["content"]) if messages else ""
    if not content.startswith("Documents:"):
        return []
    context = content.removeprefix("Documents:").rsplit("\n\nQuestion:", 1)[0]
    return [p.strip() for p in _PASSAGE_START.split(context) if p.strip()]


def probe_items(path: Path) -> dict[str, QAItem]:
    items = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        raw = json.loads(line)
        raw["answers"], raw["gold_doc_ids"] = tuple(raw["answers"]), tuple(raw["gold_doc_ids"])
        items[raw["qid"]] = QAItem(**raw)
    return items


def replay(answers: Path) -> dict[str, dict[str, Any]]:
    """Per probe kind: answers given, right ones, right ones the check would withhold, wrong ones it would catch."""
    items = probe_items(answers / "probes.jsonl")
    by_kind: dict[str, dict[str, Any]] = defaultdict(lambda: {"answered": 0, "correct": 0, "withheld_correct": [], "caught_wrong": []})
    for record in read_records(answers / "rag.jsonl"):
        item = items.get(record.qid)
        if item is None or record.refused or record.error or not item.answerable:
            continue
        passages = prompt_passages(record)
        if not passages:
            continue
        row = by_kind[item.kind]
        correct = score_record(record, item).correct > 0
        flagged = misplaced_figures(record.text, item.question, passages)
        row["answered"] += 1
        row["correct"] += correct
        if flagged:
            example = {"qid": item.qid, "question": item.question, "answer": record.text, "figures": list(flagged)}
            row["withheld_correct" if correct else "caught_wrong"].append(example)
    return dict(by_kind)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--answers", type=Path, required=True, help="a compare run's answers folder (probes.jsonl, rag.jsonl)")
    parser.add_argument("--label", required=True, help="name of this run in the results file")
    args = parser.parse_args()
    by_kind = replay(args.answers)
    print(f"{'kind':<15}{'answered':>9}{'correct':>9}{'withheld right':>16}{'caught wrong':>14}")
    for kind, row in sorted(by_kind.items()):
        print(f"{kind:<15}{row['answered']:>9}{row['correct']:>9}{len(row['withheld_correct']):>16}{len(row['caught_wrong']):>14}")
    results = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    results[args.label] = {
        "command": "python " + " ".join(sys.argv),
        "answers": str(args.answers),
        "machine": machine_info(),
        "by_kind": by_kind,
    }
    RESULTS.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    print(f"written: {RESULTS}")


if __name__ == "__main__":
    main()
