"""Small LoRA settings and chat examples for the trainer's tests on a tiny model (shared by the device tests)."""

from __future__ import annotations

from ragft.prompts import build_messages
from ragft.train.data import ChatExample
from ragft.train.trainer import LoraSettings

SETTINGS = LoraSettings(rank=4, alpha=8, epochs=2, batch_size=3, checkpoint_every_steps=2, max_length_tokens=256, threads=1)
EXAMPLES = [ChatExample(build_messages(f"What does item {i} cost?"), f"Item {i} costs {i * 3} EUR.") for i in range(12)]
