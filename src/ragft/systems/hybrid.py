"""Load a trained arm as a System: `finetuned` (closed-book) or `hybrid` (RAFT adapter + RAG).

Both are served by the same engine as `base` and `rag` (llama.cpp with the GGUF LoRA applied, or
transformers with the PEFT adapter merged), so latency comparisons between arms are fair.
`finetuned+rag` (the fine-tuned adapter under the RAG pipeline) exists for the comparison RAFT
is meant to win: a model tuned without context can get worse when retrieval is added.
"""

from __future__ import annotations

import warnings
from typing import Any

from ragft.models.base import Generator
from ragft.models.factory import resolve_backend, resolve_threads
from ragft.models.llama_cpp import LlamaCppGenerator
from ragft.models.transformers_backend import TransformersGenerator
from ragft.synth.types import TrainingSet
from ragft.systems.build import IndexedCorpus, decoding_settings, index_corpus
from ragft.systems.finetuned import FineTunedSystem, TrainingPairIndex
from ragft.systems.rag import RagSystem
from ragft.train.arms import GGUF_FILE, PEFT_DIR, TRAINING_SET_FILE
from ragft.train.manifest import (
    AdapterError,
    AdapterManifest,
    adapter_dir,
    adapter_status,
    resolve_base_model,
)
from ragft.types import System
from ragft.workspace import Workspace

ARM_SYSTEMS = ("finetuned", "hybrid", "finetuned+rag")


class StaleAdapterWarning(UserWarning):
    """The adapter was trained on an older corpus version than the latest."""


def arm_generator(ws: Workspace, arm: str) -> tuple[Generator, AdapterManifest, str]:
    """(generator with `arm`'s adapter applied, its manifest, a stale-adapter message or "").

    Raises AdapterError when the arm is not trained or was trained for another base model.
    """
    base = resolve_base_model(ws)
    status = adapter_status(ws, arm, base)
    if not status.trained or not status.base_matches:
        raise AdapterError(status.message)
    directory = adapter_dir(ws, arm)
    manifest = AdapterManifest.load(directory)
    models = ws.config.models
    threads = resolve_threads(models.threads)
    if base.gguf is not None and resolve_backend(models) == "llama_cpp":
        generator: Generator = LlamaCppGenerator(base.gguf, threads=threads, context_window_tokens=models.context_window_tokens,
                                                 lora_path=directory / GGUF_FILE, name=f"{_base_name(base.gguf)}+{arm}",
                                                 reuse_prompt_cache=models.reuse_prompt_prefix)  # fmt: skip
    else:
        generator = TransformersGenerator(str(base.hf_dir()), threads=threads, adapter_path=directory / PEFT_DIR,
                                          name=f"{base.model_id}+{arm}", precision=models.precision)  # fmt: skip
    return generator, manifest, status.message if status.stale else ""


def load_arm_system(ws: Workspace, arm: str, *, indexed: IndexedCorpus | None = None) -> System:
    """The trained `arm` ("finetuned", "hybrid" or "finetuned+rag") ready to answer (model loaded).

    A stale adapter (trained on an older corpus version) still loads, with a StaleAdapterWarning
    and `stale_message` set on the system, so callers can show it.
    """
    if arm not in ARM_SYSTEMS:
        raise AdapterError(f"unknown trained system {arm!r}; choose one of: {', '.join(ARM_SYSTEMS)}")
    adapter_arm = "hybrid" if arm == "hybrid" else "finetuned"
    generator, manifest, stale = arm_generator(ws, adapter_arm)
    if stale:
        warnings.warn(stale, StaleAdapterWarning, stacklevel=2)
    generator.warm_up()
    info: dict[str, Any] = {"arm": adapter_arm, "base_model": manifest.base_model, "corpus_version": manifest.corpus_version,
                            "data_hash": manifest.data_hash[:16], "stale": bool(stale)}  # fmt: skip
    decoding = decoding_settings(ws)
    system: Any
    if arm == "finetuned":
        data = TrainingSet.load(adapter_dir(ws, adapter_arm) / TRAINING_SET_FILE)
        system = FineTunedSystem(generator, decoding, TrainingPairIndex(data.pairs), adapter_info=info)
    else:
        indexed = indexed or index_corpus(ws)
        retrieval = ws.config.retrieval
        system = RagSystem(generator, indexed.retriever, decoding, k=retrieval.k, context_budget_tokens=retrieval.context_budget_tokens,
                           refuse_ungrounded=retrieval.refuse_ungrounded, refusal_threshold=retrieval.refusal_threshold, name=arm)  # fmt: skip
    system.stale_message = stale
    system.adapter_info = info
    return system


def _base_name(gguf: str) -> str:
    return "qwen2.5-coder-0.5b-instruct-q4_k_m" if gguf == "default" else gguf.rsplit("/", 1)[-1].removesuffix(".gguf")
