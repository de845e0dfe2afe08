"""Load a trained adapter's engine: the generator with the LoRA applied, and what it learned.

Adapted models are served by the same engine as the plain model (llama.cpp with the GGUF LoRA
applied, or transformers with the PEFT adapter merged), so latency comparisons between arms are
fair. On llama.cpp every arm shares one loaded base model, each call switching to its own LoRA
(`ragft.models.llama_shared`), so a four-arm comparison holds the base weights once. With
generator_backend = "openai" an adapter is a served model name, and the server applies it. Which arm uses which adapter, and how it answers with it, is the arm registry's business
(`ragft.arms`); this module only turns an adapter folder into a ready generator.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ragft.models.base import Generator
from ragft.models.factory import openai_generator, resolve_backend, resolve_threads, served_adapter_model
from ragft.models.llama_cpp import LlamaCppGenerator
from ragft.models.transformers_backend import TransformersGenerator
from ragft.synth.types import TrainingSet
from ragft.systems.finetuned import TrainingPairIndex
from ragft.train.adapter_files import GGUF_FILE, PEFT_DIR, TRAINING_SET_FILE
from ragft.train.manifest import (
    MANIFEST,
    AdapterError,
    AdapterManifest,
    BaseModel,
    adapter_dir,
    adapter_status,
    resolve_base_model,
)
from ragft.workspace import Workspace


class StaleAdapterWarning(UserWarning):
    """The adapter was trained on an older corpus version than the latest."""


def adapter_generator(ws: Workspace, adapter: str, seed: int = 0, snapshot: Path | None = None) -> tuple[Generator, AdapterManifest, str]:
    """(generator with `adapter` of training seed `seed` applied, its manifest, a stale-adapter message or "").

    `snapshot`: a folder inside the adapter's holding an earlier state of its weights (the exposure
    curve's `exposure/<pct>/`), applied instead of the final ones; in-process engines only.
    Raises AdapterError when the adapter is not trained or was trained for another base model.
    """
    models = ws.config.models
    served = resolve_backend(models) == "openai"
    if served and snapshot is not None:
        raise AdapterError(f"{snapshot}: an adapter snapshot cannot be answered through a served engine; use an in-process one")
    if served and seed:  # the server registers one adapter per arm name: seed i would silently be seed 0
        raise AdapterError(
            f"training seed {seed} of {adapter} cannot be answered through a served engine (generator_backend = "
            '"openai" serves one adapter per arm); run `ragft compare --seeds N` with an in-process engine'
        )
    base = _served_base(ws, adapter) if served else resolve_base_model(ws)
    status = adapter_status(ws, adapter, base, seed=seed)
    if not status.trained or not status.base_matches:
        raise AdapterError(status.message)
    manifest = AdapterManifest.load(adapter_dir(ws, adapter, seed))
    directory = snapshot or adapter_dir(ws, adapter, seed)
    threads = resolve_threads(models.threads)
    if served:  # the server applies the adapter it registered under this name (`ragft engine-command`)
        generator: Generator = openai_generator(models, served_adapter_model(models, adapter))
    elif base.gguf is not None and resolve_backend(models) == "llama_cpp":
        generator = LlamaCppGenerator(
            base.gguf,
            threads=threads,
            context_window_tokens=models.context_window_tokens,
            lora_path=directory / GGUF_FILE,
            name=f"{_base_name(base.gguf)}+{adapter}",
            reuse_prompt_cache=models.reuse_prompt_prefix,
            default_gguf_type=models.default_gguf_type,
        )
    else:
        generator = TransformersGenerator(
            str(base.hf_dir()),
            threads=threads,
            adapter_path=directory / PEFT_DIR,
            name=f"{base.model_id}+{adapter}",
            precision=models.precision,
            device=models.device,
        )
    return generator, manifest, status.message if status.stale else ""


def _served_base(ws: Workspace, adapter: str) -> BaseModel:
    """The base model behind a served adapter: the one it was trained for.

    A server's weights cannot be fingerprinted over HTTP; `ragft engine-command` starts the server on
    the base model the adapters were trained for, which is what is assumed here.
    """
    directory = adapter_dir(ws, adapter)
    model_id = AdapterManifest.load(directory).base_model if (directory / MANIFEST).is_file() else "(served)"
    return BaseModel(model_id, None, lambda: directory)


def adapter_info(manifest: AdapterManifest, adapter: str, stale: str) -> dict[str, Any]:
    """What an answer's trace says about the adapter behind it."""
    return {
        "arm": adapter,
        "base_model": manifest.base_model,
        "corpus_version": manifest.corpus_version,
        "data_hash": manifest.data_hash[:16],
        "stale": bool(stale),
    }


def training_set(ws: Workspace, adapter: str) -> TrainingSet:
    """What `adapter` was trained on (its chunks, facts and pairs), from the copy kept in its folder."""
    return TrainingSet.load(adapter_dir(ws, adapter) / TRAINING_SET_FILE)


def training_pairs(ws: Workspace, adapter: str) -> TrainingPairIndex:
    """The pairs `adapter` was trained on, indexed to show the nearest ones beside a closed-book answer."""
    return TrainingPairIndex(training_set(ws, adapter).pairs)


def _base_name(gguf: str) -> str:
    return "qwen2.5-coder-0.5b-instruct-q4_k_m" if gguf == "default" else gguf.rsplit("/", 1)[-1].removesuffix(".gguf")
