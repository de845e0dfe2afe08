"""A `Generator` on Hugging Face transformers (fp32, bf16 or fp16), for any causal LM directory, on the CPU or a GPU.

It decodes with its own token-by-token loop over the KV cache rather than `model.generate`, so
prefill time, time to first token and every streamed piece are measured exactly, the same way
as in the llama.cpp backend. `default_hf_model_dir()` converts the embedded default GGUF to a
safetensors directory once; training starts from that directory.

In bf16 on a CPU with AMX the prompt is read about 10x faster than llama.cpp reads it (a RAG
prompt of 635 tokens: 0.44 s vs 4.8 s on 2 cores), while tokens are written about half as fast
(12 vs 24 per second: decoding reads every weight per token, 1 GB in bf16 against 0.4 GB in
Q4_K_M). So it suits prompt-heavy work, RAG above all (benchmarks/bench_models.py).
"""

from __future__ import annotations

import inspect
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ragft.models.base import (
    SCORE_MAX_TOKENS,
    ChatMessage,
    DecodingSettings,
    Generation,
    ModelError,
    TokenCallback,
    TokenScores,
    top_first_tokens,
    windowed_logprobs,
)
from ragft.models.cache import models_cache_dir
from ragft.models.decoding import StopStream, TokenEmitter, prompt_lookup
from ragft.models.default_model import (
    DEFAULT_GGUF_SHA256,
    builtin_gguf_names,
    default_generator_path,
)
from ragft.models.device import resolve_device, weights_precision
from ragft.models.runtime import quiet_transformers
from ragft.models.transcript import TRANSCRIPT_STOP, plain_transcript

DEFAULT_HF_DIR_NAME = "qwen2.5-coder-0.5b-instruct-hf"
_MARKER = "ragft-converted.json"  # written last: its presence means the directory is complete


def default_hf_model_dir() -> Path:
    """The default model as a transformers directory (fp32 safetensors + tokenizer), built once.

    The first call dequantizes the embedded GGUF (about a minute and 2 GB of memory) and caches
    the result; later calls return the cached directory at once.
    """
    target = models_cache_dir() / DEFAULT_HF_DIR_NAME
    if (target / _MARKER).is_file():
        return target
    return hf_dir_from_gguf(default_generator_path(), DEFAULT_HF_DIR_NAME, DEFAULT_GGUF_SHA256)


