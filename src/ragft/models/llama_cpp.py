"""The default local engine: a GGUF model run in-process by llama.cpp (llama-cpp-python).

Chat goes through the model's own chat template (`create_chat_completion`, streamed); a GGUF
without one (a base model) continues a plain `role: content` transcript instead. A logits
processor that only observes is called once per sampled token, which gives exact figures without
re-tokenizing: its first call marks the end of prefill and sees the full prompt, and the number
of calls is the number of tokens decoded.
"""

from __future__ import annotations

import contextlib
import ctypes
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from ragft.models.base import (
    SCORE_MAX_TOKENS,
    SCORE_WINDOW_TOKENS,
    ChatMessage,
    DecodingSettings,
    Generation,
    ModelError,
    TokenCallback,
    TokenScores,
    picked_logprobs,
    top_first_tokens,
    windowed_logprobs,
)
from ragft.models.default_model import builtin_gguf_names
from ragft.models.llama_shared import SharedLlama, shared_llama
from ragft.models.requantize import PACKAGED, served_gguf_path
from ragft.models.runtime import prefer_passive_openmp
from ragft.models.transcript import TRANSCRIPT_STOP, plain_transcript

_GGUF_MAGIC = b"GGUF"


class LlamaCppGenerator:
    """A GGUF chat model on llama.cpp, optionally with a LoRA adapter (GGUF) applied.

    `model_path` is a .gguf file or the name of a packaged model ("default", "gemma3-270m"), which
    is assembled from its packages in `warm_up()`. The KV cache is cleared before every call
    unless `reuse_prompt_cache` is set, so prefill time always reflects the whole prompt and
    systems with long and short prompts are timed alike.

    Generators on the same file with the same load settings share one loaded model and context
    (`ragft.models.llama_shared`): an adapter generator activates its LoRA for each call instead
    of holding its own copy of the base weights. `llama_options` are passed to `Llama` as they are
    (`n_batch`, `n_ubatch`, `flash_attn`: prefill tuning, see benchmarks/bench_engines.py).

    `default_gguf_type` is the encoding the packaged default model is served in (`ragft.models.requantize`).

    `weight_repacking` switches llama.cpp's "extra buffer types" (weights repacked for faster
    AVX2/AVX-512 or AMX kernels). `None` (the default) turns them on unless the installed
    llama.cpp was built with AMX kernels: a `-march=native` build on a CPU with AMX dies with
    SIGILL on the first multi-token batch when the kernel or sandbox does not grant AMX tile
    state (as on ragft's reference machines), and no Python exception can catch that.
    """

    def __init__(
        self,
        model_path: str | Path,
        *,
        threads: int,
        context_window_tokens: int = 4096,
        lora_path: str | Path | None = None,
        reuse_prompt_cache: bool = False,
        weight_repacking: bool | None = None,
        name: str | None = None,
        llama_options: Mapping[str, Any] | None = None,
        default_gguf_type: str = PACKAGED,
    ) -> None:
        self.model_path = model_path
        self.threads = threads
        self.context_window_tokens = context_window_tokens
        self.lora_path = Path(lora_path) if lora_path is not None else None
        self.reuse_prompt_cache = reuse_prompt_cache
        self.weight_repacking = weight_repacking
        self.name = name or _display_name(model_path)
        self.llama_options = dict(llama_options or {})
        self.default_gguf_type = default_gguf_type
        self._base: SharedLlama | None = None
        self._scoring: SharedLlama | None = None  # a second context with logits for every position, made by `score`

    def warm_up(self) -> None:
        """Assemble (if packaged) and load the GGUF, or join the generator that did, and load the adapter."""
        if self._base is None:
            self._base = self._load(n_ctx=self.context_window_tokens, **self.llama_options)
            if self.lora_path is not None:
                with self._base.lock:
                    self._base.activate(self.lora_path)  # loads the adapter now: a bad file fails here, not mid-answer

    @property
    def _llama(self) -> Any:
        """The loaded `Llama` (None before `warm_up()`)."""
        return self._base.llama if self._base is not None else None

    def score(self, text: str, *, max_tokens: int = SCORE_MAX_TOKENS) -> TokenScores:
        """Log-probabilities of the first `max_tokens` tokens of `text`, in windows of `SCORE_WINDOW_TOKENS`.

        Scoring needs logits at every position (`logits_all`), which would slow generation, so it
        runs on a second context over the same file (and adapter), loaded on the first call.
        """
        if self._scoring is None:
            self._scoring = self._load(n_ctx=SCORE_WINDOW_TOKENS, n_batch=SCORE_WINDOW_TOKENS, logits_all=True)
        shared = self._scoring
        llama = shared.llama
        ids = llama.tokenize(text.encode("utf-8"), add_bos=True)[:max_tokens]

        def window_logprobs(window: Any) -> Any:
            llama.reset()
            llama.eval(window)
            return picked_logprobs(llama.scores[: len(window) - 1], window[1:])

        with shared.lock:
            shared.activate(self.lora_path)
            return TokenScores(windowed_logprobs(ids, window_logprobs), model=self.name)

    def _load(self, *, n_ctx: int, **options: Any) -> SharedLlama:
        """The shared `Llama` over the resolved GGUF with this generator's threads and repacking, loaded if needed."""
        path = self._resolve_path()
        if self.lora_path is not None and not self.lora_path.is_file():
            raise ModelError(f"{self.lora_path}: LoRA adapter not found; train one first or fix the adapter path")
        repack = self.weight_repacking if self.weight_repacking is not None else not _built_with_amx()
        key = (str(path.resolve()), n_ctx, self.threads, repack, tuple(sorted(options.items())))
        return shared_llama(key, lambda: self._new_llama(path, repack, n_ctx=n_ctx, **options))

    def _new_llama(self, path: Path, repack: bool, *, n_ctx: int, **options: Any) -> Any:
        prefer_passive_openmp()
        from llama_cpp import Llama

        try:
            with _extra_buffer_types(repack):
                return Llama(
                    model_path=str(path), n_ctx=n_ctx, n_threads=self.threads, n_threads_batch=self.threads, verbose=False, **options
                )
        except (ValueError, RuntimeError, OSError) as exc:
            raise ModelError(
                f"{path}: llama.cpp could not load this model ({exc}); the file may be truncated, "
                "corrupt or of an architecture this llama-cpp-python does not support: re-download it, "
                "or delete it if it is a cached default model (it is rebuilt on next use)"
            ) from exc

    def generate(
        self,
        messages: Sequence[ChatMessage],
        settings: DecodingSettings,
        on_token: TokenCallback | None = None,
    ) -> Generation:
        """Stream a chat reply; temperature 0 decodes greedily."""
        self.warm_up()
        assert self._base is not None
        with self._base.lock:
            self._base.activate(self.lora_path)
            if not self.reuse_prompt_cache:
                self._base.llama.reset()
            return self._generate(self._base.llama, messages, settings, on_token)

    def _generate(
        self, llama: Any, messages: Sequence[ChatMessage], settings: DecodingSettings, on_token: TokenCallback | None
    ) -> Generation:
        sampled: list[float] = []  # time of each sampling step
        prompt_tokens = 0
        first_token_top: tuple[tuple[str, float], ...] = ()

        def observe(input_ids: Any, scores: Any) -> Any:
            nonlocal prompt_tokens, first_token_top
            sampled.append(time.perf_counter())
            if len(sampled) == 1:  # the first step: prefill has just ended
                prompt_tokens = len(input_ids)
                first_token_top = top_first_tokens(scores, self._token_text)
            return scores

        pieces: list[str] = []
        first_piece_at: float | None = None
        finish_reason = None
        start = time.perf_counter()
        sampling: dict[str, Any] = {
            "stream": True,
            "max_tokens": settings.max_new_tokens,
            "temperature": settings.temperature,  # 0 selects llama.cpp's greedy sampler
            "top_p": settings.top_p,
            "top_k": 0,  # off: top_p alone shapes sampling, as in the other backends
            "min_p": 0.0,
            "repeat_penalty": 1.0,
            "seed": settings.seed,
            "logits_processor": [observe],
        }
        try:
            if self._has_chat_template:
                stream = llama.create_chat_completion(
                    messages=[{"role": m["role"], "content": m["content"]} for m in messages],
                    stop=list(settings.stop) or None,
                    **sampling,
                )
            else:  # a base model: continue a plain transcript, stopping at the next turn
                stream = llama.create_completion(plain_transcript(messages), stop=[*settings.stop, *TRANSCRIPT_STOP], **sampling)
            for chunk in stream:
                choice = chunk["choices"][0]
                piece = (choice["delta"].get("content") if "delta" in choice else choice.get("text")) or ""
                if piece:
                    if first_piece_at is None:
                        first_piece_at = time.perf_counter()
                    pieces.append(piece)
                    if on_token is not None:
                        on_token(piece)
                finish_reason = choice.get("finish_reason") or finish_reason
        except ValueError as exc:  # llama-cpp-python raises ValueError for a prompt over n_ctx
            raise ModelError(
                f"{self.name}: {exc}; shorten the prompt (e.g. lower [retrieval] context_budget_tokens) "
                "or raise [models] context_window_tokens in ragft.toml"
            ) from exc
        end = time.perf_counter()
        prefill_end = sampled[0] if sampled else end
        # The last sampling step may pick the end-of-turn token, which produces no text.
        completion_tokens = len(sampled) - (1 if finish_reason == "stop" and sampled else 0)
        return Generation(
            text="".join(pieces),
            prompt_tokens=prompt_tokens,
            completion_tokens=max(completion_tokens, 0),
            prefill_s=prefill_end - start,
            time_to_first_token_s=(first_piece_at or end) - start,
            total_s=end - start,
            model=self.name,
            extra={"finish_reason": finish_reason, "backend": "llama_cpp", "threads": self.threads},
            first_token_top=first_token_top,
        )

    def _token_text(self, token: int) -> str:
        return self._llama.detokenize([token]).decode("utf-8", errors="replace")

    @property
    def _has_chat_template(self) -> bool:
        return bool(self._llama.metadata.get("tokenizer.chat_template"))

    def count_tokens(self, text: str) -> int:
        """Tokens of `text` under the model's tokenizer, without BOS."""
        self.warm_up()
        return len(self._llama.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def _resolve_path(self) -> Path:
        if isinstance(self.model_path, str) and self.model_path in builtin_gguf_names():
            return served_gguf_path(self.model_path, self.default_gguf_type)
        path = Path(self.model_path).expanduser()
        if not path.is_file():
            raise ModelError(
                f"{path}: model file not found; set [models] generator in ragft.toml to an existing "
                f".gguf file or to one of: {', '.join(builtin_gguf_names())}"
            )
        with path.open("rb") as f:
            magic = f.read(4)
        if magic != _GGUF_MAGIC:
            raise ModelError(
                f"{path}: not a GGUF file (it starts with {magic!r}, not b'GGUF'); llama_cpp needs a .gguf "
                'model: convert it, or use generator_backend = "transformers" for a Hugging Face directory'
            )
        return path


def _built_with_amx() -> bool:
    """Whether the installed llama.cpp CPU backend was compiled with AMX kernels."""
    import llama_cpp

    for lib in sorted((Path(llama_cpp.__file__).parent / "lib").glob("libggml-cpu*.so*")):
        has_amx = getattr(ctypes.CDLL(str(lib)), "ggml_cpu_has_amx_int8", None)
        if has_amx is not None:
            return bool(has_amx())
    return True  # unknown build: assume the worst, it only costs speed


@contextlib.contextmanager
def _extra_buffer_types(enabled: bool) -> Iterator[None]:
    """While constructing a `Llama`, set llama.cpp's `use_extra_bufts` model parameter.

    llama-cpp-python does not expose it, but builds its parameters from
    `llama_model_default_params()`, so that function is wrapped for the duration.
    """
    import llama_cpp.llama_cpp as lib

    defaults = lib.llama_model_default_params
    if not hasattr(defaults(), "use_extra_bufts"):  # an older llama.cpp without the switch
        yield
        return

    def patched() -> Any:
        params = defaults()
        params.use_extra_bufts = enabled
        return params

    lib.llama_model_default_params = patched
    try:
        yield
    finally:
        lib.llama_model_default_params = defaults


def _display_name(model_path: str | Path) -> str:
    if model_path == "default":
        return "qwen2.5-coder-0.5b-instruct-q4_k_m"
    if isinstance(model_path, str) and model_path in builtin_gguf_names():
        return model_path
    return Path(model_path).stem
