"""An adapter folder on disk: its layout, the LoRA weights in the formats the engines load, and its manifest.

`train.arms` trains; this writes what it trained: PEFT (transformers, vLLM) and GGUF LoRA
(llama.cpp) beside the training set and the manifest, and the exposure-curve snapshots taken at
shares of the planned tokens. Readers (`systems.adapter`, `serve.guard`, `cli.engine`) take the
file names from here.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ragft.synth.types import TrainingSet
from ragft.train.gguf_lora import convert_peft_to_gguf
from ragft.train.manifest import AdapterManifest
from ragft.train.trainer import LoraSettings, TrainMetrics
from ragft.workspace import Workspace

TRAINING_SET_FILE = "training_set.json"
PEFT_DIR = "peft"
GGUF_FILE = "adapter.gguf"
EXPOSURE_DIR = "exposure"  # snapshots at shares of the planned tokens: exposure/<percent>/ holds peft/ (+ adapter.gguf)


def save_lora(model: Any, target: Path, base: Any) -> dict[str, str]:
    """The trained LoRA weights as a PEFT folder in `target`, plus a GGUF LoRA when the base is served by llama.cpp.

    Returns the files written, by kind, as the manifest lists them.
    """
    model.save_pretrained(target / PEFT_DIR, safe_serialization=True)
    files = {"peft": PEFT_DIR}
    if base.gguf is not None:
        convert_peft_to_gguf(target / PEFT_DIR, json.loads((base.hf_dir() / "config.json").read_text()), target / GGUF_FILE)
        files["gguf_lora"] = GGUF_FILE
    return files


def exposure_dir(directory: Path, fraction: float) -> Path:
    """Where an adapter folder keeps its snapshot at `fraction` of the planned training tokens."""
    return directory / EXPOSURE_DIR / f"{round(fraction * 100)}"


def snapshot_saver(root: Path, base: Any) -> Callable[[float, Any], bool]:
    """The trainer's exposure hook: the LoRA weights as they are at a share of the budget, saved as an adapter.

    A snapshot that cannot be written (a full disk) is dropped, not fatal: it is a diagnostic, the
    training run is what matters; the manifest's metrics say which snapshots were kept.
    """

    def save(fraction: float, model: Any) -> bool:
        target = exposure_dir(root.parent, fraction)
        shutil.rmtree(target, ignore_errors=True)
        try:
            save_lora(model, target, base)
        except OSError:
            shutil.rmtree(target, ignore_errors=True)
            return False
        return True

    return save


def write_adapter(
    ws: Workspace,
    arm: str,
    staging: Path,
    model: Any,
    data: TrainingSet,
    data_path: Path,
    base: Any,
    settings: LoraSettings,
    metrics: TrainMetrics,
) -> AdapterManifest:
    """PEFT adapter, GGUF LoRA (when served by llama.cpp), training set and manifest, into `staging`."""
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    files = save_lora(model, staging, base)
    shutil.copyfile(data_path, staging / TRAINING_SET_FILE)
    files["training_set"] = TRAINING_SET_FILE
    if (data_path.parent / EXPOSURE_DIR).is_dir():  # the exposure curve's snapshots (finetuned arm)
        shutil.copytree(data_path.parent / EXPOSURE_DIR, staging / EXPOSURE_DIR)
        files["exposure"] = EXPOSURE_DIR
    manifest = AdapterManifest(
        arm=arm,
        base_model=base.model_id,
        corpus_version=data.corpus_version,
        data_hash=data.data_hash(),
        settings={**asdict(ws.config.training), "epochs_used": settings.epochs, "seed": settings.seed},
        metrics=asdict(metrics),
        coverage=data.coverage.summary(),
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        files=files,
        plan=dict(data.plan),
    )
    manifest.save(staging)  # written last: a folder with a manifest is complete
    return manifest
