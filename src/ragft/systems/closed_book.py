"""Systems that answer from the model's weights alone: `base` (the floor every arm is compared to)."""

from __future__ import annotations

import time

from ragft.errors import RagftError
from ragft.models.base import DecodingSettings, Generator, TokenCallback
from ragft.prompts import build_messages, is_refusal
from ragft.types import Answer, User

MAX_QUESTION_CHARS = 2000


class QuestionError(RagftError, ValueError):
    """The question cannot be asked as given (empty, too long)."""


def validate_question(question: str) -> str:
    """The question stripped, or a QuestionError saying what is wrong with it."""
    question = question.strip()
    if not question:
        raise QuestionError('the question is empty; ask something, e.g. ragft ask "What is the travel policy?"')
    if len(question) > MAX_QUESTION_CHARS:
        raise QuestionError(
            f"the question is {len(question):,} characters; the limit is {MAX_QUESTION_CHARS:,}: shorten it to the question itself"
        )
    return question


class ClosedBookSystem:
    """The generator with no retrieval: `base` with the plain model, `finetuned` with an adapter."""

    def __init__(self, generator: Generator, decoding: DecodingSettings, *, name: str = "base") -> None:
        self.name = name
        self.generator = generator
        self.decoding = decoding
        self.stale_message = ""  # the plain model learned no corpus version, so it is never stale

    def answer(self, question: str, *, user: User | None = None, on_token: TokenCallback | None = None) -> Answer:
        """Answer from the weights; `user` does not matter here (weights cannot be filtered per user)."""
        question = validate_question(question)
        started = time.perf_counter()
        messages = build_messages(question)
        generation = self.generator.generate(messages, self.decoding, on_token)
        total_s = time.perf_counter() - started
        return Answer(
            text=generation.text.strip(),
            refused=is_refusal(generation.text),
            trace={
                "system": self.name,
                "model": generation.model or self.generator.name,
                "messages": messages,
                "prompt_tokens": generation.prompt_tokens,
                "completion_tokens": generation.completion_tokens,
            },
            timings={
                "prefill_s": generation.prefill_s,
                "time_to_first_token_s": generation.time_to_first_token_s,
                "generate_s": generation.total_s,
                "total_s": total_s,
            },
        )
