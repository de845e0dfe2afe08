"""The trained arms end to end on a tiny model: train_arm -> adapter + manifest -> answers via llama.cpp."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

pytest.importorskip("peft")
pytest.importorskip("llama_cpp")

from ragft.arms import StaleAdapterWarning, build
from ragft.corpus.store import IngestPlan
from ragft.models.testing import make_tiny_gguf, make_tiny_hf_model
from ragft.train import AdapterError, adapter_dir, adapter_status, train_arm
from ragft.types import Document
from ragft.workspace import Workspace


def test_training_writes_a_peft_adapter_a_gguf_lora_and_a_manifest(trained: Workspace):
    directory = adapter_dir(trained, "finetuned")
    manifest = json.loads((directory / "manifest.json").read_text())
    assert manifest["corpus_version"] == 1 and manifest["base_model"].startswith("tiny.gguf@")
    assert len(manifest["data_hash"]) == 64 and manifest["settings"]["lora_rank"] == 4
    assert manifest["metrics"]["steps"] >= 1 and manifest["coverage"]["facts"] >= 3
    plan = manifest["plan"]  # what the budget covered, measured on this machine
    assert (
        plan["chunks_covered"] == plan["chunks_total"] == 3
        and plan["tokens_per_s"] > 0
        and plan["projected_all_s"] == plan["projected_s"] > 0
    )
    assert manifest["coverage"]["passages"] >= 6 and manifest["coverage"]["reverse_questions"] >= 1
    assert (directory / "peft" / "adapter_config.json").is_file() and (directory / "adapter.gguf").is_file()
    assert not directory.with_name(".finetuned.work").exists()  # checkpoints are cleaned up after success


def test_the_finetuned_arm_answers_closed_book_with_the_nearest_training_pairs(trained: Workspace):
    system = build(trained, "finetuned")
    answer = system.answer("How long is the standard working week?")
    assert system.name == "finetuned" and answer.trace["model"] == "tiny+finetuned"
    nearest = answer.trace["nearest_training_pairs"]
    assert nearest and nearest[0]["doc_id"] == "handbook.md" and "37.5 hours" in nearest[0]["answer"]
    assert not answer.citations  # closed-book: nothing to cite


def test_the_hybrid_arm_answers_through_the_rag_pipeline(trained: Workspace):
    system = build(trained, "hybrid")
    answer = system.answer("What is the hotel cap?")
    assert system.name == "hybrid" and answer.trace["model"] == "tiny+hybrid"
    assert answer.trace["hits"] and "Question: What is the hotel cap?" in answer.trace["messages"][-1]["content"]


def test_an_adapter_trained_on_an_older_corpus_version_is_reported_stale(trained: Workspace, tmp_path: Path):
    ws = Workspace.open(_copy(trained, tmp_path))
    ws.store.commit(IngestPlan(added=(Document("new.md", "New", "The new office opens in 2027 in Porto.", "new.md"),)))
    status = adapter_status(ws, "finetuned")
    assert status.stale and status.corpus_version == 1 and status.latest_version == 2
    with pytest.warns(StaleAdapterWarning, match="corpus version 1, but the latest is 2"):
        system = build(ws, "finetuned")
    assert system.adapter_info["stale"]


def test_an_adapter_for_another_base_model_is_refused(trained: Workspace, tmp_path: Path):
    ws_root = _copy(trained, tmp_path)
    other = make_tiny_hf_model(tmp_path / "other", seed=1)
    make_tiny_gguf(other, other / "other.gguf")
    config = (ws_root / "ragft.toml").read_text()
    old = Workspace.open(ws_root).config.models.generator
    (ws_root / "ragft.toml").write_text(config.replace(old, str(other / "other.gguf")))
    with pytest.raises(AdapterError, match=r"trained for base model tiny\.gguf@.*uses other\.gguf@.*ragft train --arm finetuned"):
        build(Workspace.open(ws_root), "finetuned")


def test_an_untrained_arm_is_a_clear_error(tmp_path: Path, trained: Workspace):
    ws = Workspace.open(_copy(trained, tmp_path))
    shutil.rmtree(adapter_dir(ws, "hybrid"))
    with pytest.raises(AdapterError, match=r"not trained yet: run `ragft train --arm hybrid`"):
        build(ws, "hybrid")
    with pytest.raises(AdapterError, match="nothing to resume"):
        train_arm(ws, "hybrid", resume=True)


def _copy(ws: Workspace, tmp_path: Path) -> Path:
    target = tmp_path / "copy"
    shutil.copytree(ws.root, target)
    return target


def test_a_full_disk_while_saving_the_adapter_keeps_the_old_one_and_resume_saves_it(
    trained: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    import errno

    from ragft.train import adapter_files

    ws = Workspace.open(_copy(trained, tmp_path))
    before = (adapter_dir(ws, "finetuned") / "manifest.json").read_text()

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(adapter_files, "convert_peft_to_gguf", disk_full)
    with pytest.raises(AdapterError, match=r"previous adapter is untouched.*--resume"):
        train_arm(ws, "finetuned")
    assert (adapter_dir(ws, "finetuned") / "manifest.json").read_text() == before
    assert build(ws, "finetuned").answer("What is the hotel cap?").text is not None
    monkeypatch.undo()
    result = train_arm(ws, "finetuned", resume=True)
    assert result.metrics.resumed_from_step == result.metrics.steps  # nothing retrained, only saved
    assert (adapter_dir(ws, "finetuned") / "adapter.gguf").is_file()


def test_the_cost_of_a_trained_arm_says_how_much_of_the_corpus_it_learned(trained: Workspace):
    import re

    from ragft.jobs import build_arms
    from ragft.systems.build import index_corpus

    _, costs = build_arms(trained, ["finetuned"], index_corpus(trained))
    assert re.fullmatch(r"trained on corpus v1: \d+ facts from \d+ of \d+ chunks", costs["finetuned"].note)
    assert costs["finetuned"].training_s > 0


def test_the_demo_trains_on_v1_focused_on_its_probes_and_reports_every_arm(tmp_path: Path):
    from ragft.jobs import DEMO_PROBES, run_demo
    from ragft.synth.types import TrainingSet

    tiny = make_tiny_hf_model(tmp_path / "tiny")
    make_tiny_gguf(tiny, tiny / "tiny.gguf")
    settings = {
        "generator": str(tiny / "tiny.gguf"),
        "embedder": "hashing",
        "threads": 1,
        "context_window_tokens": 2048,
        "context_budget_tokens": 150,
        "max_new_tokens": 6,
        "epochs": 1,
        "lora_rank": 4,
        "lora_alpha": 8,
        "max_length_tokens": 384,
        "probes_per_kind": 1,
        "noise_ks": [1],
        "noise_probes": 1,
        "bootstrap_samples": 50,
        "injection_probes": 1,
    }
    trained_on: list[tuple[str, int]] = []

    def train(ws: Workspace, arm: str, version: int) -> None:
        trained_on.append((arm, version))
        train_arm(ws, arm, version=version)

    result, report = run_demo(tmp_path / "demo", arms=["base", "rag", "finetuned"], train=train, settings=settings)
    assert trained_on == [("finetuned", 1)] and report.is_file()
    ws = Workspace.open(tmp_path / "demo")
    assert ws.store.latest_version() == 2 and ws.config.training.focus_questions.endswith(DEMO_PROBES)
    data = TrainingSet.load(adapter_dir(ws, "finetuned") / "training_set.json")
    assert data.corpus_version == 1
    asked = {d for p in result.probes if p.kind == "fact" for d in p.gold_doc_ids}
    assert asked & {f.doc_id for f in data.facts}, "the facts the probes ask about were trained"
    assert set(result.summaries) == {"base", "rag", "finetuned"} and result.freshness
    assert result.costs["finetuned"].note.endswith(f"first those holding the answers in .ragft/{DEMO_PROBES}")
