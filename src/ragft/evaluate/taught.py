"""Judged on what it was taught: coverage of each probe by a trained arm's data, and leakage.

A fine-tuned arm only knows the chunks it was trained on; asked about the rest of the corpus it
can only guess. So every probe is tagged with whether its gold fact lies in a chunk the arm's
training set holds, and the arm's accuracy is given on covered probes beside all probes, with
the coverage share and what training on the rest would cost. The same tagging serves
`rag-parity`, which searches exactly those chunks.

Leakage runs the other way: no probe question (or near-copy) may be in the training data, or
"transfer" is memorisation. It is measured by word 5-gram overlap of each probe against every
training question and reported, not assumed.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ragft.evaluate.metrics import contains_answer
from ragft.evaluate.runner import answer_one
from ragft.evaluate.scoring import Score, score_record
from ragft.types import Chunk, QAItem, System

NGRAM = 5  # word n-grams compared for leakage (a shorter question is compared as one n-gram of all its words)
NEAR_COPY = 0.5  # a probe sharing at least this share of its n-grams with one training question counts as leaked
_WORD = re.compile(r"\w+")


def probe_coverage(probes: Sequence[QAItem], chunks: Mapping[str, Chunk]) -> dict[str, bool | None]:
    """qid -> whether the probe's gold fact lies in a trained chunk; None for probes with no gold fact.

    Covered: every gold document has a chunk in `chunks`, and one of those chunks contains a gold
    answer (the answer text, or each of a multi-document probe's `answer_parts`, in some chunk),
    so the fact itself was in the text the arm trained on, not only its document.
    Unanswerable probes (nothing to have learned) are None.
    """
    by_doc: dict[str, list[str]] = {}
    for chunk in chunks.values():
        by_doc.setdefault(chunk.doc_id, []).append(chunk.text)
    out: dict[str, bool | None] = {}
    for item in probes:
        if not item.answerable or not item.answers:
            out[item.qid] = None
            continue
        texts = [text for doc in item.gold_doc_ids for text in by_doc.get(doc, [])]
        every_doc = all(doc in by_doc for doc in item.gold_doc_ids)
        parts = item.meta.get("answer_parts") or []
        needed = [[p] for p in parts] if parts else [list(item.answers)]
        out[item.qid] = every_doc and all(any(contains_answer(t, golds) for t in texts) for golds in needed)
    return out


def fact_taught(probes: Sequence[QAItem], coverage: Mapping[str, bool | None], values: Mapping[str, Sequence[str]]) -> dict[str, bool]:
    """qid -> whether a covered probe's gold answer is a value its training set taught (`TrainingSet.taught_values`).

    Covered only says the arm read the probe's chunk; a chunk holds several facts and the synthesized
    questions teach some of them. Splitting covered probes by whether the asked fact itself was taught
    separates "the weights did not learn what they were taught" from "they were never taught it".
    Only covered probes are keys (a multi-document probe needs every part taught).
    """
    out: dict[str, bool] = {}
    for item in probes:
        if not coverage.get(item.qid):
            continue
        taught = [v for doc in item.gold_doc_ids for v in values.get(doc, ())]
        parts = item.meta.get("answer_parts") or []
        needed = [[p] for p in parts] if parts else [list(item.answers)]
        out[item.qid] = all(any(contains_answer(v, golds) for v in taught) for golds in needed)
    return out


def fact_split(scores: Sequence[Score], taught: Mapping[str, bool]) -> dict[str, Any]:
    """Accuracy on covered probes whose fact was taught and on those whose chunk only was read."""
    correct = {s.qid: s.correct for s in scores}
    asked = [q for q, yes in taught.items() if yes and q in correct]
    read = [q for q, yes in taught.items() if not yes and q in correct]
    return {
        "fact_taught": len(asked),
        "accuracy_fact_taught": _mean(correct[q] for q in asked),
        "chunk_only": len(read),
        "accuracy_chunk_only": _mean(correct[q] for q in read),
    }


def _mean(values: Iterable[float]) -> float | None:
    values = list(values)
    return round(sum(values) / len(values), 4) if values else None


def covered_accuracy(scores: Sequence[Score], coverage: Mapping[str, bool | None]) -> dict[str, Any]:
    """An arm's accuracy on all probes, on answerable ones, on covered and on uncovered ones, and the coverage share."""
    answerable = [s for s in scores if coverage.get(s.qid) is not None]
    covered = [s for s in answerable if coverage[s.qid]]
    uncovered = [s for s in answerable if not coverage[s.qid]]
    return {
        "probes": len(scores),
        "answerable": len(answerable),
        "covered": len(covered),
        "coverage_share": round(len(covered) / len(answerable), 4) if answerable else None,
        "accuracy_all": _mean(s.correct for s in scores),
        "accuracy_answerable": _mean(s.correct for s in answerable),
        "accuracy_covered": _mean(s.correct for s in covered),
        "accuracy_uncovered": _mean(s.correct for s in uncovered),
    }


def cost_to_cover(training_s: float | None, chunks_used: int, chunks_total: int) -> dict[str, Any]:
    """What training on the chunks not covered yet would cost on this machine, at the measured time per chunk."""
    left = max(0, chunks_total - chunks_used)
    per_chunk = training_s / chunks_used if training_s and chunks_used else None
    return {
        "chunks_used": chunks_used,
        "chunks_total": chunks_total,
        "chunks_left": left,
        "training_s_per_chunk": round(per_chunk, 3) if per_chunk is not None else None,
        "projected_s_for_the_rest": round(per_chunk * left, 1) if per_chunk is not None else None,
    }


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _ngrams(words: Sequence[str], n: int = NGRAM) -> set[tuple[str, ...]]:
    if not words:
        return set()
    if len(words) < n:
        return {tuple(words)}
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def probe_leakage(probes: Sequence[QAItem], training_questions: Iterable[str], *, n: int = NGRAM, top: int = 5) -> dict[str, Any]:
    """How close any probe comes to a training question, by word `n`-gram overlap.

    Per probe: containment (the share of the probe's n-grams found in one training question, the
    highest over all of them) and Jaccard of the two n-gram sets. A probe whose containment is at
    least NEAR_COPY, or whose words equal a training question's, counts as leaked. Returns the
    maximum and mean containment, the leaked count and the `top` closest pairs.
    """
    grams = [(_ngrams(_words(q), n), q) for q in dict.fromkeys(training_questions)]
    index: dict[tuple[str, ...], list[int]] = {}
    for i, (g, _) in enumerate(grams):
        for gram in g:
            index.setdefault(gram, []).append(i)
    rows = []
    for item in probes:
        mine = _ngrams(_words(item.question), n)
        shared: dict[int, int] = {}
        for gram in mine:
            for i in index.get(gram, ()):
                shared[i] = shared.get(i, 0) + 1
        best = max(shared.items(), key=lambda kv: (kv[1], -len(grams[kv[0]][0])), default=None)
        if best is None or not mine:
            rows.append((0.0, 0.0, item, ""))
            continue
        i, count = best
        rows.append((count / len(mine), count / len(mine | grams[i][0]), item, grams[i][1]))
    leaked = [r for r in rows if r[0] >= NEAR_COPY]
    rows.sort(key=lambda r: -r[0])
    return {
        "ngram": n,
        "probes": len(rows),
        "training_questions": len(grams),
        "near_copy_threshold": NEAR_COPY,
        "max_containment": round(rows[0][0], 4) if rows else 0.0,
        "mean_containment": _mean(r[0] for r in rows) or 0.0,
        "leaked": len(leaked),
        "closest": [
            {"qid": r[2].qid, "probe": r[2].question, "training_question": r[3], "containment": round(r[0], 4), "jaccard": round(r[1], 4)}
            for r in rows[:top]
            if r[0] > 0
        ],
    }


@dataclass(frozen=True)
class Recall:
    """A training-set question and the key value a right answer contains."""

    question: str
    answer: str


@dataclass(frozen=True)
class Snapshot:
    """The adapter as it was at `fraction` of its planned training tokens, and how to load it as an arm."""

    fraction: float
    tokens: int  # tokens trained when it was taken
    load: Callable[[], System]


@dataclass(frozen=True)
class TaughtSet:
    """What one adapter was trained on, as the evaluation needs it."""

    adapter: str
    chunks: Mapping[str, Chunk]  # the chunks its training set holds, by id
    questions: tuple[str, ...]  # every question it was trained or validated on (for leakage)
    trained: tuple[Recall, ...] = ()  # questions it was trained on (memorisation)
    held_out: tuple[Recall, ...] = ()  # its validation split: paraphrases never trained on (generalisation)
    training_s: float | None = None  # the manifest's training wall time
    chunks_used: int = 0  # chunks its training set drew from
    chunks_total: int = 0  # chunks of the corpus version it learned
    snapshots: tuple[Snapshot, ...] = ()  # earlier states of the adapter (the exposure curve; closed-book arms only)
    tokens: int = 0  # tokens the installed adapter trained on (the curve's last point)
    values: Mapping[str, Sequence[str]] = field(default_factory=dict)  # doc id -> values its facts were taught with


@dataclass(frozen=True)
class TaughtPlan:
    """The adapters' training data, per arm that answers with it (or searches it), and the recall sample size."""

    arms: Mapping[str, TaughtSet]  # arm -> what its adapter (or, for rag-parity, the one it searches) learned
    recall_questions: int = 20  # training and held-out questions each adapter arm is asked (0: skip recall)
    ask_recall: frozenset[str] = frozenset()  # arms asked the recall questions (those answering from an adapter)
    seed: int = 0


def recall(system: System, items: Sequence[Recall], limit: int, seed: int) -> dict[str, Any]:
    """Share of a seeded sample of `items` that `system` answers with the key value (errors count wrong)."""
    sample = random.Random(seed).sample(list(items), min(limit, len(items)))
    right = []
    for item in sample:
        try:
            text = system.answer(item.question).text
        except Exception:
            text = ""
        right.append(contains_answer(text, [item.answer]))
    return {"asked": len(sample), "accuracy": _mean(right)}


def known_split(arm_scores: Sequence[Score], floor_scores: Sequence[Score], coverage: Mapping[str, bool | None]) -> dict[str, Any]:
    """Answerable probes split by whether the plain model answered them right closed-book.

    On facts the model already knew, a trained arm should keep them (`kept`; 1 - kept is
    forgetting); on facts it did not, `gained` is what training (or retrieval) added.
    """
    floor = {s.qid: s.correct for s in floor_scores}
    answerable = [s for s in arm_scores if coverage.get(s.qid) is not None and s.qid in floor]
    known = [s for s in answerable if floor[s.qid] > 0]
    unknown = [s for s in answerable if floor[s.qid] == 0]
    return {
        "known": len(known),
        "unknown": len(unknown),
        "kept": _mean(s.correct for s in known),
        "gained": _mean(s.correct for s in unknown),
    }


def exposure_curve(
    snapshots: Sequence[Snapshot], final: Sequence[Score], probes: Sequence[QAItem], coverage: Mapping[str, bool | None], tokens: int
) -> list[dict[str, Any]]:
    """Accuracy on covered probes against training tokens: each snapshot answers the covered probes
    (scored as the main run scores them), and the installed adapter's point comes from `final`, its
    main-run scores. Does accuracy still rise at the end of the budget (more budget would help), or
    has it flattened? A snapshot that fails to load is reported with its error, not skipped silently.
    """
    covered = [item for item in probes if coverage.get(item.qid)]
    points: list[dict[str, Any]] = []
    for snap in sorted(snapshots, key=lambda s: s.fraction):
        point: dict[str, Any] = {"fraction": snap.fraction, "tokens": snap.tokens, "covered": len(covered)}
        try:
            system = snap.load()
        except Exception as exc:  # a diagnostic: report why, keep the rest of the stage
            points.append({**point, "accuracy_covered": None, "error": f"{type(exc).__name__}: {exc}"})
            continue
        right = [score_record(answer_one(system, item), item).correct for item in covered]
        points.append({**point, "accuracy_covered": _mean(right)})
    scored = {s.qid: s.correct for s in final}
    last = _mean(scored[item.qid] for item in covered if item.qid in scored)
    points.append({"fraction": 1.0, "tokens": tokens, "covered": len(covered), "accuracy_covered": last})
    return points


def taught_stage(
    systems: Mapping[str, System], scores: Mapping[str, Sequence[Score]], probes: Sequence[QAItem], plan: TaughtPlan, floor: str | None
) -> dict[str, Any]:
    """Coverage-tagged accuracy, cost to cover the rest, leakage, recall and the known/unknown split, per taught arm."""
    out: dict[str, Any] = {"arms": {}, "leakage": {}, "probe_coverage": {}, "fact_taught": {}}
    for arm, taught in plan.arms.items():
        if arm not in scores:
            continue
        coverage = out["probe_coverage"].setdefault(taught.adapter, probe_coverage(probes, taught.chunks))
        facts = out["fact_taught"].setdefault(taught.adapter, fact_taught(probes, coverage, taught.values))
        if taught.adapter not in out["leakage"]:
            out["leakage"][taught.adapter] = probe_leakage(probes, taught.questions)
        row: dict[str, Any] = {
            "adapter": taught.adapter,
            **covered_accuracy(scores[arm], coverage),
            **fact_split(scores[arm], facts),
            "cost_to_cover": cost_to_cover(taught.training_s, taught.chunks_used, taught.chunks_total),
        }
        if floor is not None and floor in scores:
            row["known_split"] = known_split(scores[arm], scores[floor], coverage)
        if arm in plan.ask_recall and plan.recall_questions > 0:
            row["memorisation"] = recall(systems[arm], taught.trained, plan.recall_questions, plan.seed)
            row["generalisation"] = recall(systems[arm], taught.held_out, plan.recall_questions, plan.seed)
            row["transfer"] = {"asked": row["covered"], "accuracy": row["accuracy_covered"]}
        if arm in plan.ask_recall and taught.snapshots:
            row["exposure"] = exposure_curve(taught.snapshots, scores[arm], probes, coverage, taught.tokens)
        out["arms"][arm] = row
    return out


__all__ = [
    "Recall",
    "Snapshot",
    "TaughtPlan",
    "TaughtSet",
    "cost_to_cover",
    "covered_accuracy",
    "exposure_curve",
    "fact_split",
    "fact_taught",
    "known_split",
    "probe_coverage",
    "probe_leakage",
    "recall",
    "taught_stage",
]
