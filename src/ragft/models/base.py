"""The model layer's contracts: `Generator` (chat in, streamed tokens out, timings) and `Embedder`.

Every system answers through a `Generator` with the same `DecodingSettings`, so the only
difference between arms is what they add (retrieved context, an adapter).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from ragft.errors import RagftError
from ragft.text import TokenCounter, approximate_token_count
from ragft.types import ChatMessage


@dataclass(frozen=True)
class DecodingSettings:
    """Decoding shared by every arm; greedy by default so runs are repeatable."""

    max_new_tokens: int = 128
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int = 0
    stop: tuple[str, ...] = ()


@dataclass(frozen=True)
class Generation:
    """A finished generation and what it cost."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    prefill_s: float  # time to process the prompt (equals time to first token for local engines)
    time_to_first_token_s: float
    total_s: float
    model: str = ""
    extra: dict[str, object] = field(default_factory=dict)
    # The most probable first tokens of the reply and their probabilities (softmax of the raw logits,
    # before any sampling setting), most probable first; empty when the backend exposes no logits.
    first_token_top: tuple[tuple[str, float], ...] = ()

    @property
    def decode_tokens_per_s(self) -> float:
        decode_s = self.total_s - self.time_to_first_token_s
        return (self.completion_tokens - 1) / decode_s if decode_s > 0 and self.completion_tokens > 1 else 0.0


TokenCallback = Callable[[str], None]

FIRST_TOKEN_TOP_N = 10  # how many first-token candidates a backend reports in `Generation.first_token_top`


def top_first_tokens(logits: np.ndarray, decode: Callable[[int], str], n: int = FIRST_TOKEN_TOP_N) -> tuple[tuple[str, float], ...]:
    """The `n` most probable tokens under `logits` (one row of raw scores) as (text, probability)."""
    scores = np.asarray(logits, dtype=np.float64).ravel()
    top = np.argpartition(scores, -n)[-n:] if scores.size > n else np.arange(scores.size)
    top = top[np.argsort(scores[top])[::-1]]
    shifted = np.exp(scores - scores.max())
    probs = shifted[top] / shifted.sum()
    return tuple((decode(int(i)), float(p)) for i, p in zip(top, probs, strict=True))


class ModelError(RagftError, RuntimeError):
    """A model could not be loaded or reached; the message says what to do."""


@runtime_checkable
class Generator(Protocol):
    """A chat model. Construction is cheap; `warm_up` loads weights."""

    name: str

    def warm_up(self) -> None: ...

    def generate(
        self,
        messages: Sequence[ChatMessage],
        settings: DecodingSettings,
        on_token: TokenCallback | None = None,
    ) -> Generation:
        """Generate a reply, calling `on_token` with each piece of text as it is decoded."""
        ...

    def count_tokens(self, text: str) -> int: ...


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors (so inner product is cosine)."""

    name: str
    dim: int

    def embed(self, texts: Sequence[str], *, is_query: bool = False) -> np.ndarray:
        """Return an array of shape (len(texts), dim), float32, rows of unit norm."""
        ...


def embedder_token_counter(embedder: Embedder) -> TokenCounter:
    """How chunking counts tokens for `embedder`: its `count_tokens` when it has one (every ragft
    embedder does), else `approximate_token_count` (for simple test fakes)."""
    count = getattr(embedder, "count_tokens", None)
    if callable(count):
        return count
    return approximate_token_count
