"""How close generated probes come to a hand-written gold set of the same corpus.

- *fact coverage* per kind: share of gold items for which some generated item of the same kind
  shares a gold document and has a matching answer (normalised, either contains the other);
- *document coverage* per kind: share of gold items whose gold document has a generated probe of that kind;
- *answerability precision*: share of generated items whose answerable label is confirmed by the
  documents with the gold set's own rule (an answer appears verbatim in a gold document; an
  out-of-scope item's absent terms occur in no document). The gold set's own score on the rule
  is reported beside it as the reference.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ragft.text import normalize_answer
from ragft.types import Document, QAItem


@dataclass(frozen=True)
class GoldCheck:
    by_kind: dict[str, dict[str, float]]
    answerability_precision: float
    gold_answerability_precision: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "by_kind": self.by_kind,
            "answerability_precision": self.answerability_precision,
            "gold_answerability_precision": self.gold_answerability_precision,
        }


def _match(a: str, b: str) -> bool:
    a, b = normalize_answer(a), normalize_answer(b)
    return bool(a and b) and (a in b or b in a)


def answerability_confirmed(item: QAItem, texts: dict[str, str]) -> bool:
    """The gold set's rule: answer verbatim in a gold document; absent terms absent from every document."""
    if item.answerable:
        return (
            any(normalize_answer(item.answers[0]) in normalize_answer(texts.get(d, "")) for d in item.gold_doc_ids)
            if item.answers
            else False
        )
    terms = item.meta.get("absent_terms", [])
    everything = " ".join(texts.values()).lower()
    return all(not re.search(rf"\b{re.escape(t.lower())}\b", everything) for t in terms)


def check_against_gold(generated: Sequence[QAItem], gold: Sequence[QAItem], documents: Sequence[Document]) -> GoldCheck:
    """Per-kind coverage of the gold set by the generated probes, and answerability precision of both."""
    texts = {d.doc_id: d.text for d in documents}
    by_kind: dict[str, dict[str, float]] = {}
    for kind in sorted({g.kind for g in gold}):
        golds = [g for g in gold if g.kind == kind]
        ours = [p for p in generated if p.kind == kind]
        docs = {d for p in ours for d in p.gold_doc_ids}
        facts = sum(
            any(set(g.gold_doc_ids) & set(p.gold_doc_ids) and any(_match(a, b) for a in g.answers for b in p.answers) for p in ours)
            for g in golds
        )
        doc_hits = sum(bool(set(g.gold_doc_ids) & docs) for g in golds)
        by_kind[kind] = {
            "gold": len(golds),
            "generated": len(ours),
            "fact_coverage": facts / len(golds) if golds else 0.0,
            "doc_coverage": doc_hits / len(golds) if golds else 0.0,
        }
    checkable = [p for p in generated if p.kind not in ("multi_doc", "changed_fact")]
    gold_checkable = [g for g in gold if g.kind not in ("multi_doc", "changed_fact") and "added_in" not in g.meta]
    precision = sum(answerability_confirmed(p, texts) for p in checkable) / len(checkable) if checkable else 0.0
    gold_precision = sum(answerability_confirmed(g, texts) for g in gold_checkable) / len(gold_checkable) if gold_checkable else 0.0
    return GoldCheck(by_kind, precision, gold_precision)
