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
from scipy.sparse import csc_matrix  # type: ignore[import-untyped]

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

    def vocabulary(self) -> dict[str, int]:
        """Term -> id for this index (ids are per build: a new corpus version renumbers them)."""
        return dict(self._model.vocab_dict)

    def document_weights(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per document, (term ids, weights) whose sum over a query's term ids is exactly `scores()`.

        The weights are bm25s's own precomputed idf x tf-saturation values (float32), so a sparse
        vector engine that sums them returns the same scores; they depend on the whole corpus (idf,
        average length), which is why a new corpus version rewrites them all.
        """
        scores = self._model.scores
        vocab_size = len(scores["indptr"]) - 1
        by_term = csc_matrix((scores["data"], scores["indices"], scores["indptr"]), shape=(self._num_docs, vocab_size))
        by_doc = by_term.tocsr()
        by_doc.sort_indices()
        return [
            (by_doc.indices[start:end].astype(np.int64), by_doc.data[start:end].astype(np.float32))
            for start, end in zip(by_doc.indptr[:-1], by_doc.indptr[1:])
        ]


def query_term_ids(query: str, vocabulary: dict[str, int]) -> list[int]:
    """The query's term ids in query order, repeats kept (bm25s counts a repeated term again)."""
    return [vocabulary[token] for token in tokenize(query) if token in vocabulary]


def score_from_weights(query_ids: list[int], indices: np.ndarray, weights: np.ndarray) -> np.float32:
    """One document's BM25 score from its `document_weights` row, summed in float32 in query order as bm25s does."""
    lookup = dict(zip(indices.tolist(), weights.tolist()))
    total = np.float32(0.0)
    for term in query_ids:
        if term in lookup:
            total = np.float32(total + np.float32(lookup[term]))
    return total
