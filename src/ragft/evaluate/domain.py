"""Domain distance: how unfamiliar the user's documents are to the base model.

Two measurements. Perplexity of the base model on a sample of the corpus vs on a generic
reference text: a ratio well above 1 means the corpus reads as foreign (jargon, names, numbers
the model has not seen). And the share of corpus facts the base model already answers
closed-book (known vs unknown facts, after Gekhman et al. 2024: fine-tuning on unknown facts is
slow and encourages hallucination, so a low share favours retrieval). The second comes from the
base arm's answers on `fact` probes; the first needs token log-probabilities, which come from
the configured generator's optional `Scorer` capability. Where the backend cannot score (an
OpenAI-compatible server without prompt log-probabilities), the perplexities are reported as not
measured, with the reason, and the rest of the comparison stands.

Bounded on purpose: at most `max_tokens` tokens of each text are scored, so it costs seconds on a
CPU, not minutes.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from ragft.evaluate.stats import Interval
from ragft.models.base import SCORE_MAX_TOKENS, Generator, ModelError, Scorer, scorer_of
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


@dataclass(frozen=True)
class DomainDistance:
    """Base-model perplexity on the corpus vs a generic text, and the share of facts it already knows.

    The perplexities are None, and `not_measured` says why, when the generator could not score
    tokens; the known-facts share comes from the base arm's answers and is reported either way.
    """

    corpus_perplexity: float | None
    reference_perplexity: float | None
    corpus_tokens: int
    reference_tokens: int
    known_facts: Interval | None  # base arm's accuracy on `fact` probes, closed-book
    model: str
    seconds: float
    not_measured: str = ""  # why the perplexities are missing; empty when they were measured

    @property
    def measured(self) -> bool:
        return not self.not_measured

    @property
    def perplexity_ratio(self) -> float | None:
        if self.corpus_perplexity is None or self.reference_perplexity is None:
            return None
        return self.corpus_perplexity / self.reference_perplexity  # a perplexity is at least 1

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


def domain_distance(
    documents: Sequence[Document],
    generator: Generator | Scorer,
    *,
    known_facts: Interval | None = None,
    reference_text: str = REFERENCE_TEXT,
    max_tokens: int = SCORE_MAX_TOKENS,
) -> DomainDistance:
    """Perplexity of `generator` on a corpus sample vs the reference text, with the known-facts share passed in.

    Never raises for the model's sake: a generator that cannot score, or fails to, gives a result
    that says "not measured" and why, so a comparison whose answers are already paid for is kept.
    """
    started = time.perf_counter()
    name = generator.name

    def not_measured(reason: str) -> DomainDistance:
        return DomainDistance(None, None, 0, 0, known_facts, name, time.perf_counter() - started, not_measured=reason)

    scorer = scorer_of(generator)
    if scorer is None:
        return not_measured(f"the generator {name} ({type(generator).__name__}) cannot score tokens")
    sample = corpus_sample(documents)
    if not sample.strip():
        return not_measured("the corpus has no text to score")
    try:
        corpus = scorer.score(sample, max_tokens=max_tokens)
        reference = scorer.score(reference_text, max_tokens=max_tokens)
    except ModelError as exc:  # ScoringUnavailable included: the server does not return prompt log-probabilities
        return not_measured(str(exc))
    if not corpus.tokens or not reference.tokens:
        return not_measured(f"{name} scored no tokens (corpus {corpus.tokens}, reference {reference.tokens})")
    return DomainDistance(
        corpus.perplexity, reference.perplexity, corpus.tokens, reference.tokens, known_facts, name, time.perf_counter() - started
    )
