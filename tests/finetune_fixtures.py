"""A tiny workspace with both adapters trained, shared by the trained-arm test modules (module-scoped `trained`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ragft.corpus.store import IngestPlan
from ragft.models.testing import make_tiny_gguf, make_tiny_hf_model
from ragft.train import train_arm
from ragft.types import Document
from ragft.workspace import Workspace

DOCS = {
    "handbook.md": "Orrivale was founded in 2017 in Tampere by two engineers. The standard working week is 37.5 hours for "
    "everyone. Laptops are refreshed every 3 years by the IT desk. Tidewatch is held at 14:00 on the first Wednesday.",
    "travel.md": "The hotel cap is 180 EUR per night in every city. Rail is preferred for journeys under 4 hours door to "
    "door. Claims must be filed within 30 calendar days of the trip.",
    "support.md": "Business hours are Monday to Friday from 08:00 to 17:00 in Tampere. Squall-1 incidents are answered "
    "within 15 minutes by the Lamplighter. The RMA rate of the F3 logger was 0.8% last year.",
}
TRAINING = """
[training]
max_chunks = 6
facts_per_chunk = 2
paraphrases = 3
epochs = 1
raft_epochs = 1
raft_examples = 6
batch_size = 8
lora_rank = 4
lora_alpha = 8
max_length_tokens = 384
"""


def tiny_workspace(root: Path, gguf: Path) -> Workspace:
    ws = Workspace.init(root)
    config = (root / "ragft.toml").read_text()
    config = config.replace('generator = "default"', f'generator = "{gguf}"').replace('embedder = "minilm"', 'embedder = "hashing"')
    config = config.replace("threads = 0", "threads = 1").replace("context_window_tokens = 4096", "context_window_tokens = 2048")
    config = config.replace("context_budget_tokens = 600", "context_budget_tokens = 150")
    head, _, _ = config.partition("[training]")
    (root / "ragft.toml").write_text(head + TRAINING)
    ws = Workspace.open(root)
    ws.store.commit(IngestPlan(added=tuple(Document(k, k.removesuffix(".md").title(), v, k) for k, v in DOCS.items())))
    return ws


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    root = tmp_path_factory.mktemp("arms")
    tiny = make_tiny_hf_model(root / "tiny")
    make_tiny_gguf(tiny, tiny / "tiny.gguf")  # the GGUF lives in its HF directory: training finds the weights there
    ws = tiny_workspace(root / "ws", tiny / "tiny.gguf")
    said: list[str] = []
    train_arm(ws, "finetuned", say=said.append)
    assert len(said) == 1 and said[0].startswith("Training plan (30 min budget") and "all 3/3 chunks" in said[0]  # said first
    train_arm(ws, "hybrid")
    return ws
