"""A trained tiny workspace and a real llama.cpp server (`python -m llama_cpp.server`) serving its arms.

The server is started from the config `ragft engine-command llama-server` writes, on a free loopback
port, waited for until it lists its models, and always stopped (terminate, then kill).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from ragft.cli.engine import EnginePlan, engine_plan, write_engine_config
from ragft.corpus.store import IngestPlan
from ragft.models.testing import make_tiny_gguf, make_tiny_hf_model
from ragft.types import Document
from ragft.workspace import Workspace

DOCS = {
    "handbook.md": "Orrivale was founded in 2017 in Tampere by two engineers. The standard working week is 37.5 hours for "
    "everyone. Laptops are refreshed every 3 years by the IT desk.",
    "travel.md": "The hotel cap is 180 EUR per night in every city. Rail is preferred for journeys under 4 hours door to "
    "door. Claims must be filed within 30 calendar days of the trip.",
}
SETTINGS = {
    "embedder": "hashing",
    "threads": 1,
    "context_window_tokens": 1024,
    "context_budget_tokens": 150,
    "max_new_tokens": 6,
    "probes_per_kind": 1,
    "noise_probes": 2,
    "noise_ks": [1, 2],
    "injection_probes": 1,
    "recall_questions": 1,
    "bootstrap_samples": 20,
    "max_chunks": 4,
    "facts_per_chunk": 2,
    "paraphrases": 1,
    "epochs": 1,
    "raft_epochs": 1,
    "raft_examples": 2,
    "batch_size": 8,
    "lora_rank": 4,
    "lora_alpha": 8,
    "learning_rate": 0.05,  # large enough that a few steps move the tiny model's greedy answers
    "raft_learning_rate": 0.05,
    "refuse_ungrounded": False,  # the tiny model's gibberish is never grounded: keep its text to compare
    "max_length_tokens": 256,
}


def shared_trained_workspace(factory: pytest.TempPathFactory) -> Workspace:
    """`trained_workspace` made once per test session (its folder marked done last) and reused by every engine test module."""
    root = factory.getbasetemp() / "engine-trained"
    if not (root / "done").is_file():
        shutil.rmtree(root, ignore_errors=True)
        trained_workspace(root)
        (root / "done").touch()
    return Workspace.open(root / "ws")


@contextmanager
def serving_arms(trained: Workspace, root: Path) -> Iterator[tuple[Workspace, str]]:
    """A copy of `trained` at `root`, pointed at a running llama.cpp server that serves its arms; yields it and the server's URL."""
    plan = start_plan(trained)
    shutil.copytree(trained.root, root)
    with llama_server(plan, root.parent / f"{root.name}-server.log") as base_url:
        yield Workspace.open(root).with_settings(plan.settings), base_url


def trained_workspace(root: Path) -> Workspace:
    """A workspace on the tiny GGUF (inside its HF directory, so it can be trained) with both adapters trained."""
    from ragft.train import train_arm

    tiny = make_tiny_hf_model(root / "tiny")
    make_tiny_gguf(tiny, tiny / "tiny.gguf")
    ws = Workspace.init(root / "ws").with_settings({"generator": str(tiny / "tiny.gguf"), "generator_backend": "llama_cpp", **SETTINGS})
    ws.store.commit(IngestPlan(added=tuple(Document(k, k.removesuffix(".md").title(), v, k) for k, v in DOCS.items())))
    for adapter in ("finetuned", "hybrid"):
        train_arm(ws, adapter, say=lambda _: None)
    return ws


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def llama_server(plan: EnginePlan, log: Path, *, ready_within_s: float = 120.0) -> Iterator[str]:
    """Run the plan's llama.cpp server until the block ends; yields its base URL once it lists the plan's models."""
    write_engine_config(plan)
    with log.open("wb") as out:
        process = subprocess.Popen(plan.argv, stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_ready(process, plan, log, ready_within_s)
        yield plan.base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


def _wait_ready(process: subprocess.Popen[bytes], plan: EnginePlan, log: Path, within_s: float) -> None:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"llama_cpp.server exited with {process.returncode}: {log.read_text(errors='replace')[-2000:]}")
        try:
            listed = httpx.get(f"{plan.base_url}/models", timeout=2).json()
            if {m["id"] for m in listed["data"]} == set(plan.served):
                return
        except (httpx.HTTPError, ValueError, KeyError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"llama_cpp.server did not list its models within {within_s:g} s: {log.read_text(errors='replace')[-2000:]}")


def start_plan(ws: Workspace) -> EnginePlan:
    """The llama-server plan for `ws` on a free loopback port."""
    return engine_plan(ws, "llama-server", port=free_port())
