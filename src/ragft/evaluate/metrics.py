"""Answer correctness as the QA literature scores it: normalised exact match, token F1, containment.

Answers are compared after `ragft.text.normalize_answer` (SQuAD's normalisation).
Each metric takes the best score over all accepted gold answers.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from ragft.text import normalize_answer


def exact_match(prediction: str, golds: Sequence[str]) -> float:
    """1.0 if the normalised prediction equals a normalised gold answer."""
    pred = normalize_answer(prediction)
    return float(any(pred == normalize_answer(g) for g in golds))


def token_f1(prediction: str, golds: Sequence[str]) -> float:
    """Best token-overlap F1 between the prediction and any gold answer."""
    pred_tokens = normalize_answer(prediction).split()
    best = 0.0
    for gold in golds:
        gold_tokens = normalize_answer(gold).split()
        common = sum((Counter(pred_tokens) & Counter(gold_tokens)).values())
        if common == 0:
            continue
        precision, recall = common / len(pred_tokens), common / len(gold_tokens)
        best = max(best, 2 * precision * recall / (precision + recall))
    return best


def contains_answer(prediction: str, golds: Sequence[str]) -> float:
    """1.0 if a normalised gold answer appears as a whole-word span of the normalised prediction."""
    pred = f" {normalize_answer(prediction)} "
    return float(any(normalize_answer(g) and f" {normalize_answer(g)} " in pred for g in golds))


def contains_all(prediction: str, parts: Sequence[str]) -> float:
    """1.0 if every part (e.g. both facts of a two-document question) is contained in the prediction."""
    return float(bool(parts) and all(contains_answer(prediction, [part]) for part in parts))


def citation_precision(cited_doc_ids: Sequence[str], gold_doc_ids: Sequence[str]) -> float:
    """Share of distinct cited documents that are gold documents (0.0 when nothing is cited)."""
    cited = set(cited_doc_ids)
    return len(cited & set(gold_doc_ids)) / len(cited) if cited else 0.0


def citation_recall(cited_doc_ids: Sequence[str], gold_doc_ids: Sequence[str], *, need_all: bool = False) -> float:
    """Share of gold documents cited; with `need_all=False` (gold ids are alternatives) any one counts fully."""
    gold, cited = set(gold_doc_ids), set(cited_doc_ids)
    if not gold:
        return 0.0
    if need_all:
        return len(gold & cited) / len(gold)
    return float(bool(gold & cited))
