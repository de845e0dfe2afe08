"""Keyword search: a bm25s index over chunk text, with one tokenizer for documents and queries.

bm25s precomputes every (term, document) score at index time, so a query only sums the
posting lists of its terms: no Python loop over documents.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

import bm25s
import numpy as np
from bm25s.stopwords import STOPWORDS_EN

TOKENIZER_VERSION = "words-lower-en-stop-v1"  # stored with the index; change it when tokenize() changes
_WORD = re.compile(r"\w+", re.UNICODE)
_STOPWORDS = frozenset(STOPWORDS_EN)


def tokenize(text: str) -> list[str]:
    """Lower-cased word tokens without English stopwords; used for documents and queries alike."""
    return [token for token in _WORD.findall(text.lower()) if token not in _STOPWORDS]


class Bm25Index:
    """BM25 (Lucene variant, k1=1.5, b=0.75) over a fixed list of texts."""

    def __init__(self, model: bm25s.BM25) -> None:
        self._model = model
        self._num_docs = int(model.scores["num_docs"])

    @classmethod
    def build(cls, texts: Sequence[str]) -> Bm25Index:
        model = bm25s.BM25()
        model.index([tokenize(text) for text in texts], show_progress=False)
        return cls(model)

    def save(self, directory: Path) -> None:
        self._model.save(str(directory), show_progress=False)
        (directory / "tokenizer.json").write_text(json.dumps({"tokenizer": TOKENIZER_VERSION}), encoding="utf-8")

    @classmethod
    def load(cls, directory: Path) -> Bm25Index:
        saved = json.loads((directory / "tokenizer.json").read_text(encoding="utf-8"))
        if saved.get("tokenizer") != TOKENIZER_VERSION:
            raise ValueError(f"{directory}: BM25 index was built with tokenizer {saved.get('tokenizer')!r}")
        return cls(bm25s.BM25.load(str(directory), show_progress=False))

    def __len__(self) -> int:
        return self._num_docs

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every document for `query` (float32, 0 where no query term occurs)."""
        token_ids = self._model.get_tokens_ids(tokenize(query))
        if not token_ids:
            return np.zeros(self._num_docs, dtype=np.float32)
        return self._model.get_scores_from_ids(token_ids)
