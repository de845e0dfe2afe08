"""Text normalisation and token counting shared across layers, so each means one thing.

Normalisation follows SQuAD's: lower-case, drop punctuation and articles, collapse whitespace.
Synthesis uses it to decide whether a question gives its answer away or a fact survived an edit;
evaluation uses it to score answers. Both must agree, so it lives below both. `TokenCounter` is
the shape of every token counter (an embedder's `count_tokens`); `approximate_token_count` is the
one used where no tokenizer is loaded.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

_ARTICLES = re.compile(r"\b(a|an|the)\b")

TokenCounter = Callable[[str], int]


def normalize_answer(text: str) -> str:
    """SQuAD normalisation: lower, no punctuation, no articles, single spaces.

    Beyond SQuAD's ASCII punctuation, every Unicode punctuation mark (en dashes, curly quotes)
    and currency sign is dropped too, so "€64,000" matches "64000".
    """
    text = "".join(ch for ch in text.lower() if not _is_punct_or_currency(ch))
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def _is_punct_or_currency(ch: str) -> bool:
    category = unicodedata.category(ch)
    return category.startswith("P") or category == "Sc"


def approximate_token_count(text: str) -> int:
    """Word pieces as a subword tokenizer would roughly count them (for when none is loaded)."""
    return len(re.findall(r"\w+|[^\w\s]", text))
