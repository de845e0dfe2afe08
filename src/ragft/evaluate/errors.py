"""Error analysis a reviewer can audit: per arm, every wrong answer with its probe, gold, failure class and who got it right.

Written as `<run_dir>/errors/<arm>.jsonl` beside the answers (`<arm>.jsonl`), one JSON object a line:
qid, kind, question, answer (or the error), gold answers and documents, the failure class
(retrieval_miss | generation_miss | should_have_refused | wrong_refusal | error; see
`ragft.evaluate.scoring`) and `right_in`: the arms that answered the same probe right. Rewritten
atomically from the answers on every report, so it never disagrees with them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

from ragft.evaluate.runner import AnswerRecord, answers_path
from ragft.evaluate.scoring import Score
from ragft.files import write_atomic
from ragft.types import QAItem


def error_rows(arm: str, records: Sequence[AnswerRecord], scores: Mapping[str, Sequence[Score]], probes: Sequence[QAItem]) -> list[dict]:
    """One row per wrong answer of `arm`, in probe order."""
    items = {item.qid: item for item in probes}
    answers = {r.qid: r for r in records}
    right = {other: {s.qid for s in ss if s.correct} for other, ss in scores.items()}
    rows = []
    for s in scores.get(arm, []):
        if s.correct or s.qid not in items:
            continue
        item, record = items[s.qid], answers.get(s.qid)
        rows.append(
            {
                "qid": s.qid,
                "kind": s.kind,
                "question": item.question,
                "answer": record.text if record is not None and record.error is None else None,
                "error": s.error,
                "refused": s.refused,
                "gold": list(item.answers) or "(refuse)",
                "gold_doc_ids": list(item.gold_doc_ids),
                "failure": s.failure,
                "right_in": [other for other in scores if other != arm and s.qid in right[other]],
            }
        )
    return rows


def write_error_files(
    run_dir: Path, records: Mapping[str, Sequence[AnswerRecord]], scores: Mapping[str, Sequence[Score]], probes: Sequence[QAItem]
) -> dict[str, Path]:
    """Write `errors/<arm>.jsonl` for every arm into `run_dir`; returns arm -> path."""
    out = {}
    for arm in scores:
        rows = error_rows(arm, records.get(arm, []), scores, probes)
        path = error_file(run_dir, arm)
        write_atomic(path, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode("utf-8"))
        out[arm] = path
    return out


def error_file(run_dir: Path, arm: str) -> Path:
    """Where `arm`'s wrong answers are written: `<run_dir>/errors/<arm>.jsonl` (the one answers_path)."""
    return answers_path(run_dir, arm, "errors")
