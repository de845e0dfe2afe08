"""One loaded llama.cpp model for every generator on the same GGUF, LoRA adapters switched per call.

Each trained arm used to load its own `Llama` with `lora_path`, which also turns llama-cpp-python's
mmap off: the base weights were held once per arm. Here generators that name the same file and
load settings share one `SharedLlama` (model and context); each call first activates its own
adapter (or none) with `llama_set_adapters_lora`. The context's KV cache belongs to the adapter
that filled it (a cached prefix's keys and values depend on the adapter), so switching adapters
clears it: the prompt-prefix cache is only ever reused by the adapter that made it.

The registry holds models weakly: a model is freed once no generator uses it.
"""

from __future__ import annotations

import ctypes
import threading
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ragft.models.base import ModelError

LoadKey = tuple[Any, ...]


class SharedLlama:
    """A loaded `Llama` plus the LoRA adapters loaded onto its model, one of them active at a time.

    `lock` must be held for a whole call (activate, evaluate, read results): the context is one.
    """

    def __init__(self, llama: Any) -> None:
        self.llama = llama
        self.lock = threading.RLock()
        self._adapters: dict[Path, Any] = {}  # freed by llama.cpp with the model
        self._active: Path | None = None

    def activate(self, lora_path: Path | None) -> None:
        """Make `lora_path` (None: the plain model) the adapter this context applies; a change clears the KV cache."""
        if lora_path == self._active:
            return
        import llama_cpp

        ctx = self.llama._ctx.ctx
        if lora_path is None:
            rc = llama_cpp.llama_set_adapters_lora(ctx, None, 0, None)
        else:
            adapters = (llama_cpp.llama_adapter_lora_p_ctypes * 1)(self._adapter(lora_path))
            rc = llama_cpp.llama_set_adapters_lora(ctx, adapters, 1, (ctypes.c_float * 1)(1.0))
        if rc != 0:
            raise ModelError(f"{lora_path or 'base model'}: llama.cpp could not switch to this LoRA adapter (code {rc})")
        self.llama.reset()  # the cached prefix was computed with the previous adapter
        self._active = lora_path

    @property
    def active(self) -> Path | None:
        """The adapter applied now (None: the plain model)."""
        return self._active

    def _adapter(self, lora_path: Path) -> Any:
        if lora_path not in self._adapters:
            import llama_cpp
            from llama_cpp._utils import suppress_stdout_stderr

            if not lora_path.is_file():
                raise ModelError(f"{lora_path}: LoRA adapter not found; train one first or fix the adapter path")
            # llama.cpp logs one line per adapted tensor while loading a LoRA, whatever `verbose` says.
            with suppress_stdout_stderr(disable=False):
                adapter = llama_cpp.llama_adapter_lora_init(self.llama._model.model, str(lora_path).encode("utf-8"))
            if not adapter:
                raise ModelError(
                    f"{lora_path}: llama.cpp could not load this LoRA adapter; it may be corrupt or made for "
                    "another base model: retrain it with `ragft train`"
                )
            self._adapters[lora_path] = adapter
        return self._adapters[lora_path]


_LOADED: weakref.WeakValueDictionary[LoadKey, SharedLlama] = weakref.WeakValueDictionary()
_REGISTRY_LOCK = threading.Lock()


def shared_llama(key: LoadKey, load: Callable[[], Any]) -> SharedLlama:
    """The model loaded under `key` (file, context size, threads, options), loading it with `load()` if none is."""
    with _REGISTRY_LOCK:
        shared = _LOADED.get(key)
        if shared is None:
            shared = SharedLlama(load())
            _LOADED[key] = shared
        return shared
