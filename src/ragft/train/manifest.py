"""Which base model an adapter is for, and the manifest that says what it learned and from what.

The manifest is written last, atomically, into the adapter folder: its presence means the
adapter is complete. It records the base model's identity (so an adapter is never applied to
another model), the corpus version and data hash (so a v1 adapter is known to be stale at v2),
the settings and the training metrics.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ragft.errors import RagftError
from ragft.files import write_atomic
from ragft.models.default_model import DEFAULT_GGUF_SHA256, builtin_gguf_names
from ragft.models.factory import resolve_backend
from ragft.workspace import Workspace

# The adapters training makes: closed-book LoRA ("finetuned") and RAFT ("hybrid"). Which arm answers
# with which adapter is said once, in the arm registry (ragft.arms), which sits above this layer.
ADAPTERS: tuple[str, ...] = ("finetuned", "hybrid")
MANIFEST = "manifest.json"


class AdapterError(RagftError, RuntimeError):
    """An adapter is missing, incomplete or for another base model; the message says what to run."""


@dataclass(frozen=True)
class BaseModel:
    """The model an arm is trained from (a transformers directory) and served by (a GGUF, if any)."""

    model_id: str  # identity recorded in manifests
    gguf: str | None  # LlamaCppGenerator model_path (a GGUF LoRA is written for it); None: transformers only
    hf_dir: Callable[[], Path]  # may convert on first call (the default model: about two minutes)


@dataclass(frozen=True)
class AdapterManifest:
    """What an adapter folder holds and how it was made."""

    arm: str
    base_model: str
    corpus_version: int
    data_hash: str
    settings: dict[str, Any]
    metrics: dict[str, Any]
    coverage: dict[str, Any]
    created_at: str
    files: dict[str, str] = field(default_factory=dict)  # role -> file name inside the folder
    plan: dict[str, Any] = field(default_factory=dict)  # the budget plan: chunks covered/total, tokens, projected times

    def save(self, directory: Path) -> None:
        write_atomic(directory / MANIFEST, json.dumps(asdict(self), indent=1).encode("utf-8"))

    @classmethod
    def load(cls, directory: Path) -> AdapterManifest:
        try:
            return cls(**json.loads((directory / MANIFEST).read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError) as exc:
            raise AdapterError(f"{directory / MANIFEST}: unreadable manifest ({exc}); retrain with `ragft train`") from exc


@dataclass(frozen=True)
class AdapterStatus:
    """Whether an arm is trained, for this base model, and for the latest corpus version."""

    arm: str
    trained: bool
    base_matches: bool = False
    stale: bool = False
    corpus_version: int | None = None
    latest_version: int | None = None
    message: str = ""


def adapter_dir(ws: Workspace, arm: str, seed: int = 0) -> Path:
    """Where the finished adapter of `arm` lives: seed 0 (the one `ragft train` installs and serving uses) in
    `adapters/<arm>/`, seed i > 0 (`ragft compare --seeds`) in `adapters/<arm>-seed<i>/`."""
    if seed < 0:
        raise AdapterError(f"seed {seed}: seeds count from 0")
    return ws.state_dir / "adapters" / (arm if seed == 0 else f"{arm}-seed{seed}")


def training_seed(ws: Workspace, seed: int) -> int:
    """The [training] seed seed `seed` is trained with: [training] seed + seed (seed 0 is the installed adapter)."""
    return ws.config.training.seed + seed


def seed_adapter_stale(manifest: AdapterManifest, *, training_seed: int, data_hash: str, base_model: str) -> str:
    """Why a seed's cached adapter cannot be reused ("" when it can): it must have this seed, this data and this base model."""
    used = manifest.settings.get("seed")
    if used != training_seed:
        return f"it was trained with seed {used}, not {training_seed}"
    if manifest.data_hash != data_hash:
        return "its training data differs from the installed adapter's"
    if manifest.base_model != base_model:
        return f"it was trained for base model {manifest.base_model}, not {base_model}"
    return ""


