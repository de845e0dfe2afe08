"""RAFT examples for the hybrid arm, and "I don't know" questions for both arms.

RAFT (Zhang et al. 2024) trains on the prompt the RAG system will send: the question with the
oracle passage among distractors (hard ones, found by BM25 over the other chunks), and an answer
that quotes the supporting sentence and cites its passage number. A share of the examples has
distractors only, and their answer is the refusal, so the model learns to say so when retrieval
missed. The prompt is built by `ragft.prompts.build_messages`, the one the RAG arm uses.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ragft.prompts import REFUSAL, build_messages
from ragft.retrieval.lexical import Bm25Index
from ragft.synth.types import Fact
from ragft.types import ChatMessage, Chunk, Hit

# Questions no company knowledge base answers, plus company-sounding ones about things that do
# not exist; any whose distinctive words occur in the corpus are dropped before use.
UNANSWERABLE_QUESTIONS = (
    "What is the name of the office cat?",
    "What was the company's revenue in 1987?",
    "Who won the company chess tournament last year?",
    "What is the price of the Glimmerhook G7 sensor?",
    "How many parking spaces does the Oslo office have?",
    "What colour is the logo of the Quenwick partner programme?",
    "When does the Zephyrline satellite uplink launch?",
    "What is the dress code for the annual gala in Reykjavik?",
    "Who is the mascot of the marketing team?",
    "How many hours of yoga classes does the company pay for each month?",
    "What is the maximum payload of the company's delivery drones?",
    "Which football club does the company sponsor?",
    "What is the Wi-Fi password in the Singapore office?",
    "How many languages does the Mirrowell chatbot speak?",
    "What is the warranty on the Brightfen B2 coffee machine?",
    "Who founded the company's chapter in Buenos Aires?",
    "What is the boiling point of the coolant used in the Vexhollow freezer?",
    "How many days of sabbatical do employees get after 20 years?",
    "What is the stock ticker of the company on the Tokyo exchange?",
    "When is the company picnic held in Nairobi?",
)
_CAPITALISED = re.compile(r"\b[A-Z][a-z]+[A-Za-z0-9]*\b")


@dataclass(frozen=True)
class RaftExample:
    """A chat prompt in the RAG format and the answer to learn for it."""

    messages: list[ChatMessage]
    answer: str
    fact_id: str
    oracle_position: int  # 1-based passage number of the oracle; 0 = distractors only


def unanswerable_questions(corpus_text: str, count: int, *, seed: int = 0) -> list[str]:
    """Up to `count` questions the corpus cannot answer (none of their distinctive names occur in it)."""
    lowered = corpus_text.lower()
    usable = [q for q in UNANSWERABLE_QUESTIONS if not any(w.lower() in lowered for w in _CAPITALISED.findall(q)[1:])]
    random.Random(seed).shuffle(usable)
    return usable[:count]


def raft_examples(
    facts: Sequence[Fact],
    chunks: Mapping[str, Chunk],
    *,
    count: int,
    distractors: int,
    oracle_free_share: float,
    seed: int = 0,
) -> list[RaftExample]:
    """Up to `count` RAFT examples, one per fact, spread over the facts in a seeded order."""
    chunk_ids = sorted(chunks)
    if len(chunk_ids) < distractors + 1:
        return []
    index = Bm25Index.build([chunks[c].text for c in chunk_ids])
    rng = random.Random(seed)
    chosen = list(facts)
    rng.shuffle(chosen)
    chosen = chosen[:count]
    oracle_free = set(rng.sample(range(len(chosen)), round(len(chosen) * oracle_free_share)))
    examples = []
    for i, fact in enumerate(chosen):
        question = rng.choice(fact.questions)
        scores = index.scores(question)
        ranked = [chunk_ids[j] for j in np.argsort(-scores, kind="stable") if chunk_ids[j] != fact.chunk_id]
        # Other documents' chunks first (a same-document chunk may also hold the answer), then the rest.
        hard = sorted(ranked, key=lambda c: chunks[c].doc_id == fact.doc_id)[: distractors + 1]
        passages = [chunks[c] for c in hard]
        if i in oracle_free:
            hits = [Hit(c, 0.0) for c in passages[: distractors + 1]]
            examples.append(RaftExample(build_messages(question, hits), REFUSAL, fact.fact_id, 0))
            continue
        position = rng.randrange(distractors + 1)
        passages = passages[:distractors]
        passages.insert(position, chunks[fact.chunk_id])
        hits = [Hit(c, 0.0) for c in passages]
        answer = f"{fact.answer_text().rstrip('.')} [{position + 1}]."  # as the fine-tuned arm answers: the value first
        examples.append(RaftExample(build_messages(question, hits), answer, fact.fact_id, position + 1))
    return examples