def hf_dir_from_gguf(gguf_path: Path, dir_name: str, source_id: str) -> Path:
    """`gguf_path` dequantized to a transformers directory `dir_name` in the models cache, built once.

    This is how a model that exists only as a GGUF is trained: LoRA needs its weights as tensors.
    `source_id` (a hash of the GGUF) is recorded beside them. ModelError when transformers cannot
    read the GGUF's architecture.
    """
    target = models_cache_dir() / dir_name
    if (target / _MARKER).is_file():
        return target
    print(
        f"ragft: converting {gguf_path.name} to transformers weights in {target.parent} (once; about a minute for a 0.5B model)",
        file=sys.stderr,
        flush=True,
    )
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        quiet_transformers()

        tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(
            gguf_path.parent, gguf_file=gguf_path.name, local_files_only=True, **_fp32_kwarg(torch)
        )
    except ImportError as exc:
        raise ModelError(f"converting {gguf_path.name} needs the 'gguf' package ({exc}): run `pip install gguf`") from exc
    except (OSError, ValueError, KeyError) as exc:
        raise ModelError(
            f"{gguf_path}: transformers cannot dequantize this GGUF ({exc}); to train on it, keep it inside the Hugging Face "
            "model directory it was converted from (config.json and safetensors beside it)"
        ) from exc
    # A GGUF-loaded model carries a quantization config and quantizer that make save_pretrained
    # refuse; the weights are already plain fp32 tensors, so drop them.
    for attr in ("hf_quantizer", "quantization_method"):
        if hasattr(model, attr):
            setattr(model, attr, None)
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.is_quantized = False  # type: ignore[assignment]  # torch types unknown Module attributes as Tensor | Module
    tmp = Path(tempfile.mkdtemp(prefix=f".{DEFAULT_HF_DIR_NAME}-", dir=target.parent))
    try:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        (tmp / _MARKER).write_text(json.dumps({"source": gguf_path.name, "sha256": source_id}))
        tmp.chmod(0o755)  # mkdtemp creates it private
        if target.exists():
            shutil.rmtree(target)
        tmp.rename(target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


class TransformersGenerator:
    """A causal LM loaded with transformers, optionally with a PEFT (LoRA) adapter merged in.

    `model_dir_or_id` is a model directory, a hub id already in the local HF cache, or "default"
    (the converted embedded model, see `default_hf_model_dir`). Pass `gguf_file` to load a GGUF
    inside `model_dir_or_id` directly (dequantized to fp32). `device` is `[models] device`
    ("auto", "cpu", "cuda", "cuda:N"; resolved at warm-up, see `ragft.models.device`); `precision`
    ("fp32", "bf16" or "auto": bf16 where the device multiplies it natively, else fp32 on a CPU and
    fp16 on a GPU) is the arithmetic the weights run in; an adapter is merged in fp32 first, so a
    lower precision rounds the merged weights once. `draft_tokens` caps the tokens guessed by
    prompt lookup and checked per forward pass in greedy decoding (0: none).
    """

    def __init__(
        self,
        model_dir_or_id: str | Path,
        *,
        threads: int = 0,
        adapter_path: str | Path | None = None,
        gguf_file: str | None = None,
        name: str | None = None,
        precision: str = "fp32",
        draft_tokens: int = 10,
        device: str = "auto",
    ) -> None:
        self.model_dir_or_id = str(model_dir_or_id)
        self.threads = threads
        self.adapter_path = Path(adapter_path) if adapter_path is not None else None
        self.gguf_file = gguf_file
        self.name = name or _display_name(self.model_dir_or_id, gguf_file)
        if precision not in ("auto", "bf16", "fp32"):
            raise ModelError(f"precision must be auto, bf16 or fp32, not {precision!r}")
        self.precision = precision  # resolved to bf16, fp16 or fp32 at warm-up (it needs torch)
        self.device = device  # resolved to "cpu" or "cuda:N" at warm-up
        self.draft_tokens = draft_tokens  # prompt-lookup draft per greedy step; 0 = one token per pass
        self._model: Any = None
        self._tokenizer: Any = None
        self._eos_ids: frozenset[int] = frozenset()
        self._cache_arg = "past_key_values"
        self._last_logits_only: dict[str, int] = {}

    def warm_up(self) -> None:
        """Load tokenizer and weights (and merge the adapter); later calls do nothing."""
        if self._model is not None:
            return
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        quiet_transformers()

        if self.threads > 0:
            torch.set_num_threads(self.threads)
        source = self.model_dir_or_id
        if source in builtin_gguf_names() and self.gguf_file is None:
            if source != "default":
                raise ModelError(f"'{source}' is only available as a GGUF: use generator_backend = \"llama_cpp\" in ragft.toml")
            source = str(default_hf_model_dir())
        # Never the hub at run time: a directory, or a hub id already in the local HF cache.
        kwargs: dict[str, Any] = {"local_files_only": True}
        if self.gguf_file:
            kwargs["gguf_file"] = self.gguf_file
        device = resolve_device(self.device)
        precision = weights_precision(self.precision, device)
        try:
            tokenizer = AutoTokenizer.from_pretrained(source, **kwargs)
            model = AutoModelForCausalLM.from_pretrained(source, **_fp32_kwarg(torch), **kwargs)
        except (OSError, ValueError) as exc:
            raise ModelError(
                f"{source}: could not load a transformers model ({exc}); [models] generator must be a "
                "directory with config.json, weights and tokenizer files (or 'default')"
            ) from exc
        if self.adapter_path is not None:
            model = _merge_adapter(model, self.adapter_path)
        self.device, self.precision = device, precision
        model.to(device=device, dtype=_DTYPES[precision](torch))  # type: ignore[call-arg]  # @wraps(Module.to) hides the bound self
        model.eval()
        self._eos_ids = _eos_token_ids(model, tokenizer)
        # transformers renamed `past_key_values` to `cache` (5.x); computing logits for the last
        # position only saves a vocab-sized matmul per prompt token during prefill.
        params = inspect.signature(model.forward).parameters
        self._cache_arg = "cache" if "cache" in params else "past_key_values"
        keep = next((k for k in ("logits_to_keep", "num_logits_to_keep") if k in params), None)
        self._last_logits_only = {keep: 1} if keep else {}
        self._tokenizer = tokenizer
        self._model = model

    def generate(
        self,
        messages: Sequence[ChatMessage],
        settings: DecodingSettings,
        on_token: TokenCallback | None = None,
    ) -> Generation:
        """Decode over the KV cache, streaming text pieces to `on_token`.

        Greedy decoding drafts tokens by prompt lookup and verifies them in one forward pass (see
        `prompt_lookup`): the text is the model's greedy text, written several tokens per pass
        wherever the answer copies its prompt, as RAG answers do.
        """
        import torch

        self.warm_up()
        start = time.perf_counter()
        prompt_ids = self._encode_chat(messages)
        generator = torch.Generator().manual_seed(settings.seed)
        stop = settings.stop if self._has_chat_template else (*settings.stop, *TRANSCRIPT_STOP)
        emitter = TokenEmitter(self._tokenizer, self._eos_ids, StopStream(stop, on_token), settings.max_new_tokens, start)
        drafting = settings.temperature <= 0 and self.draft_tokens > 0
        drafted = accepted = 0
        with torch.inference_mode():
            out, cache = self._forward(prompt_ids, None, self._last_logits_only)
            last_logits = out.logits[0, -1].float().cpu()  # copied back first: on a GPU this waits for the prefill to finish
            prefill_s = time.perf_counter() - start
            first_token_top = top_first_tokens(last_logits.numpy(), self._tokenizer.decode)
            token = _pick_token(out.logits[0, -1], settings, generator)
            in_cache = list(prompt_ids)  # the tokens whose keys and values the cache holds
            while emitter.emit(token):
                draft = prompt_lookup([*in_cache, token], draft=min(self.draft_tokens, emitter.room)) if drafting else []
                keep = {k: len(draft) + 1 for k in self._last_logits_only}  # logits for every drafted position
                out, cache = self._forward([token, *draft], cache, keep)
                in_cache.append(token)
                if not draft:
                    token = _pick_token(out.logits[0, -1], settings, generator)
                    continue
                predicted = out.logits[0, -len(draft) - 1 :].argmax(dim=-1).tolist()
                n = next((i for i, (d, p) in enumerate(zip(draft, predicted, strict=False)) if d != p), len(draft))
                drafted, accepted = drafted + len(draft), accepted + n
                _drop_last(cache, len(draft) - n)
                if not all(emitter.emit(t) for t in draft[:n]):
                    break
                in_cache.extend(draft[:n])
                token = predicted[n]
        stream, generated, ttft, finish_reason = emitter.stream, emitter.generated, emitter.ttft, emitter.finish_reason
        stream.finish()
        end = time.perf_counter()
        return Generation(
            text=stream.text,
            prompt_tokens=len(prompt_ids),
            completion_tokens=len(generated),
            prefill_s=prefill_s,
            time_to_first_token_s=ttft or (end - start),
            total_s=end - start,
            model=self.name,
            extra={
                "finish_reason": finish_reason,
                "backend": "transformers",
                "precision": self.precision,
                "device": self.device,
                "drafted_tokens": drafted,
                "accepted_tokens": accepted,
            },
            first_token_top=first_token_top,
        )

    def _forward(self, ids: Sequence[int], cache: Any, keep: dict[str, int]) -> tuple[Any, Any]:
        import torch

        inputs = torch.tensor([list(ids)], dtype=torch.long, device=self.device)
        out = self._model(input_ids=inputs, use_cache=True, **{self._cache_arg: cache}, **keep)
        return out, out.cache if getattr(out, "cache", None) is not None else out.past_key_values

    def score(self, text: str, *, max_tokens: int = SCORE_MAX_TOKENS) -> TokenScores:
        """Log-probabilities of the first `max_tokens` tokens of `text`: per window one forward pass,
        log_softmax and gather (windows as llama.cpp reads them, see `windowed_logprobs`)."""
        import torch

        self.warm_up()
        ids = list(self._tokenizer(text, add_special_tokens=True)["input_ids"])[:max_tokens]

        def window_logprobs(window: Sequence[int]) -> list[float]:
            inputs = torch.tensor([list(window)], dtype=torch.long, device=self.device)
            with torch.inference_mode():
                logits = self._model(input_ids=inputs, use_cache=False).logits[0, :-1].float()
            picked = torch.log_softmax(logits, dim=-1).gather(1, inputs[0, 1:, None])
            return picked[:, 0].tolist()

        return TokenScores(windowed_logprobs(ids, window_logprobs), model=self.name)

    def count_tokens(self, text: str) -> int:
        """Tokens of `text` under the model's tokenizer, without special tokens."""
        self.warm_up()
        return len(self._tokenizer(text, add_special_tokens=False)["input_ids"])

    @property
    def _has_chat_template(self) -> bool:
        return bool(getattr(self._tokenizer, "chat_template", None))

    def _encode_chat(self, messages: Sequence[ChatMessage]) -> list[int]:
        turns = [{"role": m["role"], "content": m["content"]} for m in messages]
        if self._has_chat_template:
            prompt = self._tokenizer.apply_chat_template(turns, add_generation_prompt=True, tokenize=False)
        else:
            prompt = plain_transcript(messages)
        ids = self._tokenizer(prompt, add_special_tokens=False)["input_ids"]
        bos = self._tokenizer.bos_token_id
        if bos is not None and getattr(self._tokenizer, "add_bos_token", False) and ids[:1] != [bos]:
            ids = [bos, *ids]
        return list(ids)


def _drop_last(cache: Any, n: int) -> None:
    """Remove the last `n` positions from a transformers KV cache (the rejected draft tokens)."""
    if n > 0:
        cache.crop(-n)  # a negative count removes from the end, in transformers 4.x and 5.x alike


def _pick_token(logits: Any, settings: DecodingSettings, generator: Any) -> int:
    import torch

    if settings.temperature <= 0:
        return int(torch.argmax(logits))
    # Sampled on the CPU with the CPU generator: the same seed picks the same tokens on any device.
    probs = torch.softmax(logits.float().cpu() / settings.temperature, dim=-1)
    if settings.top_p < 1.0:
        sorted_probs, order = torch.sort(probs, descending=True)
        keep = torch.cumsum(sorted_probs, dim=-1) - sorted_probs < settings.top_p
        probs = torch.zeros_like(probs).scatter(0, order[keep], sorted_probs[keep])
    return int(torch.multinomial(probs, 1, generator=generator))


def _eos_token_ids(model: Any, tokenizer: Any) -> frozenset[int]:
    ids: set[int] = set()
    for value in (getattr(model.generation_config, "eos_token_id", None), tokenizer.eos_token_id):
        if isinstance(value, int):
            ids.add(value)
        elif isinstance(value, list | tuple):
            ids.update(int(v) for v in value)
    return frozenset(ids)


def _merge_adapter(model: Any, adapter_path: Path) -> Any:
    if not adapter_path.exists():
        raise ModelError(f"{adapter_path}: adapter not found; train one first or fix the adapter path")
    try:
        from peft import PeftModel
    except ImportError as exc:
        raise ModelError("loading a LoRA adapter needs the 'peft' package: run `pip install peft`") from exc
    # Merged for inference, so the adapter adds no latency compared with the base model.
    return PeftModel.from_pretrained(model, str(adapter_path)).merge_and_unload()


_DTYPES = {
    "fp32": lambda torch: torch.float32,
    "bf16": lambda torch: torch.bfloat16,
    "fp16": lambda torch: torch.float16,
}


def _fp32_kwarg(torch: Any) -> dict[str, Any]:
    """`dtype=` (transformers >= 4.56; `torch_dtype` is deprecated there) or `torch_dtype=` before."""
    import transformers
    from packaging.version import Version

    key = "dtype" if Version(transformers.__version__) >= Version("4.56") else "torch_dtype"
    return {key: torch.float32}


def _display_name(model_dir_or_id: str, gguf_file: str | None) -> str:
    if gguf_file:
        return Path(gguf_file).stem
    if model_dir_or_id == "default":
        return "qwen2.5-coder-0.5b-instruct"
    return Path(model_dir_or_id).name or model_dir_or_id
