"""How much of a benchmark's gold answers the fine-tuned arm's rules training data teaches (model-free).

Run through `bench_knowledge_data.py coverage BENCH [N] [--seed S] [--label L]` (see its docstring).
A question counts as taught when one of its gold answers is, as `ragft.evaluate.metrics` scores an
answer, inside the *value* a training example leads with (a fact's value for its forward questions,
the subject for its reverse ones): a model that learned the example and said that value would be
scored right. "In a trained answer" is looser: the gold answer is somewhere in a trained answer text
(the supporting sentence included), which a model might or might not say for that question.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bench_engines import machine_info
from ragft.config import CorpusConfig, ModelsConfig, TrainingConfig
from ragft.corpus.chunking import chunk_corpus
from ragft.evaluate.metrics import contains_answer
from ragft.models.base import embedder_token_counter
from ragft.models.factory import build_embedder
from ragft.synth.rules import _sentences
from ragft.synth.training_set import build_training_set
from ragft.synth.types import FACT_KINDS, TrainingSet
from ragft.types import Chunk, Document

SHARED = Path(__file__).resolve().parents[2] / "shared" / "benchmarks"
RESULTS = Path(__file__).resolve().parent / "results" / "knowledge_data.json"


@dataclass(frozen=True)
class Question:
    qid: str
    question: str
    answers: tuple[str, ...]
    doc_ids: tuple[str, ...]


def load_bench(bench: str) -> tuple[list[Document], list[Question]]:
    """The documents and answerable questions of a shared benchmark folder."""
    folder = SHARED / bench
    docs = []
    for line in (folder / "corpus.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        docs.append(Document(row["doc_id"], row.get("title", ""), row["text"], row["doc_id"]))
    questions = []
    for line in (folder / "questions.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        if row["answerable"] and row["answers"]:
            questions.append(Question(row["qid"], row["question"], tuple(row["answers"]), tuple(row["gold_doc_ids"])))
    return docs, questions


def questions_on(chunk: Chunk, questions: Sequence[Question]) -> list[Question]:
    """The questions about `chunk`'s document whose gold answer is in its text."""
    low = chunk.text.lower()
    return [q for q in questions if chunk.doc_id in q.doc_ids and any(a.lower() in low for a in q.answers)]


def sample_chunks(docs: Sequence[Document], questions: Sequence[Question], count: int, seed: int) -> list[Chunk]:
    """`count` chunks (default chunking, the embedder's token counter), seeded, among those a question asks about."""
    by_doc: dict[str, list[Question]] = {}
    for q in questions:
        for d in q.doc_ids:
            by_doc.setdefault(d, []).append(q)
    chunks = chunk_corpus(docs, CorpusConfig(), embedder_token_counter(build_embedder(ModelsConfig())))
    asked = [c for c in chunks if questions_on(c, by_doc.get(c.doc_id, ()))]
    return random.Random(seed).sample(asked, min(count, len(asked)))


def learned_values(data: TrainingSet) -> dict[str, list[tuple[str, str]]]:
    """doc id -> (value a fact-teaching example leads with, its whole answer text), one per example."""
    facts = {f.fact_id: f for f in data.facts}
    values: dict[str, list[tuple[str, str]]] = {}
    for pair in data.pairs:
        if pair.kind not in FACT_KINDS:
            continue
        fact = facts[pair.fact_id]
        value = fact.reverse_answer if pair.kind == "reverse" else fact.answer
        values.setdefault(pair.doc_id, []).append((value, pair.answer))
    return values


def training_tokens(data: TrainingSet) -> int:
    """Tokens of every example (pairs and passages), as the budget planner counts them: the default model's tokenizer."""
    from transformers import AutoTokenizer

    from ragft.models.transformers_backend import default_hf_model_dir
    from ragft.prompts import build_messages
    from ragft.train.data import ChatExample, encode_example

    tokenizer = AutoTokenizer.from_pretrained(default_hf_model_dir())
    examples = [ChatExample(build_messages(p.question), p.answer) for p in data.pairs]
    examples += [ChatExample((), p.text, group=p.chunk_id) for p in data.passages]
    return sum(len(encode_example(tokenizer, e, TrainingConfig().max_length_tokens).input_ids) for e in examples)