def resolve_base_model(ws: Workspace) -> BaseModel:
    """The base model `[models]` names, as something LoRA can be trained on and served with."""
    models = ws.config.models
    backend = resolve_backend(models)
    if backend == "openai":
        raise AdapterError(
            f'[models] generator_backend = "openai": the served model {models.generator!r} cannot be fine-tuned from here, '
            "because training needs its weights. Point [models] generator at them (its Hugging Face model directory, or a "
            '.gguf file) with generator_backend = "auto" for `ragft train`; the server can keep answering the other arms'
        )
    if models.generator == "default":
        from ragft.models.transformers_backend import default_hf_model_dir

        # Both engines can serve it, so its adapters carry a GGUF LoRA whichever one runs now.
        return BaseModel(f"qwen2.5-coder-0.5b-instruct@{DEFAULT_GGUF_SHA256[:16]}", "default", default_hf_model_dir)
    if models.generator in builtin_gguf_names():
        raise AdapterError(
            f"generator {models.generator!r} ships as a GGUF only, without the weights LoRA training needs; "
            'train with generator = "default" or a Hugging Face model directory'
        )
    path = Path(models.generator).expanduser().resolve()
    if backend == "llama_cpp":
        fingerprint = _fingerprint(path)
        if (path.parent / "config.json").is_file():  # the Hugging Face directory it was converted from
            return BaseModel(f"{path.name}@{fingerprint}", str(path), lambda: path.parent)
        from ragft.models.transformers_backend import hf_dir_from_gguf

        # A GGUF on its own: trained on its weights dequantized once (as the default model is).
        return BaseModel(
            f"{path.name}@{fingerprint}", str(path), lambda: hf_dir_from_gguf(path, f"{path.stem}-{fingerprint}-hf", fingerprint)
        )
    if not (path / "config.json").is_file():
        raise AdapterError(f"{path}: not a Hugging Face model directory (no config.json); fix [models] generator")
    return BaseModel(f"{path.name}@{_fingerprint(path / 'config.json')}", None, lambda: path)


def adapter_status(ws: Workspace, arm: str, base: BaseModel | None = None, *, seed: int = 0) -> AdapterStatus:
    """Is `arm` (its adapter of training seed `seed`) trained, for the configured base model, on the latest corpus version?"""
    directory = adapter_dir(ws, arm, seed)
    latest = ws.store.latest_version()
    if not (directory / MANIFEST).is_file():
        return AdapterStatus(arm, False, latest_version=latest, message=f"the {arm} arm is not trained yet: run `ragft train --arm {arm}`")
    manifest = AdapterManifest.load(directory)
    base = base or resolve_base_model(ws)
    if manifest.base_model != base.model_id:
        return AdapterStatus(
            arm,
            True,
            False,
            corpus_version=manifest.corpus_version,
            latest_version=latest,
            message=(
                f"the {arm} adapter was trained for base model {manifest.base_model}, but this workspace uses "
                f"{base.model_id}: retrain with `ragft train --arm {arm}` (or restore the old [models] generator)"
            ),
        )
    stale = latest is not None and manifest.corpus_version < latest
    message = (
        (
            f"the {arm} adapter was trained on corpus version {manifest.corpus_version}, but the latest is {latest}: "
            f"its answers may be out of date; retrain with `ragft train --arm {arm}`"
        )
        if stale
        else ""
    )
    return AdapterStatus(arm, True, True, stale, manifest.corpus_version, latest, message)


def _fingerprint(path: Path) -> str:
    """sha256 of the first 16 MB plus the size: cheap, and distinct for different weight files."""
    digest = hashlib.sha256(str(path.stat().st_size).encode())
    with path.open("rb") as f:
        digest.update(f.read(16 * 1024 * 1024))
    return digest.hexdigest()[:16]
