"""The default GGUF re-encoded, once, into a type llama.cpp reads faster on a CPU.

The packaged default model is labelled Q4_K_M, but most of its weights are Q5_0 (its 896-wide
rows are not a multiple of the 256-value k-quant blocks, so llama.cpp's quantizer fell back), and
ggml has no repacked AVX2/AVX-512 kernel for Q5_0. Re-encoding the same file with llama.cpp's own
quantizer (`llama_model_quantize`, `allow_requantize`) into a type it repacks makes RAG prompts
prefill faster; `benchmarks/bench_prefill.py` measures the speed and the answers of each type
against the packaged file (benchmarks/results/engines.json).

The result is built in the models cache beside the packaged file (temporary file, sha256 checked
against the one recorded here for the pinned llama-cpp-python, atomic rename) and reused. Training
is unaffected: LoRA learns on the packaged file's weights dequantized (`transformers_backend`),
and the base model's identity stays the packaged file's hash.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

from ragft.files import write_atomic
from ragft.models.base import ModelError
from ragft.models.cache import models_cache_dir
from ragft.models.default_model import builtin_gguf_path, verified_file

_BLOCK = 8 * 1024 * 1024


@dataclass(frozen=True)
class GGUFType:
    """A llama.cpp file type the default model can be served in, and what re-encoding it must produce."""

    name: str  # the `[models] default_gguf_type` value
    ftype: str  # llama_cpp's LLAMA_FTYPE_MOSTLY_* constant, without the prefix ("" = the packaged file itself)
    sha256: str  # of the re-encoded default model, made by llama-cpp-python 0.3.36
    size: int


PACKAGED = "q4_k_m"
DEFAULT_GGUF_TYPES: dict[str, GGUFType] = {
    PACKAGED: GGUFType(PACKAGED, "", "", 0),
    "q8_0": GGUFType("q8_0", "Q8_0", "45de1f1813d2f6b5045d551a12f7a976820881f3a9f3354864597c2a613563e3", 675_710_848),
    "q4_0": GGUFType("q4_0", "Q4_0", "564996f7f21038c04b9e3e54e1e0324622780cfe0bc8508fe5ef938cb0052a37", 428_730_240),
}


def served_gguf_path(name: str, type_name: str = PACKAGED) -> Path:
    """The file llama.cpp loads for the packaged model `name`: the default one in `type_name`, another as packaged."""
    packaged = builtin_gguf_path(name)
    return requantized_path(packaged, type_name) if name == "default" else packaged


def requantized_path(packaged: Path, type_name: str, *, threads: int = 0) -> Path:
    """The default model in `type_name` (`packaged` itself for "q4_k_m"), made from `packaged` on first use.

    Raises ModelError, naming the setting, for an unknown type. When the result's hash is not the
    recorded one (a llama.cpp built otherwise may round differently), nothing is published: a
    warning says so and the packaged file is served, and a `.rejected` note beside the target keeps
    later starts from re-encoding again.
    """
    try:
        spec = DEFAULT_GGUF_TYPES[type_name]
    except KeyError:
        raise ModelError(f"[models] default_gguf_type = {type_name!r} is not one of: {', '.join(DEFAULT_GGUF_TYPES)}") from None
    if not spec.ftype:
        return packaged
    target = models_cache_dir() / f"{packaged.stem.removesuffix('-q4_k_m')}-{spec.name}.gguf"
    rejected = target.with_name(target.name + ".rejected")
    try:
        if rejected.is_file():
            raise ModelError(rejected.read_text(encoding="utf-8").strip())
        return requantize(packaged, target, spec, threads=threads)
    except ModelError as exc:  # the model must still answer: serve the packaged file, and say why
        if not rejected.is_file():
            write_atomic(rejected, f"{exc}\n".encode())  # not re-encoded again at every start (delete it to retry)
        warnings.warn(f"{exc}; serving the packaged {PACKAGED} file instead (delete {rejected} to retry)", stacklevel=2)
        return packaged


def requantize(source: Path, target: Path, spec: GGUFType, *, threads: int = 0) -> Path:
    """`target`: `source` re-encoded as `spec` by llama.cpp, published only when its hash is `spec.sha256`.

    A verified `target` (its `.sha256` note beside it agrees) is reused without rehashing.
    """
    note = target.with_name(target.name + ".sha256")
    if verified_file(target, note, spec.size, spec.sha256):
        return target
    _quantize(source, target, spec, threads or os.cpu_count() or 1)
    note.write_text(f"{spec.sha256}  {spec.size}\n", encoding="utf-8")
    return target


def _quantize(source: Path, target: Path, spec: GGUFType, threads: int) -> None:
    import llama_cpp
    from llama_cpp._utils import suppress_stdout_stderr

    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{spec.ftype}")
    params.allow_requantize = True
    params.nthread = threads
    try:
        with suppress_stdout_stderr(disable=False):  # llama.cpp logs a line per tensor, whatever the log level
            failed = llama_cpp.llama_model_quantize(str(source).encode(), str(tmp).encode(), params) != 0
        if failed:
            raise ModelError(f'{source}: llama.cpp could not re-encode it as {spec.name}; set [models] default_gguf_type = "{PACKAGED}"')
        actual = _sha256(tmp)
        if actual != spec.sha256:
            raise ModelError(
                f"{target.name}: re-encoding gave sha256 {actual}, not the recorded {spec.sha256} (a llama-cpp-python other "
                f'than the pinned one?); reinstall ragft\'s pinned llama-cpp-python or set [models] default_gguf_type = "{PACKAGED}"'
            )
        if tmp.stat().st_size != spec.size:
            raise ModelError(f"{target.name}: re-encoding gave {tmp.stat().st_size:,} bytes, not the recorded {spec.size:,}")
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest()
