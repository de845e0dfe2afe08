"""The model layer's contracts: `Generator` (chat in, streamed tokens out, timings) and `Embedder`.

Every system answers through a `Generator` with the same `DecodingSettings`, so the only
difference between arms is what they add (retrieved context, an adapter). A generator may also
offer the optional `Scorer` capability (how probable it finds a given text, token by token);
`scorer_of` says whether it does, so callers never test for backend classes.
"""

from __future__ import annotations

import math
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
    # The caller reads `Generation.first_token_top` (RAG's refusal probability). Local engines report
    # the candidates anyway; a server is asked for them (one extra one-token request) only when this is set.
    first_token_candidates: bool = False


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


SCORE_MAX_TOKENS = 512  # tokens of a text a scorer reads at most: scoring stays seconds on a CPU
SCORE_WINDOW_TOKENS = 256  # local engines score in windows this long (bounds the logits held at once)


@dataclass(frozen=True)
class TokenScores:
    """How probable a model finds a text: the natural log-probability of each token given those before it.

    The text's first token has no context, so it is not scored: `tokens` is one less than the
    tokens read (at most `SCORE_MAX_TOKENS` by default).
    """

    logprobs: tuple[float, ...]
    model: str = ""

    @property
    def tokens(self) -> int:
        return len(self.logprobs)

    @property
    def total(self) -> float:
        """Sum of the log-probabilities (the text's log-likelihood; zero or below)."""
        return float(math.fsum(self.logprobs))

    @property
    def perplexity(self) -> float:
        """exp(mean negative log-likelihood per token); NaN when nothing was scored."""
        return math.exp(-self.total / self.tokens) if self.tokens else float("nan")


class ScoringUnavailable(ModelError):
    """The generator cannot score tokens after all (e.g. a server without prompt log-probabilities); says why."""


@runtime_checkable
class Scorer(Protocol):
    """Optional capability of a generator: the log-probability of each token of a given text.

    Domain distance (perplexity of the corpus vs a generic text) needs it. The local backends
    always have it; an OpenAI-compatible backend has it only if its server returns prompt
    log-probabilities, and raises `ScoringUnavailable` with the reason when it does not.
    """

    name: str

    def score(self, text: str, *, max_tokens: int = SCORE_MAX_TOKENS) -> TokenScores:
        """Score the first `max_tokens` tokens of `text` (loading the model if needed)."""
        ...


def scorer_of(generator: object) -> Scorer | None:
    """`generator` as a `Scorer` if its backend can score tokens, else None."""
    return generator if isinstance(generator, Scorer) else None


def windowed_logprobs(
    ids: Sequence[int], window_logprobs: Callable[[Sequence[int]], Sequence[float]], window: int = SCORE_WINDOW_TOKENS
) -> tuple[float, ...]:
    """Log-probabilities of `ids[1:]`, read in windows of `window` tokens (every engine the same way).

    `window_logprobs(w)` returns log p(w[i + 1] | w[: i + 1]) for each i < len(w) - 1. Each window
    starts on the last token of the one before, as context only, so every token but the first
    is scored exactly once and the windows of two engines line up token for token.
    """
    if window < 2:
        raise ValueError(f"window must be at least 2 tokens, not {window}")
    scores: list[float] = []
    for start in range(0, max(len(ids) - 1, 0), window - 1):
        scores.extend(float(x) for x in window_logprobs(ids[start : start + window]))
    return tuple(scores)


def picked_logprobs(logits: np.ndarray, next_ids: Sequence[int]) -> np.ndarray:
    """log softmax(logits[i])[next_ids[i]] for each row i of raw scores (float64, numerically stable)."""
    rows = np.asarray(logits, dtype=np.float64)
    rows = rows - rows.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(rows).sum(axis=1))
    return rows[np.arange(len(next_ids)), np.asarray(next_ids)] - log_norm
