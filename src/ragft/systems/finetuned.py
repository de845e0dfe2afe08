"""The `finetuned` arm: closed-book answers from the adapted model, with an approximate attribution.

Knowledge in weights cannot be cited, but it can be made less opaque: each answer carries the
training pairs nearest to the question (BM25 over the training questions and answers), with the
document span each came from. They say what the model was taught that looks relevant, not
what it actually used, and the trace says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from ragft.models.base import DecodingSettings, Generator, TokenCallback
from ragft.retrieval.lexical import Bm25Index
from ragft.synth.types import TrainPair
from ragft.systems.closed_book import ClosedBookSystem
from ragft.types import Answer, User

NEAREST_PAIRS = 3


class TrainingPairIndex:
    """BM25 over the training pairs, to show which ones are nearest to a question."""

    def __init__(self, pairs: Sequence[TrainPair]) -> None:
        self.pairs = [p for p in pairs if p.kind not in ("refusal", "replay")]  # only document facts attribute an answer
        self._index = Bm25Index.build([f"{p.question} {p.answer}" for p in self.pairs]) if self.pairs else None

    def nearest(self, question: str, k: int = NEAREST_PAIRS) -> list[dict[str, Any]]:
        """Up to `k` pairs with a positive score, best first."""
        if self._index is None:
            return []
        scores = self._index.scores(question)
        order = np.argsort(-scores, kind="stable")[:k]
        return [
            {
                "question": p.question,
                "answer": p.answer,
                "doc_id": p.doc_id,
                "start": p.start,
                "end": p.end,
                "fact_id": p.fact_id,
                "score": round(float(scores[i]), 3),
            }
            for i in order
            if scores[i] > 0 and (p := self.pairs[i])
        ]


class FineTunedSystem:
    """Closed-book answers from the fine-tuned model, plus the nearest training pairs in the trace."""

    def __init__(
        self,
        generator: Generator,
        decoding: DecodingSettings,
        pairs: TrainingPairIndex,
        *,
        name: str = "finetuned",
        adapter_info: dict[str, Any] | None = None,
        stale_message: str = "",
    ) -> None:
        self.name = name
        self.generator = generator
        self.decoding = decoding
        self.pairs = pairs
        self.adapter_info = adapter_info or {}
        self.stale_message = stale_message  # set when the adapter learned an older corpus version than the latest
        self._closed_book = ClosedBookSystem(generator, decoding, name=name)

    def answer(self, question: str, *, user: User | None = None, on_token: TokenCallback | None = None) -> Answer:
        """Answer from the adapted weights; every user gets the same answer (weights cannot be filtered)."""
        answer = self._closed_book.answer(question, user=user, on_token=on_token)
        trace = {
            **answer.trace,
            "adapter": self.adapter_info,
            "nearest_training_pairs": self.pairs.nearest(question),
            "attribution": "approximate: training pairs most similar to the question (BM25), not what the model used",
        }
        return replace(answer, trace=trace)
