"""Domain distance: how unfamiliar the user's documents are to the base model.

Two measurements. Perplexity of the base model on a sample of the corpus vs on a generic
reference text: a ratio well above 1 means the corpus reads as foreign (jargon, names, numbers
the model has not seen). And the share of corpus facts the base model already answers
closed-book (known vs unknown facts, after Gekhman et al. 2024: fine-tuning on unknown facts is
slow and encourages hallucination, so a low share favours retrieval). The second comes from the
base arm's answers on `fact` probes; the first needs token log-probabilities, which the
`Generator` protocol does not expose, so it loads the GGUF once more with `logits_all`.

Bounded on purpose: at most `max_tokens` tokens of each text, scored in windows of
`window_tokens`, so it costs seconds on a CPU, not minutes.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ragft.evaluate.stats import Interval
from ragft.types import Document

# A plain, general-knowledge text of the kind every pretraining corpus is full of (written for
# ragft; no company, product or jargon), used as the "familiar" side of the ratio.
REFERENCE_TEXT = (
    "The bicycle is one of the most efficient machines ever built. A rider on a bicycle uses less energy "
    "to travel a kilometre than a person walking the same distance. The first bicycles appeared in Europe "
    "in the early nineteenth century and had no pedals; riders pushed them along with their feet. Pedals, "
    "chains and air-filled tyres came later and made cycling popular in cities around the world. "
    "Bread is made from flour, water, salt and yeast. The yeast feeds on sugars in the dough and releases "
    "carbon dioxide, which makes the bread rise. Bakers knead the dough to build gluten, a network of "
    "proteins that traps the gas. After the dough has risen, it is shaped, left to rise again and baked "
    "in a hot oven until the crust turns brown. "
    "The water cycle describes how water moves between the oceans, the air and the land. Heat from the "
    "sun evaporates water from seas and lakes. The vapour rises, cools and condenses into clouds. When "
    "the droplets grow heavy enough, they fall as rain or snow. Rivers carry the water back to the sea, "
    "and the cycle begins again. "
    "Many people keep a small garden. Tomatoes need plenty of sun and regular watering, while lettuce "
    "grows well in cooler weather. Gardeners often add compost to the soil to feed the plants and to help "
    "the ground hold moisture during dry summer weeks."
)

LogProbs = Callable[[str], tuple[float, int]]  # text -> (sum of token negative log-likelihoods, tokens scored)


@dataclass(frozen=True)
class DomainDistance:
    """Base-model perplexity on the corpus vs a generic text, and the share of facts it already knows."""

    corpus_perplexity: float
    reference_perplexity: float
    corpus_tokens: int
    reference_tokens: int
    known_facts: Interval | None  # base arm's accuracy on `fact` probes, closed-book
    model: str
    seconds: float

    @property
    def perplexity_ratio(self) -> float:
        return self.corpus_perplexity / self.reference_perplexity if self.reference_perplexity else float("nan")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["known_facts"] = self.known_facts.to_dict() if self.known_facts else None
        data["perplexity_ratio"] = self.perplexity_ratio
        return data


def corpus_sample(documents: Sequence[Document], *, chars: int = 6000) -> str:
    """An even sample of public document text: the start of each document in turn, up to `chars`."""
    public = [d for d in documents if not d.acl] or list(documents)
    if not public:
        return ""
    per_doc = max(200, chars // len(public))
    return "\n\n".join(d.text[:per_doc] for d in public)[:chars]


def perplexity(nll: LogProbs, text: str) -> tuple[float, int]:
    """exp(mean negative log-likelihood per token) of `text` under `nll`, and the tokens scored."""
    total, tokens = nll(text)
    return (float(np.exp(total / tokens)) if tokens else float("nan")), tokens


class LlamaCppLogProbs:
    """Token negative log-likelihoods from a GGUF on llama.cpp (loaded on first use, `logits_all`)."""

    def __init__(self, model_path: str | Path = "default", *, threads: int = 0, window_tokens: int = 256, max_tokens: int = 512) -> None:
        self.model_path = model_path
        self.threads = threads
        self.window_tokens = window_tokens
        self.max_tokens = max_tokens
        self._llama: Any = None

    def warm_up(self) -> None:
        """Load the model with logits for every position (needed to score each token)."""
        if self._llama is not None:
            return
        from llama_cpp import Llama

        from ragft.models.default_model import builtin_gguf_names, builtin_gguf_path
        from ragft.models.factory import resolve_threads
        from ragft.models.llama_cpp import _extra_buffer_types

        path = builtin_gguf_path(self.model_path) if self.model_path in builtin_gguf_names() else Path(self.model_path)
        threads = resolve_threads(self.threads)
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        # Same load as the generator: weight repacking off, or AMX kernels can die with SIGILL.
        with _extra_buffer_types(False):
            self._llama = Llama(model_path=str(path), n_ctx=self.window_tokens, n_batch=self.window_tokens, logits_all=True,
                                n_threads=threads, n_threads_batch=threads, verbose=False)  # fmt: skip

    def __call__(self, text: str) -> tuple[float, int]:
        self.warm_up()
        ids = self._llama.tokenize(text.encode("utf-8"), add_bos=True)[: self.max_tokens]
        total, scored = 0.0, 0
        for start in range(0, len(ids) - 1, self.window_tokens - 1):
            window = ids[start : start + self.window_tokens]
            if len(window) < 2:
                break
            self._llama.reset()
            self._llama.eval(window)
            logits = np.asarray(self._llama.scores[: len(window) - 1], dtype=np.float64)
            logits -= logits.max(axis=1, keepdims=True)
            log_norm = np.log(np.exp(logits).sum(axis=1))
            picked = logits[np.arange(len(window) - 1), window[1:]]
            total += float((log_norm - picked).sum())
            scored += len(window) - 1
        return total, scored


def domain_distance(
    documents: Sequence[Document],
    nll: LogProbs,
    *,
    known_facts: Interval | None = None,
    model: str = "",
    reference_text: str = REFERENCE_TEXT,
) -> DomainDistance:
    """Perplexity on a corpus sample vs the reference text, with the known-facts share passed in."""
    started = time.perf_counter()
    corpus_ppl, corpus_tokens = perplexity(nll, corpus_sample(documents))
    reference_ppl, reference_tokens = perplexity(nll, reference_text)
    return DomainDistance(corpus_ppl, reference_ppl, corpus_tokens, reference_tokens, known_facts, model,
                          time.perf_counter() - started)  # fmt: skip
