"""Replay against forgetting: general questions, answered by the base model itself, mixed into training.

Fine-tuning a small model on a few hundred document facts, plus "I don't know" examples, teaches
it more than the facts: measured on the sample corpus, the fine-tuned arm answered 2 of 10 general
questions the base model got 7 of 10 right, mostly by refusing them (benchmarks/bench_train.py
eval, regression set). Replaying the base model's own answers to other general questions (a
light self-distillation, no outside data) shows the optimiser what must not change. These
questions are disjoint from the benchmark's regression set, so that set still measures forgetting.
"""

from __future__ import annotations

import random

from ragft.models.base import DecodingSettings, Generator
from ragft.prompts import REFUSAL, build_messages
from ragft.synth.types import TrainPair

REPLAY_QUESTIONS = (
    "What is the capital of Italy?",
    "How many legs does a spider have?",
    "What gas do plants absorb from the air?",
    "What is the freezing point of water in Fahrenheit?",
    "Who painted the Mona Lisa?",
    "What is the square root of 81?",
    "Which continent is Egypt in?",
    "How many sides does a hexagon have?",
    "What is the largest planet in the solar system?",
    "What language is spoken in Brazil?",
    "What does CPU stand for?",
    "How many hours are in a day?",
    "What is the opposite of 'ancient'?",
    "Which metal is liquid at room temperature?",
    "What is 15 plus 27?",
    "What is the main ingredient of guacamole?",
    "How many continents are there?",
    "What is the currency of Japan?",
    "What do bees make?",
    "Which organ pumps blood through the body?",
    "What is the tallest mountain on Earth?",
    "In which year did the Second World War end?",
    "What is H2O commonly called?",
    "How many seconds are in a minute?",
)


def replay_pairs(generator: Generator, count: int, *, seed: int = 0, max_new_tokens: int = 48) -> list[TrainPair]:
    """Up to `count` (question, the base model's own closed-book answer) pairs; refusals and empty replies are skipped."""
    questions = list(REPLAY_QUESTIONS)
    random.Random(seed).shuffle(questions)
    decoding = DecodingSettings(max_new_tokens=max_new_tokens, temperature=0.0, seed=seed)
    pairs = []
    for question in questions[: max(count, 0)]:
        answer = generator.generate(build_messages(question), decoding).text.strip()
        if answer and REFUSAL not in answer:
            pairs.append(TrainPair(question, answer, "replay"))
    return pairs
