"""LoRA training for the fine-tuned and hybrid arms: data packing, the trainer, adapters, manifests."""

from ragft.train.arms import TrainResult, train_arm, training_progress
from ragft.train.manifest import (
           ARMS,
           AdapterError,
           AdapterManifest,
           AdapterStatus,
           adapter_dir,
           adapter_status,
)

__all__ = ["ARMS", "AdapterError", "AdapterManifest", "AdapterStatus", "TrainResult", "adapter_dir", "adapter_status",
           "train_arm", "training_progress"]  # fmt: skip
