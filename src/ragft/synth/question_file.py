"""Question files: the shared benchmark shape (`../shared/benchmarks/*/questions.jsonl`) plus `kind`.

Users bring their own questions in this shape (`ragft compare --questions FILE`), the demo writes
its generated probes in it, and training reads one as its focus. Every error names file:line and
the field at fault.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path

from ragft.errors import RagftError
from ragft.types import QAItem

PROBE_KINDS = ("fact", "paraphrase", "typo", "unanticipated", "multi_doc", "out_of_scope", "changed_fact", "restricted")


class QuestionFileError(RagftError, ValueError):
    """A question file line is malformed; the message names file:line and the field."""


def load_questions(path: Path) -> list[QAItem]:
    """Read a JSONL question file (shared benchmark shape plus optional `kind`); errors name file:line."""
    if not path.is_file():
        raise QuestionFileError(f"{path}: no such question file")
    items, seen = [], set()
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as exc:
            raise QuestionFileError(f"{where}: not valid JSON ({exc.msg} at column {exc.colno})") from None
        if not isinstance(raw, dict):
            raise QuestionFileError(f"{where}: each line must be a JSON object, got {type(raw).__name__}")
        item = _item_from(raw, where)
        if item.qid in seen:
            raise QuestionFileError(f"{where}: qid {item.qid!r} appears twice; qids must be unique")
        seen.add(item.qid)
        items.append(item)
    if not items:
        raise QuestionFileError(f"{path}: the file holds no questions")
    return items


def _item_from(raw: dict, where: str) -> QAItem:
    for key in ("qid", "question"):
        if not isinstance(raw.get(key), str) or not raw[key].strip():
            raise QuestionFileError(f"{where}: '{key}' must be a non-empty string")
    answers, gold = raw.get("answers", []), raw.get("gold_doc_ids", [])
    if not isinstance(answers, list) or not all(isinstance(a, str) for a in answers):
        raise QuestionFileError(f"{where}: 'answers' must be a list of strings")
    if not isinstance(gold, list) or not all(isinstance(g, str) for g in gold):
        raise QuestionFileError(f"{where}: 'gold_doc_ids' must be a list of strings")
    answerable = raw.get("answerable", bool(answers))
    if not isinstance(answerable, bool):
        raise QuestionFileError(f"{where}: 'answerable' must be true or false")
    if answerable and not answers:
        raise QuestionFileError(f"{where}: an answerable question needs at least one answer in 'answers'")
    kind = raw.get("kind", "fact" if answerable else "out_of_scope")
    if kind not in PROBE_KINDS:
        raise QuestionFileError(f"{where}: unknown kind {kind!r}; choose one of: {', '.join(PROBE_KINDS)}")
    meta = raw.get("meta", {})
    if not isinstance(meta, dict):
        raise QuestionFileError(f"{where}: 'meta' must be an object")
    if kind == "changed_fact" and not isinstance(meta.get("answers_v2"), list):
        raise QuestionFileError(f"{where}: a changed_fact question needs meta.answers_v2 (the answers after the update)")
    return QAItem(raw["qid"], raw["question"].strip(), tuple(answers), answerable, tuple(gold), kind, meta)


def write_questions(items: Iterable[QAItem], path: Path) -> Path:
    """Write probes as JSONL in the same shape `load_questions` reads."""
    lines = [json.dumps({**asdict(item), "meta": dict(item.meta)}, ensure_ascii=False) for item in items]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
