"""LoRA training for the fine-tuned and hybrid arms: data packing, the trainer, adapters, manifests."""

from ragft.train.arms import TrainResult, seed_adapter, train_arm, training_progress
from ragft.train.manifest import (
    ADAPTERS,
    AdapterError,
    AdapterManifest,
    AdapterStatus,
    adapter_dir,
    adapter_status,
)

__all__ = [
    "ADAPTERS",
    "AdapterError",
    "AdapterManifest",
    "AdapterStatus",
    "TrainResult",
    "adapter_dir",
    "adapter_status",
    "seed_adapter",
    "train_arm",
    "training_progress",
]