def measure(bench: str, count: int, seed: int, show: int, settings: TrainingConfig) -> dict[str, Any]:
    """The coverage figures of the rules training set (built with `settings`) on a seeded sample of `bench` chunks."""
    docs, questions = load_bench(bench)
    chunks = sample_chunks(docs, questions, count, seed)
    started = time.process_time()
    data = build_training_set(chunks, 1, settings=settings, corpus_text=" ".join(d.text for d in docs))
    synth_cpu_s = time.process_time() - started
    sentences = {(c.chunk_id, c.start + s) for c in chunks for s, _, _ in _sentences(c.text)}
    with_fact = {(f.chunk_id, f.start) for f in data.facts} & sentences
    values = learned_values(data)
    asked = {q.qid: q for c in chunks for q in questions_on(c, questions)}
    taught, in_answer, missed = 0, 0, []
    for q in asked.values():
        learned = [v for d in q.doc_ids for v in values.get(d, ())]
        hit = any(contains_answer(value, q.answers) for value, _ in learned)
        taught += hit
        in_answer += any(contains_answer(text, q.answers) for _, text in learned)
        if not hit:
            missed.append(q)
    tokens = training_tokens(data)
    kinds = Counter(p.kind for p in data.pairs)
    return {
        "bench": bench,
        "chunks": len(chunks),
        "seed": seed,
        "facts": len(data.facts),
        "facts_per_chunk": round(len(data.facts) / len(chunks), 2),
        "sentences": len(sentences),
        "sentences_with_fact": len(with_fact),
        "sentence_share_with_fact": round(len(with_fact) / max(len(sentences), 1), 3),
        "questions": len(asked),
        "gold_answer_is_a_learned_value": taught,
        "gold_answer_coverage": round(taught / max(len(asked), 1), 3),
        "gold_answer_in_a_trained_answer": in_answer,
        "pairs_by_kind": dict(kinds),
        "training_tokens_per_chunk": round(tokens / len(chunks), 1),
        "facts_per_1k_training_tokens": round(1000 * len(data.facts) / max(tokens, 1), 2),
        "gold_answers_taught_per_1k_training_tokens": round(1000 * taught / max(tokens, 1), 3),
        "synthesis_cpu_ms_per_chunk": round(1000 * synth_cpu_s / len(chunks), 2),
        "missed_examples": [{"question": q.question, "answers": list(q.answers[:3])} for q in missed[:show]],
    }


def record(label: str, key: str, command: str, figures: dict[str, Any]) -> None:
    """Add `figures` under `key` / `label` in knowledge_data.json, keeping every other entry."""
    results = json.loads(RESULTS.read_text(encoding="utf-8")) if RESULTS.exists() else {}
    entry = results.setdefault(key, {})
    entry[label] = {"command": command, **{k: v for k, v in figures.items() if k != "missed_examples"}, "machine": machine_info()}
    RESULTS.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def main(argv: Sequence[str]) -> None:
    """`coverage BENCH [N] [--seed S] [--label L] [--show K]`: print the figures, and record them with --label."""
    parser = argparse.ArgumentParser(prog="bench_knowledge_data.py coverage", description=__doc__)
    parser.add_argument("bench", help=f"a folder of {SHARED}: squad2_dev, covid_qa, ...")
    parser.add_argument("count", nargs="?", type=int, default=60, help="chunks to sample (default 60)")
    parser.add_argument("--seed", type=int, default=0, help="sample seed (default 0)")
    parser.add_argument("--label", default="", help="record the figures under this label (before, after, ...) in knowledge_data.json")
    parser.add_argument("--show", type=int, default=0, help="print this many questions whose answer no example teaches")
    parser.add_argument("--facts-per-chunk", type=int, default=None, help="[training] facts_per_chunk (default: the setting's default)")
    parser.add_argument("--paraphrases", type=int, default=None, help="[training] paraphrases (default: the setting's default)")
    args = parser.parse_args(argv)
    if not (SHARED / args.bench / "corpus.jsonl").exists():
        sys.exit(f"{SHARED / args.bench}: no corpus.jsonl; choose a folder of {SHARED}")
    changed = {k: v for k, v in (("facts_per_chunk", args.facts_per_chunk), ("paraphrases", args.paraphrases)) if v is not None}
    figures = {**measure(args.bench, args.count, args.seed, args.show, replace(TrainingConfig(), **changed)), "settings": changed}
    print(json.dumps(figures, indent=1, ensure_ascii=False))
    if args.label:
        options = "".join(f" --{k.replace('_', '-')} {v}" for k, v in changed.items())
        command = f"python benchmarks/bench_knowledge_data.py coverage {args.bench} {args.count} --seed {args.seed}{options}"
        record(args.label, f"fact_coverage_{args.bench}_{args.count}_seed{args.seed}", command, figures)
